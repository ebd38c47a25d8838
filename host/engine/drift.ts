// Drift: has the process changed? A Page-Hinkley test on the loss stream, one
// value per step. The loss is taken in logs (a process change multiplies it, and
// in logs a batch's noise has a scale that does not depend on the units) and in
// units of its own running spread, so one default fits every model. Each value's
// pull is capped, so a single botched batch cannot raise an alarm on its own.

export interface DriftOptions {
  /** Allowance per step, in spreads: shifts smaller than this are ignored. Default 0.5. */
  delta?: number;
  /** Alarm when the cumulative excess reaches this many spreads. Default 12. */
  threshold?: number;
  /** Steps that only learn the loss's level and spread, at the start and after an alarm. Default 50. */
  warmup?: number;
  /** Weight of each new step in the running level and spread. Default 0.01. */
  alpha?: number;
}

export type ResolvedDriftOptions = Required<DriftOptions>;

export const driftDefaults: ResolvedDriftOptions = Object.freeze({ delta: 0.5, threshold: 12, warmup: 50, alpha: 0.01 });

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

export class DriftDetector {
  private seen = 0;
  private mean = 0;
  private variance = 0;
  private cumulative = 0;
  private lowest = 0;

  constructor(readonly options: ResolvedDriftOptions) {}

  /** Feeds one step's loss; returns an event when it completes a detected change. */
  observe(loss: number, step: number): DriftEvent | null {
    // a zero loss (every sample left out as anomalous, or a perfect fit) says nothing about the process
    if (!(loss > 0) || !Number.isFinite(loss)) return null;
    const z = Math.log(Math.max(loss, Number.MIN_VALUE));
    const { warmup, alpha, delta, threshold } = this.options;
    this.seen++;
    if (this.seen <= warmup) {
      // Welford over the warm-up
      const d = z - this.mean;
      this.mean += d / this.seen;
      this.variance += (d * (z - this.mean) - this.variance) / this.seen;
      return null;
    }
    const spread = Math.max(Math.sqrt(this.variance), FLOOR);
    // one step pulls at most CAP spreads either way, in the test and in the running level
    const u = Math.max(Math.min((z - this.mean) / spread, CAP), -CAP);
    this.cumulative += u - delta;
    this.lowest = Math.min(this.lowest, this.cumulative);
    const statistic = this.cumulative - this.lowest;
    if (statistic >= threshold) {
      const event = { step, statistic, threshold, before: Math.exp(this.mean) };
      this.reset();
      return event;
    }
    const d = u * spread;
    this.mean += alpha * d;
    this.variance = (1 - alpha) * (this.variance + alpha * d * d);
    return null;
  }

  /** Forgets the level: after an alarm the new regime is learnt afresh. */
  reset(): void {
    this.seen = 0;
    this.mean = 0;
    this.variance = 0;
    this.cumulative = 0;
    this.lowest = 0;
  }
}
