// Online standardisation: on badly scaled sensor data, where plain SGD diverges,
// the standardised model learns and reports W, b in raw units.
import { describe, expect, it } from "vitest";
import { createEngine, kernelVariants, GradlineError } from "../../host/index.js";
import { rng, linearTargets, maxRelError } from "../helpers/random.js";
import { leastSquares } from "../helpers/leastSquares.js";

// a chemical line: temperature (K), pressure (kPa), feed ratio → yield (%), energy (kWh)
const m = 3;
const n = 2;
const W = [0.08, 0.004, 25, -0.5, 0.9, 300];
const b = [10, 2000];

function sensorBatch(seed: number, samples: number) {
  const r = rng(seed);
  const x = new Float32Array(samples * m);
  for (let s = 0; s < samples; s++) {
    x[s * m] = 350 + 25 * r.normal();
    x[s * m + 1] = 5000 + 800 * r.normal();
    x[s * m + 2] = 1 + 0.01 * r.normal();
  }
  return { x, y: linearTargets(x, W, b, m, n) };
}

describe("standardisation", () => {
  for (const variant of kernelVariants) {
    it(`${variant.name}: unstandardised SGD diverges on raw sensor units and is rolled back`, async () => {
      const engine = await createEngine({ workers: 0, kernel: variant.name });
      const model = engine.createModel({ inputs: m, outputs: n, standardize: false, optimizer: { type: "sgd", lr: 0.01 } });
      let failure: unknown;
      let lastGood = model.params();
      for (let step = 0; step < 50 && failure === undefined; step++) {
        const { x, y } = sensorBatch(step, 32);
        try {
          model.train(x, y);
          lastGood = model.params();
        } catch (e) {
          failure = e;
        }
      }
      expect(failure).toBeInstanceOf(GradlineError);
      expect((failure as GradlineError).code).toBe("E_DIVERGED");
      const after = model.params();
      expect(after.step).toBe(lastGood.step);
      expect(Array.from(after.W)).toEqual(Array.from(lastGood.W));
      expect((failure as GradlineError).details.step).toBe(lastGood.step + 1);
      engine.close();
    });

    it(`${variant.name}: standardised SGD on streamed batches reports raw-unit W, b within 1e-3`, async () => {
      const engine = await createEngine({ workers: 0, kernel: variant.name });
      const model = engine.createModel({ inputs: m, outputs: n, optimizer: { type: "sgd", lr: 0.1 } });
      const data = sensorBatch(1, 2048);
      for (let epoch = 0; epoch < 40; epoch++) {
        for (let s = 0; s < 2048; s += 64) model.train(data.x.subarray(s * m, (s + 64) * m), data.y.subarray(s * n, (s + 64) * n));
      }
      const p = model.params();
      // noise-free targets: the generating W, b are the least-squares solution; check in
      // each input's own units, since W spans 0.004 to 300
      const ls = leastSquares(data.x, data.y, m, n);
      for (let j = 0; j < n; j++) {
        for (let k = 0; k < m; k++) {
          const spread = [25, 800, 0.01][k]!;
          const effect = (w: number) => w * spread; // how much input k moves output j, in raw units
          expect(Math.abs(effect(p.W[j * m + k]!) - effect(W[j * m + k]!)), `W[${j},${k}]`).toBeLessThan(1e-3 * Math.max(1, Math.abs(effect(W[j * m + k]!))));
          expect(Math.abs(p.W[j * m + k]! - ls.W[j * m + k]!) / Math.abs(ls.W[j * m + k]!)).toBeLessThan(1e-3);
        }
        expect(Math.abs(p.b[j]! - b[j]!) / Math.abs(b[j]!), `b[${j}]`).toBeLessThan(1e-3);
      }
      // predictions come back in raw units too
      const fresh = sensorBatch(77, 16);
      expect(maxRelError(model.predict(fresh.x), fresh.y).error).toBeLessThan(1e-3);
      engine.close();
    });
  }
});
