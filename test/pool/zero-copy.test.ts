// stageBatch() in a pool: batches written straight into the shared memory are
// taken without a copy and train exactly like copied ones.
import { describe, expect, it } from "vitest";
import { createEngine, type ModelOptions } from "../../host/index.js";
import { rng, normals, sameBytes } from "../helpers/random.js";
import { singleThreadSnapshot, type Batch } from "../helpers/reference.js";

const options: ModelOptions = { inputs: 12, outputs: 3, optimizer: "adam" };

describe("zero-copy staged batches in a pool", () => {
  it("train like copied batches, small and data-parallel, and are validated the same way", async () => {
    const engine = await createEngine({ workers: 2, shardRows: 64 });
    const model = engine.createModel(options);
    const r = rng(81);
    const batches: Batch[] = [20, 300, 7, 200].map((rows) => ({ x: normals(r, rows * 12), y: normals(r, rows * 3) }));
    const acks = batches.map((b) => {
      const staged = model.stageBatch(b.x.length / 12);
      staged.x.set(b.x);
      staged.y.set(b.y);
      return model.train(staged.x, staged.y);
    });
    await Promise.all(acks);
    expect(sameBytes(model.snapshot(), await singleThreadSnapshot(options, batches, 64))).toBe(true);

    const bad = model.stageBatch(4);
    bad.x.fill(1);
    bad.y.fill(Number.NaN);
    await expect(model.train(bad.x, bad.y)).rejects.toMatchObject({ code: "E_NONFINITE", details: { array: "y", index: 0 } });
    expect(() => model.stageBatch(0)).toThrow(/batch must be an integer from 1/);
    expect(engine.queuedBytes).toBe(0);
    await engine.close();
  });

  it("are not taken twice: a second train() on the same views copies them", async () => {
    const engine = await createEngine({ workers: 1 });
    const model = engine.createModel(options);
    const staged = model.stageBatch(8);
    const r = rng(82);
    staged.x.set(normals(r, 8 * 12));
    staged.y.set(normals(r, 8 * 3));
    const kept = { x: Float32Array.from(staged.x), y: Float32Array.from(staged.y) };
    const first = model.train(staged.x, staged.y);
    const second = model.train(staged.x, staged.y); // the buffer now belongs to the first step: this one copies it
    await Promise.all([first, second]);
    expect(sameBytes(model.snapshot(), await singleThreadSnapshot(options, [kept, kept]))).toBe(true);
    await engine.close();
  });
});
