// Data-parallel (sharded) steps: same math as one fused step, deterministic
// for a given shardRows, and validated like any step.
import { describe, expect, it } from "vitest";
import { createEngine, kernelVariants, linearInit, GradlineError } from "../../host/index.js";
import { PlainLinear } from "../../bench/plain.js";
import { rng, normals, maxRelError, sameBytes } from "../helpers/random.js";

const m = 6;
const n = 3;
const batch = 70; // with shardRows 16: five shards, the last of 6 rows

describe("sharded training steps", () => {
  for (const variant of kernelVariants) {
    it(`${variant.name}: match the plain TypeScript step (Adam, Huber, L2) at every step`, async () => {
      const engine = await createEngine({ workers: 0, kernel: variant.name, shardRows: 16 });
      const init = linearInit(m, n, 2);
      const optimizer = { type: "adam", lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 } as const;
      const model = engine.createModel({ inputs: m, outputs: n, standardize: false, loss: "huber", l2: 0.01, optimizer, init });
      const plain = new PlainLinear({ inputs: m, outputs: n, loss: "huber", huberDelta: 1, l2: 0.01, optimizer }, init.W, init.b);
      const r = rng(3);
      for (let step = 0; step < 30; step++) {
        const x = normals(r, batch * m);
        const y = normals(r, batch * n);
        expect(Math.abs(model.train(x, y).loss - plain.train(x, y, batch))).toBeLessThan(1e-5);
      }
      expect(maxRelError(model.params().W, plain.theta.subarray(0, n * m)).error).toBeLessThan(1e-5);
      engine.close();
    });

    it(`${variant.name}: with standardisation, agree with fused steps on the same batches`, async () => {
      const sharded = await createEngine({ workers: 0, kernel: variant.name, shardRows: 16 });
      const fused = await createEngine({ workers: 0, kernel: variant.name });
      const a = sharded.createModel({ inputs: m, outputs: n, optimizer: "momentum", seed: 5 });
      const b = fused.createModel({ inputs: m, outputs: n, optimizer: "momentum", seed: 5 });
      const r = rng(4);
      for (let step = 0; step < 20; step++) {
        const x = Float32Array.from(normals(r, batch * m), (v, i) => 100 * v + 50 * (i % m));
        const y = normals(r, batch * n);
        const la = a.train(x, y).loss;
        const lb = b.train(x, y).loss;
        expect(Math.abs(la - lb) / lb, `loss at step ${step}`).toBeLessThan(1e-4);
      }
      expect(maxRelError(a.params().W, b.params().W).error).toBeLessThan(1e-4);
      expect(maxRelError(a.params().b, b.params().b).error).toBeLessThan(1e-4);
      sharded.close();
      fused.close();
    });
  }

  it("are deterministic: the same shardRows gives the same bytes", async () => {
    const run = async () => {
      const engine = await createEngine({ workers: 0, shardRows: 16 });
      const model = engine.createModel({ inputs: m, outputs: n, optimizer: "adam" });
      const r = rng(6);
      for (let i = 0; i < 5; i++) model.train(normals(r, batch * m), normals(r, batch * n));
      const bytes = model.snapshot();
      engine.close();
      return bytes;
    };
    expect(sameBytes(await run(), await run())).toBe(true);
  });

  it("report a non-finite value by its index in the whole batch, and change nothing", async () => {
    for (const standardize of [true, false]) {
      const engine = await createEngine({ workers: 0, shardRows: 16 });
      const model = engine.createModel({ inputs: m, outputs: n, standardize });
      const r = rng(7);
      model.train(normals(r, batch * m), normals(r, batch * n));
      const before = model.snapshot();
      const x = normals(r, batch * m);
      const y = normals(r, batch * n);
      y[50 * n + 2] = Number.NaN; // row 50: the fourth shard
      let error: unknown;
      try {
        model.train(x, y);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(GradlineError);
      expect((error as GradlineError).details).toMatchObject({ array: "y", index: 50 * n + 2, sample: 50, column: 2 });
      expect(sameBytes(model.snapshot(), before)).toBe(true);
      engine.close();
    }
  });

  it("roll back a diverging step", async () => {
    const engine = await createEngine({ workers: 0, shardRows: 16 });
    const model = engine.createModel({ inputs: m, outputs: n, standardize: false, optimizer: { type: "sgd", lr: 1e30 } });
    const r = rng(8);
    const before = model.snapshot();
    expect(() => model.train(Float32Array.from(normals(r, batch * m), (v) => v * 1e20), normals(r, batch * n))).toThrow(/step 1 would make/);
    expect(sameBytes(model.snapshot(), before)).toBe(true);
    engine.close();
  });
});

describe("sharded validation order", () => {
  it("reports the batch's first bad value in x before any in y, as a whole-batch step does", async () => {
    const engine = await createEngine({ workers: 0, shardRows: 16 });
    const model = engine.createModel({ inputs: m, outputs: n });
    const r = rng(9);
    const x = normals(r, batch * m);
    const y = normals(r, batch * n);
    y[0] = Number.NaN; // shard 0
    x[40 * m + 1] = Number.NaN; // shard 2
    expect(() => model.train(x, y)).toThrow(expect.objectContaining({ details: expect.objectContaining({ array: "x", index: 40 * m + 1 }) }));
    engine.close();
  });
});
