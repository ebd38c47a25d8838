// Drift: has the process changed? A Page-Hinkley test on the loss stream, one
// value per step, with an optional reaction (reset the optimiser state, or boost
// the learning rate for a while). The loss is taken in logs (a process change multiplies it, and
// in logs a batch's noise has a scale that does not depend on the units) and in
// units of its own running spread, so one default fits every model. Each value's
// pull is capped, so a single botched batch cannot raise an alarm on its own.
import { Header, regions } from "../kernel/layout.js";

export interface DriftOptions {
  /** Allowance per step, in spreads: shifts smaller than this are ignored. Default 0.5. */
  delta?: number;
  /** Alarm when the cumulative excess reaches this many spreads. Default 12. */
  threshold?: number;
  /** Steps that only learn the loss's level and spread, at the start and after an alarm. Default 50. */
  warmup?: number;
  /** Weight of each new step in the running level and spread. Default 0.01. */
  alpha?: number;
  /** What an alarm does besides being reported: "reset" zeroes the optimiser state, "boost" multiplies the learning rate by `boost` for `boostSteps` steps. Default "report". */
  onDrift?: "report" | "reset" | "boost";
  /** Learning-rate factor of a boost. Default 10. */
  boost?: number;
  /** Steps a boost lasts. Default 100. */
  boostSteps?: number;
}

export type ResolvedDriftOptions = Required<DriftOptions>;

export const driftDefaults: ResolvedDriftOptions = Object.freeze({
  delta: 0.5, threshold: 12, warmup: 50, alpha: 0.01, onDrift: "report" as const, boost: 10, boostSteps: 100,
});

export interface DriftEvent {
  /** The step whose loss raised the alarm. */
  step: number;
  /** The Page-Hinkley statistic, in spreads (≥ threshold). */
  statistic: number;
  threshold: number;
  /** The loss level (geometric mean) before the change. */
  before: number;
}

/** The largest pull one step has, in spreads. */
const CAP = 4;
/** The spread's floor, in log units: a loss constant to 1% is not infinitely sensitive. */
const FLOOR = 0.01;

// The detector lives in the model block's host region (docs/ABI.md), f64 slots: its
// options, then its state. So it is copied and committed with the model like the
// rest, and a pool worker runs it right after each step, exactly where the in-process
// engine does: the reaction (reset, boost) lands on the same step whatever the
// number of workers.
const S = {
  enabled: 0, delta: 1, threshold: 2, warmup: 3, alpha: 4, action: 5, boost: 6, boostSteps: 7, baseLr: 8,
  seen: 9, mean: 10, variance: 11, cumulative: 12, lowest: 13, boostLeft: 14,
} as const;
/** f64 slots of the host region the detector uses (the region holds 16). */
export const DRIFT_SLOTS = 15;
const ACTIONS = { report: 0, reset: 1, boost: 2 } as const;

/** Where a model block keeps what the detector needs. */
export interface DriftSite {
  view: DataView;
  /** The model block. */
  block: number;
  /** The host region's offset in the block. */
  region: number;
  /** Header offset of the f32 learning rate. */
  lrAt: number;
  /** Byte ranges of the optimiser state (s1, s2), zeroed by a reset. */
  optimizerState: { at: number; bytes: number };
}

/** The drift detector's place in a model block. */
export function driftSite(view: DataView, block: number, m: number, n: number): DriftSite {
  const r = regions(m, n);
  // s1 and s2 are adjacent: one range
  return { view, block, region: r.host, lrAt: Header.lr, optimizerState: { at: r.s1, bytes: r.stats - r.s1 } };
}

const read = (site: DriftSite, slot: number): number => site.view.getFloat64(site.block + site.region + 8 * slot, true);
const write = (site: DriftSite, slot: number, v: number): void => site.view.setFloat64(site.block + site.region + 8 * slot, v, true);

/** Writes the options (or "off") and a fresh state; `lr` is the optimiser's own. */
export function writeDrift(site: DriftSite, options: ResolvedDriftOptions | null, lr: number): void {
  const set = (slot: number, v: number) => write(site, slot, v);
  for (let slot = 0; slot < DRIFT_SLOTS; slot++) set(slot, 0);
  if (!options) return;
  set(S.enabled, 1);
  set(S.delta, options.delta);
  set(S.threshold, options.threshold);
  set(S.warmup, options.warmup);
  set(S.alpha, options.alpha);
  set(S.action, ACTIONS[options.onDrift]);
  set(S.boost, options.boost);
  set(S.boostSteps, options.boostSteps);
  set(S.baseLr, lr);
}

/**
 * Feeds one applied step's loss to the detector at `site`; on an alarm applies the
 * configured reaction and returns the event. A boost in progress counts down here.
 */
export function driftStep(site: DriftSite, loss: number, step: number): DriftEvent | null {
  const { view, block } = site;
  const get = (slot: number) => read(site, slot);
  const set = (slot: number, v: number) => write(site, slot, v);
  if (get(S.enabled) === 0) return null;
  const left = get(S.boostLeft);
  if (left > 0) {
    set(S.boostLeft, left - 1);
    if (left === 1) view.setFloat32(block + site.lrAt, get(S.baseLr), true);
  }
  // a zero loss (every sample left out as anomalous, or a perfect fit) says nothing about the process
  if (!(loss > 0) || !Number.isFinite(loss)) return null;
  const z = Math.log(Math.max(loss, Number.MIN_VALUE));
  const seen = get(S.seen) + 1;
  set(S.seen, seen);
  let mean = get(S.mean);
  let variance = get(S.variance);
  if (seen <= get(S.warmup)) {
    // Welford over the warm-up
    const d = z - mean;
    mean += d / seen;
    set(S.mean, mean);
    set(S.variance, variance + (d * (z - mean) - variance) / seen);
    return null;
  }
  const spread = Math.max(Math.sqrt(variance), FLOOR);
  // one step pulls at most CAP spreads either way, in the test and in the running level
  const u = Math.max(Math.min((z - mean) / spread, CAP), -CAP);
  const cumulative = get(S.cumulative) + u - get(S.delta);
  const lowest = Math.min(get(S.lowest), cumulative);
  const statistic = cumulative - lowest;
  const threshold = get(S.threshold);
  if (statistic >= threshold) {
    const event = { step, statistic, threshold, before: Math.exp(mean) };
    // the new regime is learnt afresh
    for (const slot of [S.seen, S.mean, S.variance, S.cumulative, S.lowest]) set(slot, 0);
    react(site, get(S.action));
    return event;
  }
  set(S.cumulative, cumulative);
  set(S.lowest, lowest);
  const d = u * spread;
  const alpha = get(S.alpha);
  set(S.mean, mean + alpha * d);
  set(S.variance, (1 - alpha) * (variance + alpha * d * d));
  return null;
}

/** The detector's running state (not its options), in this order, as snapshots carry it. */
const STATE = [S.seen, S.mean, S.variance, S.cumulative, S.lowest, S.boostLeft] as const;
export const DRIFT_STATE_LENGTH = STATE.length;

export function readDriftState(site: DriftSite): Float64Array {
  return Float64Array.from(STATE, (slot) => read(site, slot));
}

/**
 * Puts back a state read by readDriftState, after writeDrift wrote the options: the
 * detector goes on where it was, and a boost in progress keeps its learning rate.
 */
export function restoreDriftState(site: DriftSite, state: Float64Array): void {
  if (read(site, S.enabled) === 0) return;
  STATE.forEach((slot, i) => write(site, slot, state[i]!));
  const boosting = read(site, S.action) === ACTIONS.boost && read(site, S.boostLeft) > 0;
  if (boosting) site.view.setFloat32(site.block + site.lrAt, read(site, S.baseLr) * read(site, S.boost), true);
  else write(site, S.boostLeft, 0);
}

function react(site: DriftSite, action: number): void {
  const { view, block } = site;
  if (action === ACTIONS.reset) {
    new Uint8Array(view.buffer, block + site.optimizerState.at, site.optimizerState.bytes).fill(0);
  } else if (action === ACTIONS.boost) {
    view.setFloat32(block + site.lrAt, read(site, S.baseLr) * read(site, S.boost), true);
    write(site, S.boostLeft, read(site, S.boostSteps));
  }
}
