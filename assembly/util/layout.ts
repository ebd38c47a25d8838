// Memory layout shared by every kernel. The host lays these regions out in
// linear memory; docs/ABI.md describes the same layout for other runtimes.
//
// Model block (at `model`, 16-byte aligned), P = n·m + n, Q = P rounded up to 4:
//
//   ┌──────────────────────────────┐ model + 0
//   │ header, 128 bytes (H_* below) │
//   ├──────────────────────────────┤ model + 128            (OFF_THETA)
//   │ θ   f32[Q]: W (n×m row-major), b[n], zero pad       │
//   ├──────────────────────────────┤ model + 128 + 4Q       (s1Offset)
//   │ s1  f32[Q]: momentum velocity / Adam first moment    │
//   ├──────────────────────────────┤ model + 128 + 8Q       (s2Offset)
//   │ s2  f32[Q]: Adam second moment                       │
//   ├──────────────────────────────┤ model + 128 + 12Q      (statsOffset)
//   │ f64 mean_x[m], m2_x[m], mean_y[n], m2_y[n] (Welford) │
//   ├──────────────────────────────┤ model + anomalyOffset(m, n)
//   │ f64 min[m], max[m], last[m], run[m], rmean[n], rm2[n], seen, rcount, frate, 0 │
//   ├──────────────────────────────┤ model + hostRegionOffset(m, n)
//   │ host region, 128 bytes: the drift detector (kernels never touch it) │
//   └──────────────────────────────┘ model + modelBytes(m, n)
//
// Scratch block (at `scratch`, 16-byte aligned) for a batch of B samples,
// S = B rounded up to 4, plus 4 more when that stride is a multiple of 64
// floats (so rows do not alias one cache set):
//
//   ┌──────────────────────────────┐ scratch + 0
//   │ cand f64[2(m+n)]: candidate statistics with this batch merged │
//   │ xs   f32[M4]: input means    │ xd f32[M4]: input σ          │
//   │ ys   f32[N4]: output means   │ yd f32[N4]: output σ         │
//   │ grad f32[Q]:  ∂L/∂θ, same layout as θ                        │
//   │ xt   f32[m·S]: standardised inputs, one row per input, samples in lanes │
//   │ yt   f32[n·S]: standardised targets, same shape              │
//   │ gt   f32[n·S]: predictions, then ∂L/∂ŷ                       │
//   │ anomaly candidate (anomaly layout) │ flagged u8[S] (rounded to 16) │
//   └──────────────────────────────┘ scratch + scratchBytes(m, n, B)

// ABI version: raised whenever an export, a layout offset or a documented
// semantic changes, so a host built for another layout refuses the module
// instead of misreading it (docs/ABI.md, "Versions").
export const ABI_VERSION: i32 = 3;

// Header fields (byte offsets from the model pointer).
export const H_M: usize = 0; // i32 inputs
export const H_N: usize = 4; // i32 outputs
export const H_LOSS: usize = 8; // i32 LOSS_*
export const H_OPTIMIZER: usize = 12; // i32 OPT_*
export const H_FLAGS: usize = 16; // i32 FLAG_* bits
export const H_LR: usize = 20; // f32 learning rate
export const H_L2: usize = 24; // f32 L2 weight decay on W
export const H_DELTA: usize = 28; // f32 Huber delta
export const H_BETA1: usize = 32; // f32 momentum coefficient, or Adam β1
export const H_BETA2: usize = 36; // f32 Adam β2
export const H_EPS: usize = 40; // f32 Adam ε
export const H_BAD_INDEX: usize = 44; // i32 out: first non-finite element of the rejected array
export const H_STEP: usize = 48; // f64 optimiser steps taken
export const H_COUNT: usize = 56; // f64 samples merged into the statistics
export const H_LOSS_OUT: usize = 64; // f64 out: loss of the last train/evaluate/gradient call
export const H_VERSION: usize = 72; // f64 owned by the host: parameter version (kernels never touch it)
// anomaly tracking (FLAG_ANOMALY), see assembly/anomaly.ts
export const H_ANOMALY_OUT: usize = 80; // i32 in: where a train call writes its anomaly records (16 bytes each)
export const H_ANOMALY_CAP: usize = 84; // i32 in: records that fit there
export const H_ANOMALY_COUNT: usize = 88; // i32 out: anomalies found (only the first CAP are written)
export const H_ANOMALY_EXCLUDED: usize = 92; // i32 out: samples left out of the update
export const H_A_RESIDUAL: usize = 96; // f32: |standardised residual| above this is an outlier
export const H_A_MARGIN: usize = 100; // f32: readings beyond the running range by more than this fraction of it are out of range
export const H_A_STUCK: usize = 104; // f32: identical readings in a row that make a stuck sensor
export const H_A_WARMUP: usize = 108; // f32: samples seen before anything is flagged
export const HEADER_BYTES: usize = 128;

export const LOSS_MSE: i32 = 0;
export const LOSS_HUBER: i32 = 1;

export const OPT_SGD: i32 = 0;
export const OPT_MOMENTUM: i32 = 1;
export const OPT_ADAM: i32 = 2;

export const FLAG_STANDARDIZE: i32 = 1;
export const FLAG_NESTEROV: i32 = 2;
export const FLAG_ANOMALY: i32 = 4;
export const FLAG_EXCLUDE: i32 = 8;

export const ANOMALY_RESIDUAL: i32 = 1;
export const ANOMALY_RANGE: i32 = 2;
export const ANOMALY_STUCK: i32 = 3;

// Status codes returned by every entry point.
export const STATUS_OK: i32 = 0;
export const STATUS_NONFINITE_X: i32 = 1;
export const STATUS_NONFINITE_Y: i32 = 2;
export const STATUS_DIVERGED: i32 = 3;

@inline export function round4(k: i32): i32 {
  return (k + 3) & ~3;
}

@inline export function headerM(model: usize): i32 {
  return load<i32>(model + H_M);
}

@inline export function headerN(model: usize): i32 {
  return load<i32>(model + H_N);
}

@inline export function paramCount(m: i32, n: i32): i32 {
  return n * m + n;
}

@inline export function thetaOffset(): usize {
  return HEADER_BYTES;
}

@inline export function s1Offset(m: i32, n: i32): usize {
  return HEADER_BYTES + (<usize>round4(paramCount(m, n)) << 2);
}

@inline export function s2Offset(m: i32, n: i32): usize {
  return HEADER_BYTES + (<usize>round4(paramCount(m, n)) << 3);
}

@inline export function statsOffset(m: i32, n: i32): usize {
  return HEADER_BYTES + <usize>round4(paramCount(m, n)) * 12;
}

/**
 * Anomaly state: f64 min[m], max[m], last[m], run[m], residual mean[n], residual m2[n],
 * seen, residual count, flag rate, then one zero pad (the host region stays 16-byte aligned).
 */
@inline export function anomalyOffset(m: i32, n: i32): usize {
  return statsOffset(m, n) + (<usize>(m + n) << 4);
}

export function anomalyBytes(m: i32, n: i32): usize {
  return <usize>(4 * m + 2 * n + 4) << 3;
}

/** 128 bytes the host owns (the drift detector's options and state); kernels never touch them. */
export const HOST_REGION_BYTES: usize = 128;

@inline export function hostRegionOffset(m: i32, n: i32): usize {
  return anomalyOffset(m, n) + anomalyBytes(m, n);
}

export function modelBytes(m: i32, n: i32): usize {
  return hostRegionOffset(m, n) + HOST_REGION_BYTES;
}

/** Floats between consecutive rows of xt, yt and gt. */
@inline export function laneStride(batch: i32): i32 {
  const s = round4(batch);
  return (s & 63) == 0 ? s + 4 : s;
}

@inline export function candOffset(): usize {
  return 0;
}

@inline export function xMeanOffset(m: i32, n: i32): usize {
  return <usize>(m + n) << 4;
}

@inline export function xStdOffset(m: i32, n: i32): usize {
  return xMeanOffset(m, n) + (<usize>round4(m) << 2);
}

@inline export function yMeanOffset(m: i32, n: i32): usize {
  return xStdOffset(m, n) + (<usize>round4(m) << 2);
}

@inline export function yStdOffset(m: i32, n: i32): usize {
  return yMeanOffset(m, n) + (<usize>round4(n) << 2);
}

@inline export function gradOffset(m: i32, n: i32): usize {
  return yStdOffset(m, n) + (<usize>round4(n) << 2);
}

@inline export function xtOffset(m: i32, n: i32): usize {
  return gradOffset(m, n) + (<usize>round4(paramCount(m, n)) << 2);
}

@inline export function ytOffset(m: i32, n: i32, batch: i32): usize {
  return xtOffset(m, n) + (<usize>(m * laneStride(batch)) << 2);
}

@inline export function gtOffset(m: i32, n: i32, batch: i32): usize {
  return ytOffset(m, n, batch) + (<usize>(n * laneStride(batch)) << 2);
}

/** Byte offset of the gradient (θ layout) inside the scratch block. */
export function scratchGradOffset(m: i32, n: i32): usize {
  return gradOffset(m, n);
}

/** Candidate anomaly state (anomaly layout), committed with the step. */
@inline export function anomalyCandOffset(m: i32, n: i32, batch: i32): usize {
  return gtOffset(m, n, batch) + (<usize>(n * laneStride(batch)) << 2);
}

/** u8[S]: 1 for a sample flagged in this step; padded to 16 bytes so scratch_bytes stays a multiple of 16. */
@inline export function flaggedOffset(m: i32, n: i32, batch: i32): usize {
  return anomalyCandOffset(m, n, batch) + anomalyBytes(m, n);
}

export function scratchBytes(m: i32, n: i32, batch: i32): usize {
  return flaggedOffset(m, n, batch) + <usize>((laneStride(batch) + 15) & ~15);
}

// Data-parallel steps (assembly/shard.ts): per-shard outputs.
//   moments: f64 mean_x[m], m2_x[m], mean_y[n], m2_y[n]      momentsBytes(m, n)
//   gradient: f64 loss share, 8 bytes pad, f32 grad[Q] (θ layout)   shardGradBytes(m, n)

export function momentsBytes(m: i32, n: i32): usize {
  return <usize>(m + n) << 4;
}

export function shardGradBytes(m: i32, n: i32): usize {
  return 16 + (<usize>round4(paramCount(m, n)) << 2);
}

// Setpoint search (assembly/setpoint.ts): a workspace at `ws`, 16-byte aligned,
// every vector padded to an even count of f64 (N2 = n rounded up to 2, M2 likewise):
//
//   ┌──────────────────────────────┐ ws + 0
//   │ W f64[n·m]: raw-unit weights  │ (even: n·m padded to 2)
//   │ f64[N2] each: b, target, weight, Ax, Ax prev, Ax new, Ay, r    (SP_B … SP_R)
//   │ f64[M2] each: lo, hi, x0, x, x prev, y, g, s, x new           (SP_LO … SP_X_NEW)
//   │ result f64[4]: objective, iterations, last move, optimality   (SP_RESULT)
//   │ raw f32[n·m + n]: f32_raw_params' output                       │
//   └──────────────────────────────┘ ws + setpointBytes(m, n)
// The host writes target, weight, lo, hi, x0 and x (the start, inside [lo, hi]).
export const SP_B: i32 = 0;
export const SP_TARGET: i32 = 1;
export const SP_WEIGHT: i32 = 2;
export const SP_AX: i32 = 3;
export const SP_AX_PREV: i32 = 4;
export const SP_AX_NEW: i32 = 5;
export const SP_AY: i32 = 6;
export const SP_R: i32 = 7;
export const SP_LO: i32 = 8;
export const SP_HI: i32 = 9;
export const SP_X0: i32 = 10;
export const SP_X: i32 = 11;
export const SP_X_PREV: i32 = 12;
export const SP_Y: i32 = 13;
export const SP_G: i32 = 14;
export const SP_S: i32 = 15;
export const SP_X_NEW: i32 = 16;
export const SP_RESULT: i32 = 17;
const SP_N_VECTORS: i32 = 8;

@inline function round2(k: i32): i32 {
  return (k + 1) & ~1;
}

@inline export function spWOffset(ws: usize): usize {
  return ws;
}

/** Address of vector `which` (SP_*) in the workspace at `ws`. */
export function spVectorOffset(ws: usize, m: i32, n: i32, which: i32): usize {
  const base = ws + (<usize>round2(n * m) << 3);
  if (which < SP_N_VECTORS) return base + (<usize>(which * round2(n)) << 3);
  const mBase = base + (<usize>(SP_N_VECTORS * round2(n)) << 3);
  return mBase + (<usize>((which - SP_N_VECTORS) * round2(m)) << 3);
}

export function spRawOffset(ws: usize, m: i32, n: i32): usize {
  return spVectorOffset(ws, m, n, SP_RESULT) + 32;
}

export function setpointBytes(m: i32, n: i32): usize {
  return spRawOffset(0, m, n) + (<usize>round4(paramCount(m, n)) << 2);
}

/** `converged`: the KKT residual (result slot 3, relative to the terms each gradient sums) is at most this. */
export const SP_OPTIMALITY: f64 = 1e-10;

// The active-set ("newton") solver's extra workspace, after the common one:
//   ┌──────────────────────────────┐ ws + round16(setpointBytes(m, n))
//   │ f64[m·m] each: R, R₂, Q, M    │ triangular factors and the free columns' QR
//   │ f64[M2] each: z, z₂, row, candidate, residual, column scale, e, h, best
//   │ i32[M4] each: state, columns, blocked
//   └──────────────────────────────┘ ws + setpointNewtonBytes(m, n)
export function spNewtonOffset(ws: usize, m: i32, n: i32): usize {
  return ws + ((setpointBytes(m, n) + 15) & ~15);
}

export function setpointNewtonBytes(m: i32, n: i32): usize {
  return spNewtonOffset(0, m, n) + (<usize>(m * m) << 5) + (<usize>(9 * round2(m)) << 3) + (<usize>(3 * round4(m)) << 2);
}

/** Byte offset of vector `which` (SP_*) from the workspace start: for hosts. */
export function setpointOffset(m: i32, n: i32, which: i32): usize {
  return spVectorOffset(0, m, n, which);
}
