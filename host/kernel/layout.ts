// Host mirror of assembly/util/layout.ts: header fields and enum values of the
// model block. docs/ABI.md documents the same table; region sizes come from the
// module's own model_bytes/scratch_bytes exports. No runtime built-ins: this file
// is part of the runtime-neutral kernel loader (gradline/kernel).

/** The ABI this host is written for; the module's abi_version() must return it. */
export const ABI_VERSION = 3;

export const Header = {
  m: 0, // i32
  n: 4, // i32
  loss: 8, // i32 LossKind
  optimizer: 12, // i32 OptimizerKind
  flags: 16, // i32 Flags
  lr: 20, // f32
  l2: 24, // f32
  delta: 28, // f32
  beta1: 32, // f32
  beta2: 36, // f32
  eps: 40, // f32
  badIndex: 44, // i32, out
  step: 48, // f64
  count: 56, // f64
  lossOut: 64, // f64, out
  version: 72, // f64, host-owned
  anomalyOut: 80, // i32 in: record buffer of a train call
  anomalyCap: 84, // i32 in: records that fit
  anomalyCount: 88, // i32 out: anomalies found
  anomalyExcluded: 92, // i32 out: samples left out of the update
  anomalyResidual: 96, // f32
  anomalyMargin: 100, // f32
  anomalyStuck: 104, // f32
  anomalyWarmup: 108, // f32
  bytes: 128,
} as const;

export const LossKind = { mse: 0, huber: 1 } as const;
export const OptimizerKind = { sgd: 0, momentum: 1, adam: 2 } as const;
export const Flags = { standardize: 1, nesterov: 2, anomaly: 4, exclude: 8 } as const;

/** Anomaly record: i32 sample, i32 field, i32 kind, f32 score. */
export const ANOMALY_RECORD_BYTES = 16;
export const AnomalyKind = { 1: "residual", 2: "range", 3: "stuck" } as const;

/** Records a batch of `rows` has room for: every sample once, and some to spare. */
export const recordCapacity = (rows: number): number => rows + 64;

/** f64 values of the anomaly state: min, max, last, run per input; residual mean, m2 per output; seen; residual count; flag rate; a zero pad. */
export const anomalyStateLength = (m: number, n: number): number => 4 * m + 2 * n + 4;

export const Status = { ok: 0, nonFiniteX: 1, nonFiniteY: 2, diverged: 3 } as const;

/** Number of parameters: W (n×m) then b (n). */
export function paramCount(m: number, n: number): number {
  return n * m + n;
}

/** Byte offsets of the model's regions (θ, s1, s2, statistics) from the model pointer. */
export function regions(m: number, n: number): { theta: number; s1: number; s2: number; stats: number; anomaly: number; host: number } {
  const q = (paramCount(m, n) + 3) & ~3;
  const stats = Header.bytes + 12 * q;
  const anomaly = stats + 16 * (m + n);
  return { theta: Header.bytes, s1: Header.bytes + 4 * q, s2: Header.bytes + 8 * q, stats, anomaly, host: anomaly + 8 * anomalyStateLength(m, n) };
}

/** Bytes of the host region at the end of a model block (the drift detector's). */
export const HOST_REGION_BYTES = 128;

/** Bytes of one model block, computed in doubles (the module's model_bytes is 32-bit). */
export function modelBlockBytes(m: number, n: number): number {
  return regions(m, n).host + HOST_REGION_BYTES;
}

/** Every allocation is aligned to a cache line, which also satisfies the kernels' 16-byte rule. */
export const ALIGN = 64;

/** `bytes` rounded up to a multiple of ALIGN. */
export const alignUp = (bytes: number): number => Math.ceil(bytes / ALIGN) * ALIGN;

/** A model block's configuration, in the header's own terms (docs/ABI.md, "Header"). */
export interface ModelHeader {
  m: number;
  n: number;
  loss: keyof typeof LossKind;
  optimizer: keyof typeof OptimizerKind;
  /** Sum of Flags bits. */
  flags: number;
  lr: number;
  /** Default 0 for each of the rest. */
  l2?: number;
  delta?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  anomalyResidual?: number;
  anomalyMargin?: number;
  anomalyStuck?: number;
  anomalyWarmup?: number;
}

/** Writes the host-config fields of the header at `block`; counters, θ and the state are left as they are. */
export function writeHeader(view: DataView, block: number, h: ModelHeader): void {
  view.setInt32(block + Header.m, h.m, true);
  view.setInt32(block + Header.n, h.n, true);
  view.setInt32(block + Header.loss, LossKind[h.loss], true);
  view.setInt32(block + Header.optimizer, OptimizerKind[h.optimizer], true);
  view.setInt32(block + Header.flags, h.flags, true);
  view.setFloat32(block + Header.lr, h.lr, true);
  view.setFloat32(block + Header.l2, h.l2 ?? 0, true);
  view.setFloat32(block + Header.delta, h.delta ?? 0, true);
  view.setFloat32(block + Header.beta1, h.beta1 ?? 0, true);
  view.setFloat32(block + Header.beta2, h.beta2 ?? 0, true);
  view.setFloat32(block + Header.eps, h.eps ?? 0, true);
  view.setFloat32(block + Header.anomalyResidual, h.anomalyResidual ?? 0, true);
  view.setFloat32(block + Header.anomalyMargin, h.anomalyMargin ?? 0, true);
  view.setFloat32(block + Header.anomalyStuck, h.anomalyStuck ?? 0, true);
  view.setFloat32(block + Header.anomalyWarmup, h.anomalyWarmup ?? 0, true);
}

/** Setpoint search: `converged` means the KKT residual (result slot 3) is at most this (assembly/util/layout.ts SP_OPTIMALITY). */
export const SETPOINT_OPTIMALITY = 1e-10;

/** Vectors of a setpoint workspace, the `which` of setpoint_offset(m, n, which) (docs/ABI.md, "Setpoint search"). */
export const SetpointSlot = { b: 0, target: 1, weight: 2, ax: 3, lo: 8, hi: 9, x0: 10, x: 11, result: 17 } as const;
/** The f64 values of the result vector. */
export const SetpointResultField = { objective: 0, iterations: 1, lastMove: 2, optimality: 3 } as const;
