// Anomaly flags for a training step (FLAG_ANOMALY): inputs outside their running
// range, stuck sensors (a field that stops varying), and residual outliers. The
// hot path is one SIMD min/max pass per input row and one residual pass per output
// row; only a row that breaks a bound is scanned sample by sample. State changes go
// to a candidate copy in scratch, committed with the step (a rejected step changes
// nothing). Records: i32 sample, i32 field (inputs 0…m−1, outputs m…m+n−1),
// i32 kind (ANOMALY_*), f32 score, at H_ANOMALY_OUT, at most H_ANOMALY_CAP.
//
// Outliers are rare by definition: while more than REGIME_RATE of the recent samples
// were flagged, the baselines are what is wrong (a level shift, a new operating point),
// so a step in such a regime change still flags but excludes nothing, and its range
// and residual statistics learn from every sample until they fit the new regime.
import {
  H_FLAGS, H_ANOMALY_OUT, H_ANOMALY_CAP, H_ANOMALY_COUNT, H_ANOMALY_EXCLUDED, H_A_RESIDUAL, H_A_MARGIN, H_A_STUCK, H_A_WARMUP,
  FLAG_EXCLUDE, ANOMALY_RESIDUAL, ANOMALY_RANGE, ANOMALY_STUCK,
  anomalyOffset, anomalyBytes, anomalyCandOffset, flaggedOffset,
} from "./util/layout";

/** Residual statistics forget: older samples count as at most this many. */
const RESIDUAL_WINDOW: f64 = 10000;
/** The running range forgets: each batch of B shrinks it toward its centre by RANGE_WINDOW/(RANGE_WINDOW + B). */
const RANGE_WINDOW: f64 = 16384;
/** The flag rate is a mean over about this many recent samples. */
const RATE_WINDOW: f64 = 512;
/** A flag rate above this (before the step) makes the step part of a regime change. */
const REGIME_RATE: f64 = 0.25;

// per call (one per thread)
let found: i32 = 0;
let regime = false;

/** f64 index of the flag rate in the anomaly state (seen, rcount, then it). */
@inline function rateIndex(m: i32, n: i32): i32 {
  return 4 * m + 2 * n + 2;
}

/** Starts a step's tracking: the candidate state is the model's, nothing found yet. */
export function beginAnomalies(model: usize, m: i32, n: i32, batch: i32, scratch: usize): void {
  memory.copy(scratch + anomalyCandOffset(m, n, batch), model + anomalyOffset(m, n), anomalyBytes(m, n));
  memory.fill(scratch + flaggedOffset(m, n, batch), 0, <usize>batch);
  found = 0;
  regime = load<f64>(model + anomalyOffset(m, n) + (<usize>rateIndex(m, n) << 3)) > REGIME_RATE;
}

/** Bits of a sample's flag byte: any flag but stuck (counted in the flag rate), and stuck (not counted). */
const FLAG_RATED: u8 = 1;
const FLAG_STUCK: u8 = 2;

@inline function record(model: usize, flagged: usize, sample: i32, field: i32, kind: i32, score: f32): void {
  // a frozen sensor flags every sample for as long as it is frozen: that is a fault to keep
  // excluding, not a new regime to learn, so stuck flags stay out of the flag rate
  store<u8>(flagged + <usize>sample, load<u8>(flagged + <usize>sample) | (kind == ANOMALY_STUCK ? FLAG_STUCK : FLAG_RATED));
  if (found < load<i32>(model + H_ANOMALY_CAP)) {
    const at = <usize>load<i32>(model + H_ANOMALY_OUT) + (<usize>found << 4);
    store<i32>(at, sample);
    store<i32>(at + 4, field);
    store<i32>(at + 8, kind);
    store<f32>(at + 12, score);
  }
  found++;
}

/**
 * Range and stuck checks of input k, whose raw samples (`batch` lanes) are at `row`
 * and whose batch extremes are bmin, bmax (from the moments pass: no pass of its own).
 * Runs before the row is standardised; endInputs() then counts the batch as seen.
 */
export function checkInputRow(model: usize, row: usize, k: i32, m: i32, n: i32, batch: i32, scratch: usize, bmin: f32, bmax: f32): void {
  const state = scratch + anomalyCandOffset(m, n, batch);
  const flagged = scratch + flaggedOffset(m, n, batch);
  const mb = <usize>m << 3;
  const seen = load<f64>(state + (<usize>(4 * m + 2 * n) << 3));
  const warm = seen >= <f64>load<f32>(model + H_A_WARMUP);
  const minAt = state + (<usize>k << 3);
  const maxAt = minAt + mb;
  const lastAt = maxAt + mb;
  const runAt = lastAt + mb;
  const lo = load<f64>(minAt);
  const hi = load<f64>(maxAt);
  const range = hi - lo;
  const margin = <f64>load<f32>(model + H_A_MARGIN);
  const below = lo - margin * range;
  const above = hi + margin * range;
  let outliers = false;
  // out of range: scan only a row whose extremes break the widened range
  if (warm && range > 0) {
    if (<f64>bmin < below || <f64>bmax > above) {
      for (let i = 0; i < batch; i++) {
        const v = <f64>load<f32>(row + (<usize>i << 2));
        if (v < below) record(model, flagged, i, k, ANOMALY_RANGE, <f32>((below - v) / range));
        else if (v > above) record(model, flagged, i, k, ANOMALY_RANGE, <f32>((v - above) / range));
        else continue;
        outliers = true;
      }
    }
  }
  // stuck: the run of identical readings that ends this batch
  const lastValue = load<f32>(row + (<usize>(batch - 1) << 2));
  let run: f64;
  if (bmin == bmax) {
    run = seen > 0 && <f64>bmin == load<f64>(lastAt) ? load<f64>(runAt) + <f64>batch : <f64>batch;
  } else {
    let t = 1;
    while (t < batch && load<f32>(row + (<usize>(batch - 1 - t) << 2)) == lastValue) t++;
    run = <f64>t;
  }
  // A whole batch of one value is a stuck sensor only when the run began in an earlier
  // batch: a setpoint held for one batch looks the same and is not. (stuck = 0: off.)
  const stuckAfter = <f64>load<f32>(model + H_A_STUCK);
  const stuck = warm && range > 0 && bmin == bmax && stuckAfter > 0 && run > <f64>batch && run >= stuckAfter;
  if (stuck) {
    for (let i = 0; i < batch; i++) record(model, flagged, i, k, ANOMALY_STUCK, <f32>run);
  }
  // the running range forgets, and learns from the readings this input's checks did
  // not flag (a stuck batch: none); in a regime change, from all of them
  if (seen == 0) {
    store<f64>(minAt, <f64>bmin);
    store<f64>(maxAt, <f64>bmax);
  } else {
    let wlo = <f64>bmin;
    let whi = <f64>bmax;
    if (!regime && (outliers || stuck)) {
      wlo = Infinity;
      whi = -Infinity;
      if (!stuck) {
        for (let i = 0; i < batch; i++) {
          const v = <f64>load<f32>(row + (<usize>i << 2));
          if (v < below || v > above) continue;
          wlo = Math.min(wlo, v);
          whi = Math.max(whi, v);
        }
      }
    }
    const centre = 0.5 * (lo + hi);
    const half = 0.5 * range * (RANGE_WINDOW / (RANGE_WINDOW + <f64>batch));
    store<f64>(minAt, Math.min(centre - half, wlo));
    store<f64>(maxAt, Math.max(centre + half, whi));
  }
  store<f64>(lastAt, <f64>lastValue);
  store<f64>(runAt, run);
}

/** Every input of the batch is checked: count its samples as seen. */
export function endInputs(m: i32, n: i32, batch: i32, scratch: usize): void {
  const seenAt = scratch + anomalyCandOffset(m, n, batch) + (<usize>(4 * m + 2 * n) << 3);
  store<f64>(seenAt, load<f64>(seenAt) + <f64>batch);
}

/**
 * Residual outliers: r = ŷ − y per output row (training space), scored against the
 * running residual mean and spread, then the flag rate updated. With FLAG_EXCLUDE
 * (outside a regime change), every flagged sample's predictions are set to its
 * targets, so it adds nothing to the loss or gradient. Returns the samples that
 * remain for the update (the loss divides by them).
 */
export function checkResiduals(model: usize, gt: usize, yt: usize, m: i32, n: i32, batch: i32, stride: i32, scratch: usize): i32 {
  const state = scratch + anomalyCandOffset(m, n, batch);
  const flagged = scratch + flaggedOffset(m, n, batch);
  const rmeanBase = state + (<usize>(4 * m) << 3);
  const rm2Base = rmeanBase + (<usize>n << 3);
  const rcountAt = state + (<usize>(4 * m + 2 * n + 1) << 3);
  const count = load<f64>(rcountAt);
  const warm = count >= <f64>load<f32>(model + H_A_WARMUP);
  const k = <f64>load<f32>(model + H_A_RESIDUAL);
  const prior = Math.min(count, RESIDUAL_WINDOW);
  const whole = batch & ~3;
  let kept = 0;
  for (let j = 0; j < n; j++) {
    const g = gt + (<usize>(j * stride) << 2);
    const t = yt + (<usize>(j * stride) << 2);
    const meanAt = rmeanBase + (<usize>j << 3);
    const m2At = rm2Base + (<usize>j << 3);
    const mean = load<f64>(meanAt);
    const sigma = count > 0 ? Math.sqrt(load<f64>(m2At) / count) : 0;
    // one pass: deviations from the running mean, their sum, their squares, the farthest
    const vmean = f32x4.splat(<f32>mean);
    let vfar = f32x4.splat(0);
    let vsum = f32x4.splat(0);
    let vsq = f32x4.splat(0);
    let s = 0;
    for (; s < whole; s += 4) {
      const p = <usize>s << 2;
      const d = f32x4.sub(f32x4.sub(v128.load(g + p), v128.load(t + p)), vmean);
      vsum = f32x4.add(vsum, d);
      vsq = f32x4.add(vsq, f32x4.mul(d, d));
      vfar = f32x4.pmax(vfar, f32x4.abs(d));
    }
    let sum = <f64>f32x4.extract_lane(vsum, 0) + <f64>f32x4.extract_lane(vsum, 1) + <f64>f32x4.extract_lane(vsum, 2) + <f64>f32x4.extract_lane(vsum, 3);
    let sq = <f64>f32x4.extract_lane(vsq, 0) + <f64>f32x4.extract_lane(vsq, 1) + <f64>f32x4.extract_lane(vsq, 2) + <f64>f32x4.extract_lane(vsq, 3);
    let far = Mathf.max(Mathf.max(f32x4.extract_lane(vfar, 0), f32x4.extract_lane(vfar, 1)), Mathf.max(f32x4.extract_lane(vfar, 2), f32x4.extract_lane(vfar, 3)));
    for (; s < batch; s++) {
      const d = load<f32>(g + (<usize>s << 2)) - load<f32>(t + (<usize>s << 2)) - <f32>mean;
      sum += <f64>d;
      sq += <f64>(d * d);
      far = Mathf.max(far, Mathf.abs(d));
    }
    if (warm && sigma > 0 && <f64>far > k * sigma) {
      for (let i = 0; i < batch; i++) {
        const z = Math.abs(<f64>(load<f32>(g + (<usize>i << 2)) - load<f32>(t + (<usize>i << 2))) - mean) / sigma;
        if (z > k) record(model, flagged, i, m + j, ANOMALY_RESIDUAL, <f32>z);
      }
    }
    // the statistics learn from the samples nothing has flagged so far (rarely any: then
    // subtract them); in a regime change, from every sample
    kept = batch;
    if (found > 0 && !regime) {
      for (let i = 0; i < batch; i++) {
        if (load<u8>(flagged + <usize>i) == 0) continue;
        const d = <f64>(load<f32>(g + (<usize>i << 2)) - load<f32>(t + (<usize>i << 2)) - <f32>mean);
        sum -= d;
        sq -= d * d;
        kept--;
      }
    }
    if (kept > 0) {
      // Chan's merge of the batch's deviations (shifted by the running mean), forgetting beyond the window
      const nb = <f64>kept;
      const total = prior + nb;
      const shift = sum / nb;
      const bm2 = Math.max(sq - sum * shift, 0);
      const scaledM2 = count > 0 ? load<f64>(m2At) * (prior / count) : 0;
      store<f64>(meanAt, mean + shift * nb / total);
      store<f64>(m2At, scaledM2 + bm2 + shift * shift * prior * nb / total);
    }
  }
  if (kept > 0) store<f64>(rcountAt, prior + <f64>kept);
  store<i32>(model + H_ANOMALY_COUNT, found);
  // the flag rate: the share of flagged samples, the old rate weighing at most RATE_WINDOW samples
  let flaggedSamples = 0;
  let ratedSamples = 0;
  if (found > 0) {
    for (let i = 0; i < batch; i++) {
      const f = load<u8>(flagged + <usize>i);
      if (f != 0) flaggedSamples++;
      if ((f & FLAG_RATED) != 0) ratedSamples++;
    }
  }
  const rateAt = state + (<usize>rateIndex(m, n) << 3);
  const before = Math.min(load<f64>(state + (<usize>(4 * m + 2 * n) << 3)) - <f64>batch, RATE_WINDOW);
  store<f64>(rateAt, (load<f64>(rateAt) * before + <f64>ratedSamples) / (before + <f64>batch));
  const exclude = (load<i32>(model + H_FLAGS) & FLAG_EXCLUDE) != 0 && !regime;
  const excluded = exclude ? flaggedSamples : 0;
  store<i32>(model + H_ANOMALY_EXCLUDED, excluded);
  if (excluded > 0) {
    for (let i = 0; i < batch; i++) {
      if (load<u8>(flagged + <usize>i) == 0) continue;
      for (let j = 0; j < n; j++) store<f32>(gt + (<usize>(j * stride + i) << 2), load<f32>(yt + (<usize>(j * stride + i) << 2)));
    }
    // every sample flagged: nothing to learn from, a zero loss and gradient
    return excluded < batch ? batch - excluded : batch;
  }
  return batch;
}

/**
 * Excluded samples must not move the statistics either (one wild reading would
 * inflate a spread for good): the candidate statistics are rebuilt from the model's
 * own with only the kept samples of the raw batch (x: batch×m, y: batch×n) merged in,
 * one sample at a time (Welford). Runs only for a batch with exclusions.
 */
export function statisticsWithoutExcluded(model: usize, x: usize, y: usize, m: i32, n: i32, batch: i32, scratch: usize, stats: usize, count: f64, cand: usize): void {
  const flagged = scratch + flaggedOffset(m, n, batch);
  const features = m + n;
  memory.copy(cand, stats, <usize>features << 4);
  let seen = count;
  for (let i = 0; i < batch; i++) {
    if (load<u8>(flagged + <usize>i) != 0) continue;
    seen += 1;
    for (let f = 0; f < features; f++) {
      const v = <f64>(f < m ? load<f32>(x + (<usize>(i * m + f) << 2)) : load<f32>(y + (<usize>(i * n + f - m) << 2)));
      // cand: mean_x[m], m2_x[m], mean_y[n], m2_y[n]
      const slot: i32 = f < m ? f : 2 * m + (f - m);
      const meanAt = cand + (<usize>slot << 3);
      const m2At = meanAt + (<usize>(f < m ? m : n) << 3);
      const mean = load<f64>(meanAt);
      const d = v - mean;
      const next = mean + d / seen;
      store<f64>(meanAt, next);
      store<f64>(m2At, load<f64>(m2At) + d * (v - next));
    }
  }
}

/** The step succeeded: its candidate anomaly state becomes the model's. */
export function commitAnomalies(model: usize, m: i32, n: i32, batch: i32, scratch: usize): void {
  memory.copy(model + anomalyOffset(m, n), scratch + anomalyCandOffset(m, n, batch), anomalyBytes(m, n));
}
