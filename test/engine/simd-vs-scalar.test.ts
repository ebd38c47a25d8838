// The SIMD kernels against the scalar reference build, on shapes below, equal
// to, a multiple of and above the vector width (4) and the register blocks
// (4×8 forward, 2×4 gradient). The staging area is filled with NaN before every
// call, so an output element or pad lane the kernels forget to write fails.
import { describe, expect, it } from "vitest";
import { createEngine, type Engine, type ModelOptions } from "../../host/index.js";
import { rng, normals, maxRelError } from "../helpers/random.js";

const widths = [1, 3, 4, 5, 8, 9, 17];
const batches = [1, 3, 4, 7, 8, 16, 33];

function poisonStaging(engine: Engine, m: number, n: number, batch: number) {
  const stage = engine.stage(m, n, batch);
  const end = stage.scratch + engine.kernels.scratch_bytes(m, n, batch);
  engine.arena.f32.fill(Number.NaN, stage.x >>> 2, end >>> 2);
}

describe("SIMD kernels agree with the scalar reference", async () => {
  const simd = await createEngine({ workers: 0, kernel: "simd" });
  const scalar = await createEngine({ workers: 0, kernel: "scalar" });

  for (const m of widths) {
    for (const n of widths) {
      it(`m=${m}, n=${n}: train, evaluate, gradient and predict over batch sizes ${batches.join(", ")}`, () => {
        const r = rng(m * 100 + n);
        const options: ModelOptions = { inputs: m, outputs: n, loss: m % 2 ? "mse" : "huber", optimizer: n % 2 ? "adam" : "momentum", l2: 0.01, seed: m + n };
        const a = simd.createModel(options);
        const b = scalar.createModel(options);
        for (const batch of batches) {
          const x = normals(r, batch * m);
          const y = normals(r, batch * n);
          for (const [engine] of [[simd], [scalar]] as const) poisonStaging(engine, m, n, batch);
          const ga = a.gradient(x, y);
          const gb = b.gradient(x, y);
          expect(Math.abs(ga.loss - gb.loss) / Math.max(1, gb.loss), `loss, batch ${batch}`).toBeLessThan(1e-5);
          const ew = maxRelError(ga.W, gb.W);
          expect(ew.error, `∂W[${ew.index}], batch ${batch}`).toBeLessThan(1e-5);
          expect(maxRelError(ga.b, gb.b).error, `∂b, batch ${batch}`).toBeLessThan(1e-5);

          poisonStaging(simd, m, n, batch);
          poisonStaging(scalar, m, n, batch);
          const ta = a.train(x, y);
          const tb = b.train(x, y);
          expect(ta.step).toBe(tb.step);
          expect(Math.abs(ta.loss - tb.loss) / Math.max(1, tb.loss)).toBeLessThan(1e-5);

          poisonStaging(simd, m, n, batch);
          poisonStaging(scalar, m, n, batch);
          const pa = a.predict(x);
          const pb = b.predict(x);
          expect(pa.every(Number.isFinite), `predictions finite, batch ${batch}`).toBe(true);
          expect(maxRelError(pa, pb).error, `predict, batch ${batch}`).toBeLessThan(1e-4);
          expect(Math.abs(a.evaluate(x, y) - b.evaluate(x, y))).toBeLessThan(1e-4);
        }
        const pa = a.params();
        const pb = b.params();
        expect(maxRelError(pa.W, pb.W).error).toBeLessThan(1e-4);
        expect(maxRelError(pa.b, pb.b).error).toBeLessThan(1e-4);
        a.dispose();
        b.dispose();
      });
    }
  }
});
