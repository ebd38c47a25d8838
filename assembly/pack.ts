// Batch packing: validate, transpose to samples-in-lanes, merge running
// statistics (Welford/Chan in f64), standardise. Shared by every kernel variant.
import { beginAnomalies, checkInputRow, endInputs } from "./anomaly";
import {
  H_BAD_INDEX, H_COUNT, H_FLAGS, FLAG_STANDARDIZE, FLAG_ANOMALY,
  STATUS_OK, STATUS_NONFINITE_X, STATUS_NONFINITE_Y,
  headerM, headerN, laneStride, statsOffset,
  candOffset, xMeanOffset, xStdOffset, yMeanOffset, yStdOffset, xtOffset, ytOffset, gtOffset,
} from "./util/layout";
import { poison, clean } from "./util/simd";

/** Index of the first NaN or ±Inf among f32[len] at `ptr`, or -1. No alignment needed. Only run on a batch already known to be bad. */
export function firstNonFinite(ptr: usize, len: i32): i32 {
  let i = 0;
  // vector loop: v − v is 0 in finite lanes and NaN otherwise
  for (; i + 4 <= len; i += 4) {
    const v = v128.load(ptr + (<usize>i << 2));
    const d = f32x4.sub(v, v);
    if (v128.any_true(f32x4.ne(d, d))) break;
  }
  // scalar tail, which also pinpoints the lane of a failing vector
  for (; i < len; i++) {
    if (!isFinite<f32>(load<f32>(ptr + (<usize>i << 2)))) return i;
  }
  return -1;
}

/**
 * dst[c·stride + r] = src[r·cols + c] for r < rows; lanes rows..stride of every
 * dst row are zeroed. src is row-major rows×cols; no alignment needed. Returns
 * false if any value was NaN or ±Inf (checked on the way, saving a pass).
 */
function transpose(src: usize, rows: i32, cols: i32, dst: usize, stride: i32): bool {
  const rowBytes = <usize>cols << 2;
  const dstRowBytes = <usize>stride << 2;
  let bad = f32x4.splat(0);
  let badTail: f32 = 0;
  let r = 0;
  // 4×4 tiles: four source rows become four destination vectors
  for (; r + 4 <= rows; r += 4) {
    const s0 = src + <usize>r * rowBytes;
    const d0 = dst + (<usize>r << 2);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const p = s0 + (<usize>c << 2);
      const a = v128.load(p);
      const b = v128.load(p + rowBytes);
      const e = v128.load(p + 2 * rowBytes);
      const f = v128.load(p + 3 * rowBytes);
      bad = poison(poison(bad, a), poison(b, poison(e, f)));
      const t0 = f32x4.shuffle(a, b, 0, 4, 1, 5);
      const t1 = f32x4.shuffle(e, f, 0, 4, 1, 5);
      const t2 = f32x4.shuffle(a, b, 2, 6, 3, 7);
      const t3 = f32x4.shuffle(e, f, 2, 6, 3, 7);
      const q = d0 + <usize>c * dstRowBytes;
      v128.store(q, f32x4.shuffle(t0, t1, 0, 1, 4, 5));
      v128.store(q + dstRowBytes, f32x4.shuffle(t0, t1, 2, 3, 6, 7));
      v128.store(q + 2 * dstRowBytes, f32x4.shuffle(t2, t3, 0, 1, 4, 5));
      v128.store(q + 3 * dstRowBytes, f32x4.shuffle(t2, t3, 2, 3, 6, 7));
    }
    // column tail
    for (; c < cols; c++) {
      for (let k = 0; k < 4; k++) {
        const v = load<f32>(s0 + <usize>k * rowBytes + (<usize>c << 2));
        badTail += v * 0;
        store<f32>(d0 + <usize>c * dstRowBytes + (<usize>k << 2), v);
      }
    }
  }
  // row tail
  for (; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = load<f32>(src + <usize>r * rowBytes + (<usize>c << 2));
      badTail += v * 0;
      store<f32>(dst + <usize>c * dstRowBytes + (<usize>r << 2), v);
    }
  }
  // zero pad lanes so that 0 · pad stays 0 in the gradient
  for (let c = 0; c < cols; c++) {
    for (let p = rows; p < stride; p++) store<f32>(dst + <usize>c * dstRowBytes + (<usize>p << 2), 0);
  }
  return clean(bad) && badTail == 0;
}

// rowMoments' results (one instance per thread, so never shared)
let momentMean: f64 = 0;
let momentM2: f64 = 0;
let momentMin: f32 = 0;
let momentMax: f32 = 0;

/**
 * Mean and sum of squared deviations of f32[batch] at `row`, two-pass in f64,
 * into momentMean/momentM2. `row` 16-byte aligned (an xt/yt row).
 */
function rowMoments(row: usize, batch: i32): void {
  const whole = batch & ~3;
  // vector loop: each f32x4 widens to two f64x2 accumulators
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  // the extremes ride along (anomaly checks read them); pmin/pmax are one instruction, the values finite
  let vmin = f32x4.splat(Infinity);
  let vmax = f32x4.splat(-Infinity);
  for (let s = 0; s < whole; s += 4) {
    const v = v128.load(row + (<usize>s << 2));
    s0 = f64x2.add(s0, f64x2.promote_low_f32x4(v));
    s1 = f64x2.add(s1, f64x2.promote_low_f32x4(f32x4.shuffle(v, v, 2, 3, 0, 1)));
    vmin = f32x4.pmin(vmin, v);
    vmax = f32x4.pmax(vmax, v);
  }
  let sum = (f64x2.extract_lane(s0, 0) + f64x2.extract_lane(s1, 0)) + (f64x2.extract_lane(s0, 1) + f64x2.extract_lane(s1, 1));
  let lo = Mathf.min(Mathf.min(f32x4.extract_lane(vmin, 0), f32x4.extract_lane(vmin, 1)), Mathf.min(f32x4.extract_lane(vmin, 2), f32x4.extract_lane(vmin, 3)));
  let hi = Mathf.max(Mathf.max(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)), Mathf.max(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)));
  // scalar tail
  for (let s = whole; s < batch; s++) {
    const v = load<f32>(row + (<usize>s << 2));
    sum += <f64>v;
    lo = Mathf.min(lo, v);
    hi = Mathf.max(hi, v);
  }
  momentMin = lo;
  momentMax = hi;
  const mean = sum / <f64>batch;
  const vmean = f64x2.splat(mean);
  let q0 = f64x2.splat(0);
  let q1 = f64x2.splat(0);
  for (let s = 0; s < whole; s += 4) {
    const v = v128.load(row + (<usize>s << 2));
    const d0 = f64x2.sub(f64x2.promote_low_f32x4(v), vmean);
    const d1 = f64x2.sub(f64x2.promote_low_f32x4(f32x4.shuffle(v, v, 2, 3, 0, 1)), vmean);
    q0 = f64x2.add(q0, f64x2.mul(d0, d0));
    q1 = f64x2.add(q1, f64x2.mul(d1, d1));
  }
  let m2 = (f64x2.extract_lane(q0, 0) + f64x2.extract_lane(q1, 0)) + (f64x2.extract_lane(q0, 1) + f64x2.extract_lane(q1, 1));
  for (let s = whole; s < batch; s++) {
    const d = <f64>load<f32>(row + (<usize>s << 2)) - mean;
    m2 += d * d;
  }
  momentMean = mean;
  momentM2 = m2;
}

/**
 * Validates and transposes x and y into scratch, then writes their per-feature
 * moments to `out` (f64 mean_x[m], m2_x[m], mean_y[n], m2_y[n]): one shard's
 * share of a data-parallel step's statistics.
 */
export function batchMoments(model: usize, x: usize, y: usize, batch: i32, scratch: usize, out: usize): i32 {
  const m = headerM(model);
  const n = headerN(model);
  const stride = laneStride(batch);
  const xt = scratch + xtOffset(m, n);
  const yt = scratch + ytOffset(m, n, batch);
  if (!transpose(x, batch, m, xt, stride)) {
    store<i32>(model + H_BAD_INDEX, firstNonFinite(x, batch * m));
    return STATUS_NONFINITE_X;
  }
  if (!transpose(y, batch, n, yt, stride)) {
    store<i32>(model + H_BAD_INDEX, firstNonFinite(y, batch * n));
    return STATUS_NONFINITE_Y;
  }
  for (let k = 0; k < m; k++) {
    rowMoments(xt + (<usize>(k * stride) << 2), batch);
    store<f64>(out + (<usize>k << 3), momentMean);
    store<f64>(out + (<usize>(m + k) << 3), momentM2);
  }
  const yOut = out + (<usize>m << 4);
  for (let j = 0; j < n; j++) {
    rowMoments(yt + (<usize>(j * stride) << 2), batch);
    store<f64>(yOut + (<usize>j << 3), momentMean);
    store<f64>(yOut + (<usize>(n + j) << 3), momentM2);
  }
  return STATUS_OK;
}

/**
 * Chan's merge of shard moments into the model's statistics, shard by shard in
 * order (so the result does not depend on who computed which shard), into
 * `cand` (model statistics layout). Shard i holds `shardRows` rows, the last
 * one the rest of `totalRows`.
 */
export function mergeMoments(model: usize, moments: usize, shards: i32, shardRows: i32, totalRows: i32, cand: usize): void {
  const m = headerM(model);
  const n = headerN(model);
  const features = m + n;
  const bytes = <usize>features << 4;
  memory.copy(cand, model + statsOffset(m, n), bytes);
  let count = load<f64>(model + H_COUNT);
  for (let i = 0; i < shards; i++) {
    const nb = <f64>(i == shards - 1 ? totalRows - shardRows * (shards - 1) : shardRows);
    const total = count + nb;
    const shard = moments + <usize>i * bytes;
    // x then y, each as mean[rows] then m2[rows]
    for (let part = 0; part < 2; part++) {
      const rows = part == 0 ? m : n;
      const base: usize = part == 0 ? 0 : <usize>m << 4;
      for (let k = 0; k < rows; k++) {
        const meanAt = base + (<usize>k << 3);
        const m2At = base + (<usize>(rows + k) << 3);
        const mean = load<f64>(cand + meanAt);
        const delta = load<f64>(shard + meanAt) - mean;
        store<f64>(cand + meanAt, mean + delta * nb / total);
        store<f64>(cand + m2At, load<f64>(cand + m2At) + load<f64>(shard + m2At) + delta * delta * count * nb / total);
      }
    }
    count = total;
  }
}

/**
 * σ from M2 over `count` samples, or 1 when there is no spread to divide by:
 * no samples, zero variance, or a σ that f32 cannot hold as a normal number
 * (1/σ would overflow).
 */
@inline export function spread(m2: f64, count: f64): f64 {
  if (!(count > 0 && m2 > 0)) return 1.0;
  const sigma = Math.sqrt(m2 / count);
  const narrow = <f32>sigma;
  return narrow >= 1.1754943508222875e-38 && isFinite<f32>(narrow) ? sigma : 1.0;
}

/**
 * For each of `rows` feature rows of `t` (`batch` samples in lanes): merge the
 * batch into the running mean/M2 at `stat` (f64 mean[rows], then m2[rows]) and
 * write the result to `cand`; then, if `standardize`, scale the row in place to
 * (v − mean)/σ. The f32 mean and σ used are written to `meanOut`, `stdOut`.
 */
function standardizeRows(
  t: usize, rows: i32, batch: i32, stride: i32,
  stat: usize, count: f64, cand: usize, merge: bool, standardize: bool,
  meanOut: usize, stdOut: usize, checkFor: usize, scratch: usize,
): void {
  const nb = <f64>batch;
  const total = merge ? count + nb : count;
  const rowsBytes = <usize>rows << 3;
  for (let k = 0; k < rows; k++) {
    const row = t + (<usize>(k * stride) << 2);
    let mean = load<f64>(stat + (<usize>k << 3));
    let m2 = load<f64>(stat + rowsBytes + (<usize>k << 3));
    if (merge) {
      // Chan et al.: combine (count, mean, m2) with the batch's own moments (tracked
      // without standardisation too: feature importance and anomaly checks read them)
      rowMoments(row, batch);
      // anomaly checks of an input row (checkFor: its model), while the row is still raw
      if (checkFor != 0) checkInputRow(checkFor, row, k, rows, headerN(checkFor), batch, scratch, momentMin, momentMax);
      const delta = momentMean - mean;
      mean += delta * nb / total;
      m2 += momentM2 + delta * delta * count * nb / total;
    }
    store<f64>(cand + (<usize>k << 3), mean);
    store<f64>(cand + rowsBytes + (<usize>k << 3), m2);
    const mu = standardize ? <f32>mean : 0;
    const sigma = standardize ? <f32>spread(m2, total) : 1;
    store<f32>(meanOut + (<usize>k << 2), mu);
    store<f32>(stdOut + (<usize>k << 2), sigma);
    if (!standardize) continue;
    const inv = <f32>1 / sigma;
    // vector loop over whole vectors of real samples; pad lanes stay zero
    const vmu = f32x4.splat(mu);
    const vinv = f32x4.splat(inv);
    let s = 0;
    for (; s + 4 <= batch; s += 4) {
      const p = row + (<usize>s << 2);
      v128.store(p, f32x4.mul(f32x4.sub(v128.load(p), vmu), vinv));
    }
    // scalar tail
    for (; s < batch; s++) {
      const p = row + (<usize>s << 2);
      store<f32>(p, (load<f32>(p) - mu) * inv);
    }
  }
}

/**
 * Validates x (batch×m) and packs it into xt, standardised with the statistics
 * at `stats` over `count` samples; `merge` first folds the batch into them
 * (the result goes to the scratch's candidate statistics either way).
 */
export function packInputs(model: usize, x: usize, batch: i32, scratch: usize, stats: usize, count: f64, merge: bool): i32 {
  const m = headerM(model);
  const n = headerN(model);
  const stride = laneStride(batch);
  const xt = scratch + xtOffset(m, n);
  if (!transpose(x, batch, m, xt, stride)) {
    store<i32>(model + H_BAD_INDEX, firstNonFinite(x, batch * m));
    return STATUS_NONFINITE_X;
  }
  const flags = load<i32>(model + H_FLAGS);
  // a training step checks the raw inputs, row by row, before they are standardised
  const checking = merge && (flags & FLAG_ANOMALY) != 0;
  if (checking) beginAnomalies(model, m, n, batch, scratch);
  const standardize = (flags & FLAG_STANDARDIZE) != 0;
  standardizeRows(
    xt, m, batch, stride,
    stats, count, scratch + candOffset(), merge, standardize,
    scratch + xMeanOffset(m, n), scratch + xStdOffset(m, n), checking ? model : 0, scratch,
  );
  if (checking) endInputs(m, n, batch, scratch);
  return STATUS_OK;
}

/** packInputs' twin for y (batch×n) into yt; `stats` is the same statistics block. */
export function packTargets(model: usize, y: usize, batch: i32, scratch: usize, stats: usize, count: f64, merge: bool): i32 {
  const m = headerM(model);
  const n = headerN(model);
  const stride = laneStride(batch);
  const yt = scratch + ytOffset(m, n, batch);
  if (!transpose(y, batch, n, yt, stride)) {
    store<i32>(model + H_BAD_INDEX, firstNonFinite(y, batch * n));
    return STATUS_NONFINITE_Y;
  }
  const standardize = (load<i32>(model + H_FLAGS) & FLAG_STANDARDIZE) != 0;
  standardizeRows(
    yt, n, batch, stride,
    stats + (<usize>m << 4), count,
    scratch + candOffset() + (<usize>m << 4), merge, standardize,
    scratch + yMeanOffset(m, n), scratch + yStdOffset(m, n), 0, scratch,
  );
  return STATUS_OK;
}

/** Output scaling only (for predict): the model's current y mean and σ into scratch. */
export function packOutputScale(model: usize, scratch: usize): void {
  const m = headerM(model);
  const n = headerN(model);
  const standardize = (load<i32>(model + H_FLAGS) & FLAG_STANDARDIZE) != 0;
  const count = load<f64>(model + H_COUNT);
  const stat = model + statsOffset(m, n) + (<usize>m << 4);
  const rowsBytes = <usize>n << 3;
  for (let j = 0; j < n; j++) {
    const mean = load<f64>(stat + (<usize>j << 3));
    const m2 = load<f64>(stat + rowsBytes + (<usize>j << 3));
    store<f32>(scratch + yMeanOffset(m, n) + (<usize>j << 2), standardize ? <f32>mean : 0);
    store<f32>(scratch + yStdOffset(m, n) + (<usize>j << 2), standardize ? <f32>spread(m2, count) : 1);
  }
}

/** Makes candidate statistics (model statistics layout) over `batch` more samples the model's own. */
export function commitStatistics(model: usize, cand: usize, batch: i32): void {
  const m = headerM(model);
  const n = headerN(model);
  memory.copy(model + statsOffset(m, n), cand, <usize>(m + n) << 4);
  store<f64>(model + H_COUNT, load<f64>(model + H_COUNT) + <f64>batch);
}

/** out[s·n + j] = gt[j·S + s] · σ_j + mean_j: predictions back to raw units, row-major. */
export function unpackPredictions(model: usize, scratch: usize, batch: i32, out: usize): void {
  const m = headerM(model);
  const n = headerN(model);
  const stride = laneStride(batch);
  const gt = scratch + gtOffset(m, n, batch);
  for (let j = 0; j < n; j++) {
    const mu = load<f32>(scratch + yMeanOffset(m, n) + (<usize>j << 2));
    const sigma = load<f32>(scratch + yStdOffset(m, n) + (<usize>j << 2));
    const row = gt + (<usize>(j * stride) << 2);
    for (let s = 0; s < batch; s++) {
      store<f32>(out + (<usize>(s * n + j) << 2), load<f32>(row + (<usize>s << 2)) * sigma + mu);
    }
  }
}
