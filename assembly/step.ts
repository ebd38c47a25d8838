// Entry points: one training step, evaluation, gradient, prediction, raw-unit
// parameters. Each takes the model and a scratch block laid out as in
// util/layout.ts and returns a STATUS_* code; results go to the header or `out`.
import { checkResiduals, commitAnomalies, statisticsWithoutExcluded } from "./anomaly";
import {
  H_FLAGS, H_L2, H_LOSS, H_DELTA, H_LOSS_OUT, H_STEP, H_COUNT, FLAG_STANDARDIZE, FLAG_ANOMALY, H_ANOMALY_EXCLUDED,
  STATUS_OK, STATUS_DIVERGED,
  headerM, headerN, laneStride, thetaOffset, statsOffset, paramCount, round4,
  gradOffset, xtOffset, ytOffset, gtOffset, candOffset,
} from "./util/layout";
import { packInputs, packTargets, packOutputScale, commitStatistics, unpackPredictions, spread } from "./pack";
import { f32_forward__wasmsimd_4x8, f32_forward__scalar } from "./forward";
import { f32_loss_grad__wasmsimd, f32_loss_grad__scalar } from "./loss";
import { f32_weight_grad__wasmsimd_2x4, f32_weight_grad__scalar } from "./gradient";
import { f32_update__wasmsimd, f32_update__scalar } from "./optimizer";

/** The loss of the last forwardBackward call (per thread: each worker has its own instance). */
export let passLoss: f64 = 0;

/**
 * The core of every step: packs x and y, standardised with the statistics at
 * `stats` over `count` samples (first merging the batch into them if `merge`),
 * runs the forward pass and the loss, scaled by 1/(total·n), into passLoss,
 * and, if `grad` is not 0, ∂L/∂θ into `grad` (θ layout, l2·W added, pad
 * entries cleared: the SIMD update reads whole vectors).
 */
@inline export function forwardBackward(
  model: usize, x: usize, y: usize, batch: i32, total: i32, scratch: usize,
  stats: usize, count: f64, merge: bool, grad: usize, l2: f32, simd: bool,
): i32 {
  const m = headerM(model);
  const n = headerN(model);
  let status = packInputs(model, x, batch, scratch, stats, count, merge);
  if (status != STATUS_OK) return status;
  status = packTargets(model, y, batch, scratch, stats, count, merge);
  if (status != STATUS_OK) return status;
  const stride = laneStride(batch);
  const theta = model + thetaOffset();
  const xt = scratch + xtOffset(m, n);
  const yt = scratch + ytOffset(m, n, batch);
  const gt = scratch + gtOffset(m, n, batch);
  const gb = (grad != 0 ? grad : scratch + gradOffset(m, n)) + (<usize>(n * m) << 2);
  const kind = load<i32>(model + H_LOSS);
  const delta = load<f32>(model + H_DELTA);
  // a training step scores its residuals; excluded samples leave the mean
  const checked = merge && (load<i32>(model + H_FLAGS) & FLAG_ANOMALY) != 0;
  if (simd) {
    f32_forward__wasmsimd_4x8(theta, m, n, xt, gt, stride);
    const kept = checked ? checkResiduals(model, gt, yt, m, n, batch, stride, scratch) : total;
    if (checked && load<i32>(model + H_ANOMALY_EXCLUDED) > 0) statisticsWithoutExcluded(model, x, y, m, n, batch, scratch, stats, count, scratch + candOffset());
    passLoss = f32_loss_grad__wasmsimd(kind, delta, gt, yt, n, batch, kept, stride, gb);
    if (grad != 0) f32_weight_grad__wasmsimd_2x4(theta, m, n, xt, gt, stride, l2, grad);
  } else {
    f32_forward__scalar(theta, m, n, xt, gt, stride);
    const kept = checked ? checkResiduals(model, gt, yt, m, n, batch, stride, scratch) : total;
    if (checked && load<i32>(model + H_ANOMALY_EXCLUDED) > 0) statisticsWithoutExcluded(model, x, y, m, n, batch, scratch, stats, count, scratch + candOffset());
    passLoss = f32_loss_grad__scalar(kind, delta, gt, yt, n, batch, kept, stride, gb);
    if (grad != 0) f32_weight_grad__scalar(theta, m, n, xt, gt, stride, l2, grad);
  }
  if (grad != 0) {
    for (let i = paramCount(m, n); i < round4(paramCount(m, n)); i++) store<f32>(grad + (<usize>i << 2), 0);
  }
  return STATUS_OK;
}

/** forwardBackward on a whole batch with the model's own statistics; the loss to the header. */
@inline function lossAndGradient(model: usize, x: usize, y: usize, batch: i32, scratch: usize, merge: bool, withGradient: bool, simd: bool): i32 {
  const m = headerM(model);
  const n = headerN(model);
  const grad = withGradient ? scratch + gradOffset(m, n) : 0;
  const status = forwardBackward(
    model, x, y, batch, batch, scratch,
    model + statsOffset(m, n), load<f64>(model + H_COUNT), merge, grad, load<f32>(model + H_L2), simd,
  );
  if (status == STATUS_OK) store<f64>(model + H_LOSS_OUT, passLoss);
  return status;
}

@inline function train(model: usize, x: usize, y: usize, batch: i32, scratch: usize, simd: bool): i32 {
  const status = lossAndGradient(model, x, y, batch, scratch, true, true, simd);
  if (status != STATUS_OK) return status;
  if (!isFinite<f64>(load<f64>(model + H_LOSS_OUT))) return STATUS_DIVERGED;
  const tracked = (load<i32>(model + H_FLAGS) & FLAG_ANOMALY) != 0;
  const kept = tracked ? batch - load<i32>(model + H_ANOMALY_EXCLUDED) : batch;
  // a batch left out entirely teaches nothing: no update, no optimiser step (momentum
  // and L2 would still move θ), only the anomaly state learns from it
  if (kept > 0) {
    const grad = scratch + gradOffset(headerM(model), headerN(model));
    const applied = simd ? f32_update__wasmsimd(model, grad) : f32_update__scalar(model, grad);
    if (!applied) return STATUS_DIVERGED;
    // samples left out of the update are left out of the statistics' count too
    commitStatistics(model, scratch + candOffset(), kept);
    store<f64>(model + H_STEP, load<f64>(model + H_STEP) + 1);
  }
  if (tracked) commitAnomalies(model, headerM(model), headerN(model), batch, scratch);
  return STATUS_OK;
}

/** One training step on `batch` samples (x: batch×m, y: batch×n, row-major f32). */
export function f32_train__wasmsimd(model: usize, x: usize, y: usize, batch: i32, scratch: usize): i32 {
  return train(model, x, y, batch, scratch, true);
}

export function f32_train__scalar(model: usize, x: usize, y: usize, batch: i32, scratch: usize): i32 {
  return train(model, x, y, batch, scratch, false);
}

/** Loss without update or statistics change; loss to the header. */
export function f32_evaluate__wasmsimd(model: usize, x: usize, y: usize, batch: i32, scratch: usize): i32 {
  return lossAndGradient(model, x, y, batch, scratch, false, false, true);
}

export function f32_evaluate__scalar(model: usize, x: usize, y: usize, batch: i32, scratch: usize): i32 {
  return lossAndGradient(model, x, y, batch, scratch, false, false, false);
}

/** Loss and ∂L/∂θ (grad region of scratch, θ layout; L2 included) without update. */
export function f32_gradient__wasmsimd(model: usize, x: usize, y: usize, batch: i32, scratch: usize): i32 {
  return lossAndGradient(model, x, y, batch, scratch, false, true, true);
}

export function f32_gradient__scalar(model: usize, x: usize, y: usize, batch: i32, scratch: usize): i32 {
  return lossAndGradient(model, x, y, batch, scratch, false, true, false);
}

@inline function predict(model: usize, x: usize, batch: i32, scratch: usize, out: usize, simd: bool): i32 {
  const m = headerM(model);
  const n = headerN(model);
  const status = packInputs(model, x, batch, scratch, model + statsOffset(m, n), load<f64>(model + H_COUNT), false);
  if (status != STATUS_OK) return status;
  packOutputScale(model, scratch);
  const stride = laneStride(batch);
  const gt = scratch + gtOffset(m, n, batch);
  if (simd) f32_forward__wasmsimd_4x8(model + thetaOffset(), m, n, scratch + xtOffset(m, n), gt, stride);
  else f32_forward__scalar(model + thetaOffset(), m, n, scratch + xtOffset(m, n), gt, stride);
  unpackPredictions(model, scratch, batch, out);
  return STATUS_OK;
}

/** ŷ (batch×n, row-major, raw units) for x (batch×m) into `out`. */
export function f32_predict__wasmsimd(model: usize, x: usize, batch: i32, scratch: usize, out: usize): i32 {
  return predict(model, x, batch, scratch, out, true);
}

export function f32_predict__scalar(model: usize, x: usize, batch: i32, scratch: usize, out: usize): i32 {
  return predict(model, x, batch, scratch, out, false);
}

/**
 * W (n×m) and b (n) in raw units into `out` (P floats, θ layout). With
 * standardisation, ỹ = W̃x̃ + b̃ unfolds to W = σy·W̃/σx, b = μy + σy·(b̃ − Σ W̃·μx/σx).
 */
export function f32_raw_params(model: usize, out: usize): void {
  const m = headerM(model);
  const n = headerN(model);
  const theta = model + thetaOffset();
  if ((load<i32>(model + H_FLAGS) & FLAG_STANDARDIZE) == 0) {
    memory.copy(out, theta, <usize>paramCount(m, n) << 2);
    return;
  }
  const stats = model + statsOffset(m, n);
  const count = load<f64>(model + H_COUNT);
  const xm2 = stats + (<usize>m << 3);
  const ymean = stats + (<usize>m << 4);
  const ym2 = ymean + (<usize>n << 3);
  for (let j = 0; j < n; j++) {
    const sy = spread(load<f64>(ym2 + (<usize>j << 3)), count);
    let shift: f64 = 0;
    for (let k = 0; k < m; k++) {
      const at = <usize>(j * m + k) << 2;
      const w = <f64>load<f32>(theta + at) / spread(load<f64>(xm2 + (<usize>k << 3)), count);
      shift += w * load<f64>(stats + (<usize>k << 3));
      store<f32>(out + at, <f32>(sy * w));
    }
    const bAt = <usize>(n * m + j) << 2;
    store<f32>(out + bAt, <f32>(load<f64>(ymean + (<usize>j << 3)) + sy * (<f64>load<f32>(theta + bAt) - shift)));
  }
}

