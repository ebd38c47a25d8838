// Batches above shardRows are split into shards across the workers; the
// result is the same bytes for any worker count and for one thread.
import { describe, expect, it } from "vitest";
import { createEngine, GradlineError, type ModelOptions } from "../../host/index.js";
import { rng, normals, sameBytes } from "../helpers/random.js";
import { singleThreadSnapshot, type Batch } from "../helpers/reference.js";

const shardRows = 128;

function batches(options: ModelOptions, count: number, rows: number): Batch[] {
  const r = rng(31);
  return Array.from({ length: count }, () => ({
    x: Float32Array.from(normals(r, rows * options.inputs), (v, i) => v * (1 + (i % 5)) + 10 * (i % 3)),
    y: normals(r, rows * options.outputs),
  }));
}

describe("data-parallel steps", () => {
  const cases: ModelOptions[] = [
    { inputs: 24, outputs: 6, optimizer: "adam" }, // standardised: moments, merge, gradient, apply
    { inputs: 24, outputs: 6, optimizer: "momentum", standardize: false, loss: "huber", l2: 0.01 },
  ];
  for (const options of cases) {
    // 1000 rows: 8 shards, the last of 104 rows; mixed with small steps that run fused
    const data = [...batches(options, 4, 1000), ...batches(options, 2, 50), ...batches(options, 2, 1000)];
    const reference = singleThreadSnapshot(options, data, shardRows);
    for (const workers of [1, 2, 4]) {
      it(`${workers} worker(s), standardize ${options.standardize ?? true}: same bytes as one thread`, async () => {
        const engine = await createEngine({ workers, shardRows });
        const model = engine.createModel(options);
        const acks = await Promise.all(data.map((b) => model.train(b.x, b.y)));
        expect(acks.map((a) => a.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
        expect(sameBytes(model.snapshot(), await reference)).toBe(true);
        await engine.close();
      });
    }
  }

  it("a non-finite value in any shard rejects the whole step with its index in the batch", async () => {
    const options: ModelOptions = { inputs: 8, outputs: 2 };
    const engine = await createEngine({ workers: 2, shardRows });
    const model = engine.createModel(options);
    const [good, bad] = batches(options, 2, 1000);
    await model.train(good!.x, good!.y);
    const before = model.snapshot();
    bad!.x[700 * 8 + 3] = Number.POSITIVE_INFINITY; // shard 5
    bad!.x[900 * 8 + 1] = Number.NaN; // shard 7: later in the batch, not reported
    bad!.y[10] = Number.NaN; // shard 0, but y: x is validated first
    const error = await model.train(bad!.x, bad!.y).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(GradlineError);
    expect((error as GradlineError).details).toMatchObject({ array: "x", index: 700 * 8 + 3, sample: 700, column: 3 });
    expect(sameBytes(model.snapshot(), before)).toBe(true);
    expect((await model.train(good!.x, good!.y)).step).toBe(2);
    await engine.close();
  });
});
