// A lasting change of the process under anomaly exclusion: a level shift in y, a change
// of W and a new operating point of an input, each at a known batch, after a stream with
// isolated outliers injected at known positions. The truth: the change's batch (drift is
// reported within a stated number of batches after it, never before), the new W and b
// (the model's raw predictions reach the noise level within a stated number of
// batches), the injected outliers (still flagged and excluded), and a plain
// implementation of the documented flag-rate rule (docs/ABI.md, "Regime change") that
// says, from the flags each step reported, which steps exclude and which do not.
import { describe, expect, it } from "vitest";
import { createEngine, type ModelOptions, type TrainResult } from "../../host/index.js";
import { linearTargets, normals, rng } from "../helpers/random.js";

const M = 4;
const N = 2;
const ROWS = 32;
/** σ of the noise on y (raw units). */
const NOISE = 0.1;
/** The change happens at this batch (0-based); before it, isolated outliers only. */
const CHANGE = 3000;
/** Batches after the change. */
const AFTER = 300;
/** Isolated outliers from this batch on (the residual spread has settled by then: see anomaly.test.ts). */
const OUTLIERS_FROM = 2000;
/** Drift must be reported within this many batches of the change. */
const DRIFT_WITHIN = 12;
/** The model's predictions must be back within 3 noise σ (raw RMSE) this many batches after the change. */
const LEARNT_WITHIN = 150;

// the documented rule's constants (docs/ABI.md, "Anomaly flags")
const RATE_WINDOW = 512;
const REGIME_RATE = 0.25;

type Change = "level shift of y" | "change of W" | "new operating point of input 0";

interface Stream {
  batches: { x: Float32Array; y: Float32Array }[];
  /** Injected isolated outliers: batch → sample. */
  outliers: Map<number, number>;
  /** The process after the change, and a held-out batch of it. */
  W: number[];
  b: number[];
  offset: number[];
  test: { x: Float32Array; y: Float32Array };
}

/** x_k = offset_k + N(0, 1), y = W x + b + noise; the process changes at CHANGE. */
function stream(change: Change, seed: number): Stream {
  const r = rng(seed);
  const place = rng(seed + 1);
  let W = Array.from(normals(r, N * M));
  let b = Array.from(normals(r, N));
  let offset = [0, 0, 0, 0];
  const batches: Stream["batches"] = [];
  const outliers = new Map<number, number>();
  const draw = () => {
    const x = normals(r, ROWS * M);
    for (let t = 0; t < x.length; t++) x[t] = x[t]! + offset[t % M]!;
    return { x, y: linearTargets(x, W, b, M, N, NOISE, r) };
  };
  for (let i = 0; i < CHANGE + AFTER; i++) {
    if (i === CHANGE) {
      if (change === "level shift of y") b = b.map((v) => v + 30 * NOISE);
      else if (change === "change of W") W = W.map((w) => -w);
      else offset = [20, 0, 0, 0];
    }
    const batch = draw();
    // one residual spike of 10 noise σ in 10 % of the batches before the change
    if (i >= OUTLIERS_FROM && i < CHANGE && place.uniform() < 0.1) {
      const s = Math.min(ROWS - 1, Math.floor(place.uniform() * ROWS));
      batch.y[s * N] = batch.y[s * N]! + 10 * NOISE;
      outliers.set(i, s);
    }
    batches.push(batch);
  }
  return { batches, outliers, W, b, offset, test: draw() };
}

/**
 * The documented rule, from what the steps reported: F = samples with a flag, R = samples
 * with a flag other than stuck; a step whose rate before it is above REGIME_RATE excludes
 * nothing, any other excludes its F; then rate := (rate·w + R)/(w + B), w = min(samples
 * seen before, RATE_WINDOW).
 */
function expectedExclusions(results: readonly TrainResult[]): { excluded: number[]; regime: boolean[] } {
  let rate = 0;
  const excluded: number[] = [];
  const regime: boolean[] = [];
  results.forEach((result, i) => {
    const flagged = new Set(result.anomalies.map((a) => a.sample)).size;
    const rated = new Set(result.anomalies.filter((a) => a.kind !== "stuck").map((a) => a.sample)).size;
    const inRegime = rate > REGIME_RATE;
    regime.push(inRegime);
    excluded.push(inRegime ? 0 : flagged);
    const w = Math.min(i * ROWS, RATE_WINDOW);
    rate = (rate * w + rated) / (w + ROWS);
  });
  return { excluded, regime };
}

/** Raw RMSE of the model's predictions on a batch. */
function rmse(predicted: Float32Array, y: Float32Array): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += (predicted[i]! - y[i]!) ** 2;
  return Math.sqrt(s / y.length);
}

const engine = await createEngine({ workers: 0 });
const sgd = (exclude: boolean): ModelOptions => ({ inputs: M, outputs: N, optimizer: { type: "sgd", lr: 0.02 }, anomaly: { exclude } });

/** Trains a fresh model on the stream; `learntAt`: batches after the change until the held-out RMSE is below 3 noise σ (−1: never). */
function run(s: Stream, options: ModelOptions): { results: TrainResult[]; learntAt: number; final: number } {
  const model = engine.createModel(options);
  const results: TrainResult[] = [];
  let learntAt = -1;
  for (let i = 0; i < s.batches.length; i++) {
    results.push(model.train(s.batches[i]!.x, s.batches[i]!.y));
    if (i >= CHANGE && learntAt < 0 && rmse(model.predict(s.test.x), s.test.y) < 3 * NOISE) learntAt = i - CHANGE + 1;
  }
  const final = rmse(model.predict(s.test.x), s.test.y);
  model.dispose();
  return { results, learntAt, final };
}

/** The checks every change shares: the documented rule, fired for the change only; the isolated outliers flagged and left out. */
function checkExclusions(s: Stream, results: readonly TrainResult[]): void {
  const expected = expectedExclusions(results);
  expect(results.map((r) => r.excluded)).toEqual(expected.excluded);
  expect(expected.regime.slice(0, CHANGE).some(Boolean), "a regime change before the change").toBe(false);
  expect(expected.regime.slice(CHANGE).some(Boolean), "a regime change after it").toBe(true);
  let caught = 0;
  for (const [batch, sample] of s.outliers) {
    const flagged = results[batch]!.anomalies.some((a) => a.sample === sample && a.field === "y" && a.kind === "residual");
    if (!flagged) continue;
    caught++;
    expect(results[batch]!.excluded, `batch ${batch}: its outlier is left out`).toBeGreaterThanOrEqual(1);
  }
  expect(s.outliers.size).toBeGreaterThan(60);
  expect(caught / s.outliers.size, `${caught} of ${s.outliers.size} isolated outliers flagged`).toBeGreaterThanOrEqual(0.9);
}

describe("a lasting change under exclude: true", () => {
  const changes: [Change, number][] = [["level shift of y", 31], ["change of W", 32]];
  for (const [change, seed] of changes) {
    it(`${change}: drift within ${DRIFT_WITHIN} batches, learnt within ${LEARNT_WITHIN} and at most 10 after a model without exclusion`, () => {
      const s = stream(change, seed);
      const { results, learntAt } = run(s, sgd(true));
      // drift: reported after the change, soon, and never before it
      const alarms = results.flatMap((r, i) => (r.drift ? [i] : []));
      expect(alarms.filter((i) => i < CHANGE), "alarms before the change").toEqual([]);
      expect(alarms.length, "alarms").toBeGreaterThan(0);
      expect(alarms[0]! - CHANGE + 1, "batches from the change to the first alarm").toBeLessThanOrEqual(DRIFT_WITHIN);
      // learnt: the held-out batch of the new process is predicted to within 3 noise σ
      expect(learntAt, "batches to learn (−1: never)").toBeGreaterThan(0);
      expect(learntAt).toBeLessThanOrEqual(LEARNT_WITHIN);
      // the rule costs only the few batches before it fires: the same line without exclusion
      const twin = run(s, sgd(false));
      expect(twin.learntAt).toBeGreaterThan(0);
      expect(learntAt - twin.learntAt, `${learntAt} batches with exclusion, ${twin.learntAt} without`).toBeLessThanOrEqual(10);
      checkExclusions(s, results);
    });
  }

  it("new operating point of input 0 (20 of its σ): range flags stop within 12 batches, every later batch trains", () => {
    // Adam: a 20σ step of a standardised input would throw SGD at lr 0.02 off, with or without anomaly tracking
    const s = stream("new operating point of input 0", 33);
    const { results, final } = run(s, { inputs: M, outputs: N, optimizer: { type: "adam", lr: 0.005 }, anomaly: { exclude: true } });
    const rangeFlagged = results.flatMap((r, i) => (r.anomalies.some((a) => a.kind === "range" && a.column === 0) ? [i] : []));
    // the first batch at the new point is flagged entirely (the truth: every reading of input 0 moved by 20)
    expect(results[CHANGE]!.anomalies.filter((a) => a.kind === "range" && a.column === 0)).toHaveLength(ROWS);
    expect(rangeFlagged.filter((i) => i >= CHANGE + 12), "range flags on input 0 12 batches after the change").toEqual([]);
    expect(results.slice(CHANGE + 12).every((r) => r.excluded < ROWS), "a batch left out entirely").toBe(true);
    // the relation y = W x + b did not change: the model still predicts it at the new point
    expect(final, "held-out RMSE at the end").toBeLessThan(3 * NOISE);
    checkExclusions(s, results);
  });
});

describe("a frozen sensor under exclude: true", () => {
  it("stays excluded for as long as it is frozen: stuck flags are a fault, not a regime change", async () => {
    const engine = await createEngine({ workers: 0 });
    const model = engine.createModel({ inputs: M, outputs: N, optimizer: { type: "adam", lr: 0.01 }, anomaly: { exclude: true }, drift: false });
    const r = rng(77);
    const W = Array.from(normals(r, N * M));
    const b = Array.from(normals(r, N));
    const FROZEN_FROM = 40;
    const FROZEN_FOR = 60;
    const results: TrainResult[] = [];
    for (let i = 0; i < FROZEN_FROM + FROZEN_FOR; i++) {
      const x = normals(r, ROWS * M);
      // input 0 reads the same value from batch FROZEN_FROM on (the truth: every sample of those batches is from a frozen sensor)
      if (i >= FROZEN_FROM) for (let s = 0; s < ROWS; s++) x[s * M] = 0.5;
      results.push(model.train(x, linearTargets(x, W, b, M, N, NOISE, r)));
    }
    // the first frozen batch is one value held for one batch, which a setpoint also looks like; from the second on, stuck
    const frozen = results.slice(FROZEN_FROM + 1);
    expect(frozen.every((res) => res.anomalies.some((a) => a.kind === "stuck" && a.column === 0))).toBe(true);
    expect(frozen.map((res) => res.excluded)).toEqual(frozen.map(() => ROWS));
    engine.close();
  });
});
