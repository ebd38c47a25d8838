// Kernel gradients against central finite differences of the loss the kernels
// report (plus the L2 term (l2/2)‖W‖², whose gradient l2·W the kernels add).
import { describe, expect, it } from "vitest";
import { pack, unpack } from "msgpackr";
import { createEngine, kernelVariants, type Model } from "../../host/index.js";
import { rng, normals, sameBytes } from "../helpers/random.js";

const m = 5;
const n = 3;
const batch = 9; // not a multiple of the vector width: exercises the tails

/** A copy of `model`'s state with θ[index] moved by `delta`, as snapshot bytes. */
function moved(snapshot: Uint8Array, index: number, delta: number): Uint8Array {
  const state = unpack(snapshot) as Record<string, unknown>;
  const theta = new Float32Array(new Uint8Array(state.theta as Uint8Array).buffer);
  theta[index]! += delta;
  state.theta = new Uint8Array(theta.buffer);
  return pack(state);
}

function objective(model: Model, x: Float32Array, y: Float32Array, l2: number): number {
  const theta = new Float32Array(new Uint8Array((unpack(model.snapshot()) as { theta: Uint8Array }).theta).buffer);
  let penalty = 0;
  for (let i = 0; i < n * m; i++) penalty += theta[i]! * theta[i]!;
  return model.evaluate(x, y) + (l2 / 2) * penalty;
}

const cases = [
  { loss: "mse", l2: 0, standardize: false },
  { loss: "mse", l2: 0.3, standardize: false },
  { loss: "huber", l2: 0, standardize: false },
  { loss: "huber", l2: 0.3, standardize: false },
  { loss: "mse", l2: 0.3, standardize: true },
  { loss: "huber", l2: 0.3, standardize: true },
] as const;

describe("gradient vs central finite differences", () => {
  for (const variant of kernelVariants) {
    for (const c of cases) {
      it(`${variant.name}: ${c.loss}, l2 ${c.l2}, standardize ${c.standardize}`, async () => {
        const engine = await createEngine({ workers: 0, kernel: variant.name });
        const r = rng(11);
        // inputs on different scales so standardisation has real statistics to apply
        const x = Float32Array.from({ length: batch * m }, (_, i) => r.normal() * (1 + (i % m)) + (i % m));
        const y = Float32Array.from(normals(r, batch * n), (v) => 3 * v);
        const model = engine.createModel({ inputs: m, outputs: n, loss: c.loss, huberDelta: 0.5, l2: c.l2, standardize: c.standardize, seed: 3 });
        // a few steps first: non-trivial θ and, when standardising, non-trivial statistics
        for (let i = 0; i < 3; i++) model.train(normals(r, batch * m), normals(r, batch * n));
        const base = model.snapshot();
        const g = model.gradient(x, y);
        const analytic = [...g.W, ...g.b];
        const h = 1e-2;
        const scale = Math.max(...analytic.map(Math.abs));
        expect(scale).toBeGreaterThan(1e-3);
        for (let i = 0; i < analytic.length; i++) {
          model.restore(moved(base, i, h));
          const up = objective(model, x, y, c.l2);
          model.restore(moved(base, i, -h));
          const down = objective(model, x, y, c.l2);
          const numeric = (up - down) / (2 * h);
          // Huber's kinks and f32 rounding bound the agreement to a small fraction of the largest entry
          expect(Math.abs(numeric - analytic[i]!), `θ[${i}]: numeric ${numeric}, analytic ${analytic[i]}`).toBeLessThan(5e-3 * scale);
        }
        model.restore(base);
        expect(sameBytes(model.snapshot(), base)).toBe(true);
        engine.close();
      });
    }
  }
});
