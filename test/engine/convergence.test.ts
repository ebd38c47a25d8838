// Training converges to the closed-form least-squares solution (normal
// equations in f64, test/helpers/leastSquares.ts).
import { describe, expect, it } from "vitest";
import { createEngine, kernelVariants } from "../../host/index.js";
import { rng, normals, linearTargets, maxRelError } from "../helpers/random.js";
import { leastSquares } from "../helpers/leastSquares.js";

const m = 6;
const n = 3;
const samples = 512;

function problem(seed: number, noise: number) {
  const r = rng(seed);
  const W = Float32Array.from({ length: n * m }, () => r.uniform(-2, 2));
  const b = Float32Array.from({ length: n }, () => r.uniform(-1, 1));
  const x = normals(r, samples * m);
  const y = linearTargets(x, W, b, m, n, noise, r);
  return { W, b, x, y };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tolerance: number, what: string) {
  const { error, index } = maxRelError(got, want);
  expect(error, `${what}[${index}]: got ${got[index]}, want ${want[index]}`).toBeLessThan(tolerance);
}

describe("convergence to the least-squares solution", () => {
  for (const variant of kernelVariants) {
    it(`${variant.name}: noise-free data, SGD on mini-batches of 64 recovers W and b within 1e-3`, async () => {
      const engine = await createEngine({ workers: 0, kernel: variant.name });
      const truth = problem(1, 0);
      const model = engine.createModel({ inputs: m, outputs: n, standardize: false, optimizer: { type: "sgd", lr: 0.1 } });
      for (let epoch = 0; epoch < 60; epoch++) {
        for (let s = 0; s < samples; s += 64) model.train(truth.x.subarray(s * m, (s + 64) * m), truth.y.subarray(s * n, (s + 64) * n));
      }
      const p = model.params();
      // noise-free targets: the least-squares solution is the generating W, b
      expectClose(p.W, truth.W, 1e-3, "W");
      expectClose(p.b, truth.b, 1e-3, "b");
      engine.close();
    });

    it(`${variant.name}: noisy data with L2, full-batch momentum reaches the ridge solution within 1e-3`, async () => {
      const engine = await createEngine({ workers: 0, kernel: variant.name });
      const data = problem(2, 0.5);
      const l2 = 0.02;
      const ridge = leastSquares(data.x, data.y, m, n, l2);
      const model = engine.createModel({ inputs: m, outputs: n, standardize: false, l2, optimizer: { type: "momentum", lr: 0.05, momentum: 0.9 } });
      for (let i = 0; i < 600; i++) model.train(data.x, data.y);
      const p = model.params();
      expectClose(p.W, ridge.W, 1e-3, "W");
      expectClose(p.b, ridge.b, 1e-3, "b");
      // and not the generating parameters: noise and L2 moved the optimum
      expect(maxRelError(p.W, data.W).error).toBeGreaterThan(1e-3);
      engine.close();
    });

    it(`${variant.name}: noisy data, standardised Adam reaches the least-squares solution in raw units within 1e-3`, async () => {
      const engine = await createEngine({ workers: 0, kernel: variant.name });
      const data = problem(3, 0.5);
      const ls = leastSquares(data.x, data.y, m, n);
      const model = engine.createModel({ inputs: m, outputs: n, optimizer: { type: "adam", lr: 0.01 } });
      for (let i = 0; i < 3000; i++) model.train(data.x, data.y);
      const p = model.params();
      expectClose(p.W, ls.W, 1e-3, "W");
      expectClose(p.b, ls.b, 1e-3, "b");
      engine.close();
    });
  }
});
