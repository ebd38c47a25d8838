// The input range check after a long stream: 300 input spikes injected at known
// (batch, sample, input) after 4,000 clean batches, their magnitudes spread from
// just beyond the clean range's widened bound to far past it. The truth: the known
// spike positions (recall), every other reading (false positives), and a plain
// implementation of the documented range rule (docs/ABI.md, "Checks": a range that
// forgets and that flagged readings do not widen) that must flag exactly what the
// engine flags. The old rule (never forgets; widened by any batch without a flag on
// that input), run by the same plain code, shows the stream is one where it fails.
import { describe, expect, it } from "vitest";
import { createEngine, type TrainResult } from "../../host/index.js";
import { linearTargets, normals, rng } from "../helpers/random.js";

const M = 3;
const ROWS = 32;
const CLEAN = 4000;
const SPIKED = 1500;
const SPIKES = 300;
/** Inputs x_k = OFFSET_k + SCALE_k·N(0, 1), in raw units of their own. */
const OFFSET = [50, -3, 0.5];
const SCALE = [2, 0.5, 10];
/**
 * Spike magnitudes, in σ of the input. The rule's widened bound on clean normal readings
 * sits 6.6σ out on average, 5.3–8.6σ as it moves (simulated: 400,000 readings, B = 32).
 */
const SPIKE_FROM = 8;
const SPIKE_TO = 40;

// the documented rule's constants (docs/ABI.md and the defaults: margin 0.5, warmup 256)
const MARGIN = 0.5;
const WARMUP = 256;
const RANGE_WINDOW = 16384;

interface Stream {
  batches: { x: Float32Array; y: Float32Array }[];
  /** "batch:sample:input" of each spike. */
  spikes: Set<string>;
}

const key = (batch: number, sample: number, input: number) => `${batch}:${sample}:${input}`;

function stream(seed: number): Stream {
  const r = rng(seed);
  const place = rng(seed + 1);
  const W = Array.from(normals(r, M)).map((w, k) => w / SCALE[k]!);
  // 300 distinct batches of the spiked part, one spike each
  const spikedBatches = new Set<number>();
  while (spikedBatches.size < SPIKES) spikedBatches.add(CLEAN + Math.floor(place.uniform() * SPIKED));
  const spikes = new Set<string>();
  const batches: Stream["batches"] = [];
  for (let i = 0; i < CLEAN + SPIKED; i++) {
    const x = normals(r, ROWS * M);
    for (let t = 0; t < x.length; t++) x[t] = OFFSET[t % M]! + SCALE[t % M]! * x[t]!;
    // y follows the true x: only the reading is wrong
    const y = linearTargets(x, W, [1], M, 1, 0.1, r);
    if (spikedBatches.has(i)) {
      const s = Math.min(ROWS - 1, Math.floor(place.uniform() * ROWS));
      const k = Math.min(M - 1, Math.floor(place.uniform() * M));
      const size = SPIKE_FROM + (SPIKE_TO - SPIKE_FROM) * place.uniform();
      x[s * M + k] = OFFSET[k]! + (place.uniform() < 0.5 ? -1 : 1) * size * SCALE[k]!;
      spikes.add(key(i, s, k));
    }
    batches.push({ x, y });
  }
  return { batches, spikes };
}

/**
 * Range flags of a plain implementation of a range rule, "batch:sample:input" → score:
 * `forgets` is the documented rule (shrink toward the centre by W/(W + B), then widen to
 * the readings not flagged), otherwise the old one (never shrinks; a batch widens the
 * range only when it raised no flag on that input).
 */
function referenceFlags(s: Stream, forgets: boolean): Map<string, number> {
  const flags = new Map<string, number>();
  const lo = new Float64Array(M);
  const hi = new Float64Array(M);
  let seen = 0;
  s.batches.forEach(({ x }, i) => {
    for (let k = 0; k < M; k++) {
      const row = Array.from({ length: ROWS }, (_, t) => x[t * M + k]!);
      if (seen === 0) {
        lo[k] = Math.min(...row);
        hi[k] = Math.max(...row);
        continue;
      }
      const range = hi[k]! - lo[k]!;
      const below = lo[k]! - MARGIN * range;
      const above = hi[k]! + MARGIN * range;
      const warm = seen >= WARMUP && range > 0;
      let wlo = Infinity;
      let whi = -Infinity;
      let flagged = false;
      row.forEach((v, t) => {
        if (warm && v < below) flags.set(key(i, t, k), Math.fround((below - v) / range));
        else if (warm && v > above) flags.set(key(i, t, k), Math.fround((v - above) / range));
        else {
          wlo = Math.min(wlo, v);
          whi = Math.max(whi, v);
          return;
        }
        flagged = true;
      });
      if (forgets) {
        const centre = 0.5 * (lo[k]! + hi[k]!);
        const half = 0.5 * range * (RANGE_WINDOW / (RANGE_WINDOW + ROWS));
        lo[k] = Math.min(centre - half, wlo);
        hi[k] = Math.max(centre + half, whi);
      } else if (!flagged) {
        lo[k] = Math.min(lo[k]!, wlo);
        hi[k] = Math.max(hi[k]!, whi);
      }
    }
    seen += ROWS;
  });
  return flags;
}

function engineFlags(results: readonly TrainResult[]): Map<string, number> {
  const flags = new Map<string, number>();
  results.forEach((r, i) => {
    for (const a of r.anomalies) if (a.kind === "range") flags.set(key(i, a.sample, a.column), a.score);
  });
  return flags;
}

const recallOf = (s: Stream, flags: Map<string, number>) => [...s.spikes].filter((k) => flags.has(k)).length / s.spikes.size;

describe("the input range after a long stream", () => {
  it(`flags ≥ 95 % of ${SPIKES} injected spikes (${SPIKE_FROM}–${SPIKE_TO}σ) and no clean reading, exactly as the documented rule does`, async () => {
    const s = stream(41);
    const engine = await createEngine({ workers: 0 });
    const model = engine.createModel({ inputs: M, outputs: 1, anomaly: { exclude: true } });
    const results = s.batches.map((b) => model.train(b.x, b.y));
    engine.close();
    const flags = engineFlags(results);

    const recall = recallOf(s, flags);
    expect(recall, `recall ${recall}`).toBeGreaterThanOrEqual(0.95);
    // false positives: range flags on any reading that was not spiked (527,700 readings)
    const readings = (CLEAN + SPIKED) * ROWS * M - SPIKES;
    const falsePositives = [...flags.keys()].filter((k) => !s.spikes.has(k));
    expect(falsePositives, `false positive rate ${falsePositives.length / readings}`).toEqual([]);
    // the engine is the documented rule, flag for flag, score for score
    expect(flags).toEqual(referenceFlags(s, true));
    // and the stream is one where the old rule fails: unflagged spikes widen its range for good
    const old = recallOf(s, referenceFlags(s, false));
    expect(old, `old rule's recall ${old}`).toBeLessThan(0.5);
  });
});
