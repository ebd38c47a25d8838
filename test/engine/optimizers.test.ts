// SGD, momentum (plain and Nesterov) and Adam, with and without L2, against the
// plain TypeScript implementation of each update rule, step by step.
import { describe, expect, it } from "vitest";
import { createEngine, kernelVariants, linearInit, type OptimizerOptions } from "../../host/index.js";
import { PlainLinear, type PlainOptimizer } from "../../bench/plain.js";
import { rng, normals, maxRelError } from "../helpers/random.js";

const m = 7;
const n = 3;
const batch = 13;

const optimizers: PlainOptimizer[] = [
  { type: "sgd", lr: 0.05 },
  { type: "momentum", lr: 0.02, momentum: 0.9, nesterov: false },
  { type: "momentum", lr: 0.02, momentum: 0.8, nesterov: true },
  { type: "adam", lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
  { type: "adam", lr: 0.05, beta1: 0.5, beta2: 0.9, eps: 1e-3 },
];

describe("optimisers vs the plain TypeScript update rules", () => {
  for (const variant of kernelVariants) {
    for (const optimizer of optimizers) {
      for (const l2 of [0, 0.05]) {
        for (const loss of ["mse", "huber"] as const) {
          const name = `${variant.name}: ${JSON.stringify(optimizer)}, l2 ${l2}, ${loss}`;
          it(name, async () => {
            const engine = await createEngine({ workers: 0, kernel: variant.name });
            const init = linearInit(m, n, 5);
            const model = engine.createModel({
              inputs: m, outputs: n, loss, huberDelta: 0.7, l2, standardize: false,
              optimizer: optimizer as OptimizerOptions, init,
            });
            const plain = new PlainLinear({ inputs: m, outputs: n, loss, huberDelta: 0.7, l2, optimizer }, init.W, init.b);
            const r = rng(99);
            for (let step = 1; step <= 40; step++) {
              const x = normals(r, batch * m);
              const y = normals(r, batch * n);
              const got = model.train(x, y);
              const want = plain.train(x, y, batch);
              expect(got.step).toBe(step);
              expect(Math.abs(got.loss - want) / Math.max(1, want), `loss at step ${step}`).toBeLessThan(1e-5);
              const p = model.params();
              const wErr = maxRelError(p.W, plain.theta.subarray(0, n * m));
              const bErr = maxRelError(p.b, plain.theta.subarray(n * m));
              expect(wErr.error, `W[${wErr.index}] at step ${step}`).toBeLessThan(1e-5);
              expect(bErr.error, `b[${bErr.index}] at step ${step}`).toBeLessThan(1e-5);
            }
            engine.close();
          });
        }
      }
    }
  }
});
