// A simulated chemical line, after the seed document's case study: the operating
// parameters temperature, pressure and flow set the yield and purity of a reaction.
// The true response is linear around the operating point, with sensor noise, a slow
// drift (the catalyst ages) and, now and then, a faulty sensor.
import { mulberry32, normalFrom } from "../engine/init.js";

export const INPUTS = ["temperature °C", "pressure bar", "flow m³/h"] as const;
export const OUTPUTS = ["yield %", "purity %"] as const;

/** Operating point and the spread the controller explores around it. */
export const CENTRE = [180, 12, 40];
export const SPREAD = [15, 2, 8];

export interface Truth {
  /** outputs × inputs, per raw unit. */
  W: number[];
  b: number[];
}

/**
 * A dead sensor sends NaN (the server refuses the batch); a botched lab reading spikes
 * purity; a glitching sensor reads far out of range; a frozen sensor repeats one value
 * for a few batches. The last three are what anomaly flags are for.
 */
export type Fault =
  | { kind: "none" }
  | { kind: "nan"; input: number }
  | { kind: "spike"; row: number }
  | { kind: "glitch"; input: number; row: number }
  | { kind: "stuck"; input: number };

export interface LineBatch {
  x: Float32Array;
  y: Float32Array;
  fault: Fault;
}

export class ChemicalLine {
  private readonly normal: () => number;
  private readonly uniform: () => number;
  private batches = 0;
  /** A frozen sensor: its input, value and the batches it stays frozen. */
  private frozen: { input: number; value: number; left: number } | undefined;
  /** The last reading of each input: what a sensor freezes at. */
  private lastReading = [0, 0, 0];

  constructor(
    seed: number,
    /** Yield lost per batch as the catalyst ages (percentage points). */
    private readonly drift = 2e-4,
    /** Chance that a batch comes from a faulty sensor. */
    private readonly faultRate = 0.01,
    /** Batch at which the catalyst is replaced: the response changes at once. */
    readonly changeAt = Infinity,
  ) {
    const next = mulberry32(seed);
    this.uniform = next;
    this.normal = normalFrom(next);
  }

  /** The response the line has now: the model should converge to it. */
  truth(): Truth {
    // yield: +0.45 %/°C, +2.1 %/bar, −0.32 %/(m³/h); purity falls with temperature.
    // A fresh catalyst is more temperature-sensitive and yields 4 points more at the operating point.
    const fresh = this.batches >= this.changeAt;
    const W = [fresh ? 0.7 : 0.45, 2.1, -0.32, -0.12, 0.6, 0.05];
    const aged = this.drift * (fresh ? this.batches - this.changeAt : this.batches);
    const b0 = [(fresh ? 64 : 60) - W[0]! * 180 - 2.1 * 12 + 0.32 * 40, 95 + 0.12 * 180 - 0.6 * 12 - 0.05 * 40];
    return { W, b: [b0[0]! - aged, b0[1]!] };
  }

  /** The true yield and purity at a setting. */
  respond(x: ArrayLike<number>): number[] {
    const { W, b } = this.truth();
    return [0, 1].map((j) => b[j]! + W[j * 3]! * x[0]! + W[j * 3 + 1]! * x[1]! + W[j * 3 + 2]! * x[2]!);
  }

  /** The next batch of `rows` readings. */
  next(rows: number): LineBatch {
    const { W, b } = this.truth();
    const x = new Float32Array(rows * 3);
    const y = new Float32Array(rows * 2);
    for (let r = 0; r < rows; r++) {
      const setting = CENTRE.map((c, k) => c + SPREAD[k]! * (this.uniform() * 2 - 1));
      for (let j = 0; j < 2; j++) {
        let v = b[j]!;
        for (let k = 0; k < 3; k++) v += W[j * 3 + k]! * setting[k]!;
        y[r * 2 + j] = v + 0.3 * this.normal(); // the lab's measurement noise
      }
      for (let k = 0; k < 3; k++) x[r * 3 + k] = setting[k]! + 0.05 * SPREAD[k]! * this.normal(); // sensor noise
    }
    this.batches++;
    const fault = this.injectFault(x, y);
    for (let k = 0; k < 3; k++) this.lastReading[k] = x[x.length - 3 + k]!;
    return { x, y, fault };
  }

  private injectFault(x: Float32Array, y: Float32Array): Fault {
    if (this.frozen) {
      const { input, value } = this.frozen;
      for (let i = input; i < x.length; i += 3) x[i] = value;
      if (--this.frozen.left === 0) this.frozen = undefined;
      return { kind: "stuck", input };
    }
    if (this.uniform() >= this.faultRate) return { kind: "none" };
    const which = this.uniform();
    const input = Math.floor(this.uniform() * 3);
    const row = Math.floor(this.uniform() * (y.length / 2));
    if (which < 0.25) {
      for (let i = input; i < x.length; i += 3) x[i] = NaN;
      return { kind: "nan", input };
    }
    if (which < 0.5) {
      y[row * 2 + 1]! += 30;
      return { kind: "spike", row };
    }
    if (which < 0.75) {
      x[row * 3 + input]! *= 10;
      return { kind: "glitch", input, row };
    }
    this.frozen = { input, value: this.lastReading[input]!, left: 3 };
    return this.injectFault(x, y);
  }
}
