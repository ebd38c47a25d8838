// Data-parallel training steps: a batch split into shards at fixed row
// boundaries. Each shard's moments and gradient can be computed anywhere, in
// any order; merging and reduction run shard by shard in index order, so the
// result depends on the shard boundaries only, never on who did which shard.
//
//   1. f32_shard_moments, per shard        (statistics are kept with or without standardisation)
//   2. f32_moments_merge, once             → candidate statistics
//   3. f32_shard_gradient__*, per shard    → loss share and partial ∂L/∂θ
//   4. f32_shard_apply__*, once            → Σ, L2, optimiser, statistics, step
import {
  H_L2, H_LOSS_OUT, H_STEP, H_COUNT, STATUS_OK, STATUS_DIVERGED,
  headerM, headerN, thetaOffset, paramCount, round4, gradOffset,
} from "./util/layout";
import { commitStatistics, batchMoments, mergeMoments } from "./pack";
import { forwardBackward, passLoss } from "./step";
import { f32_update__wasmsimd, f32_update__scalar } from "./optimizer";

/** Step 1: validates a shard (x: rows×m, y: rows×n) and writes its moments to `out` (momentsBytes). */
export function f32_shard_moments(model: usize, x: usize, y: usize, rows: i32, scratch: usize, out: usize): i32 {
  return batchMoments(model, x, y, rows, scratch, out);
}

/** Step 2: the model's statistics with every shard's moments merged in order, into `cand` (statistics layout). */
export function f32_moments_merge(model: usize, moments: usize, shards: i32, shardRows: i32, totalRows: i32, cand: usize): void {
  mergeMoments(model, moments, shards, shardRows, totalRows, cand);
}

@inline function shardGradient(
  model: usize, x: usize, y: usize, rows: i32, totalRows: i32, cand: usize, scratch: usize, out: usize, simd: bool,
): i32 {
  // standardised with the merged statistics of the whole step; L2 is added once, after the reduction
  const count = load<f64>(model + H_COUNT) + <f64>totalRows;
  const status = forwardBackward(model, x, y, rows, totalRows, scratch, cand, count, false, out + 16, 0, simd);
  if (status == STATUS_OK) store<f64>(out, passLoss);
  return status;
}

/**
 * Step 3: one shard's share of the loss and of ∂L/∂θ (scaled by the whole
 * step's totalRows, L2 not included) into `out` (shardGradBytes).
 */
export function f32_shard_gradient__wasmsimd(model: usize, x: usize, y: usize, rows: i32, totalRows: i32, cand: usize, scratch: usize, out: usize): i32 {
  return shardGradient(model, x, y, rows, totalRows, cand, scratch, out, true);
}

export function f32_shard_gradient__scalar(model: usize, x: usize, y: usize, rows: i32, totalRows: i32, cand: usize, scratch: usize, out: usize): i32 {
  return shardGradient(model, x, y, rows, totalRows, cand, scratch, out, false);
}

@inline function shardApply(model: usize, grads: usize, shards: i32, totalRows: i32, cand: usize, scratch: usize, simd: bool): i32 {
  const m = headerM(model);
  const n = headerN(model);
  const q = round4(paramCount(m, n));
  const stride = <usize>(16 + (q << 2));
  const grad = scratch + gradOffset(m, n);
  // reduce in shard order: grad = Σ shard gradients, loss = Σ shard shares
  memory.copy(grad, grads + 16, <usize>q << 2);
  let loss = load<f64>(grads);
  for (let i = 1; i < shards; i++) {
    const shard = grads + <usize>i * stride;
    loss += load<f64>(shard);
    for (let p: usize = 0, end = <usize>q << 2; p < end; p += 16) {
      v128.store(grad + p, f32x4.add(v128.load(grad + p), v128.load(shard + 16 + p)));
    }
  }
  store<f64>(model + H_LOSS_OUT, loss);
  if (!isFinite<f64>(loss)) return STATUS_DIVERGED;
  const l2 = load<f32>(model + H_L2);
  if (l2 != 0) {
    const theta = model + thetaOffset();
    for (let i = 0, nm = n * m; i < nm; i++) {
      const at = <usize>i << 2;
      store<f32>(grad + at, load<f32>(grad + at) + l2 * load<f32>(theta + at));
    }
  }
  const applied = simd ? f32_update__wasmsimd(model, grad) : f32_update__scalar(model, grad);
  if (!applied) return STATUS_DIVERGED;
  commitStatistics(model, cand, totalRows);
  store<f64>(model + H_STEP, load<f64>(model + H_STEP) + 1);
  return STATUS_OK;
}

/**
 * Step 4: sums the shards' outputs (`grads`: shards × shardGradBytes, in
 * order), adds L2, applies the optimiser (rolled back if anything would turn
 * non-finite), commits the candidate statistics and counts the step.
 */
export function f32_shard_apply__wasmsimd(model: usize, grads: usize, shards: i32, totalRows: i32, cand: usize, scratch: usize): i32 {
  return shardApply(model, grads, shards, totalRows, cand, scratch, true);
}

export function f32_shard_apply__scalar(model: usize, grads: usize, shards: i32, totalRows: i32, cand: usize, scratch: usize): i32 {
  return shardApply(model, grads, shards, totalRows, cand, scratch, false);
}
