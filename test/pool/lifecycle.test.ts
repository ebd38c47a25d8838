// The pool's life: memory growth while workers run, dispose() with steps
// queued, close() draining what was accepted, options validated.
import { describe, expect, it } from "vitest";
import { createEngine, GradlineError, type ModelOptions } from "../../host/index.js";
import { rng, normals, sameBytes } from "../helpers/random.js";
import { singleThreadSnapshot, type Batch } from "../helpers/reference.js";

const options: ModelOptions = { inputs: 32, outputs: 8, optimizer: "adam" };

function batches(seed: number, count: number, rows = 128): Batch[] {
  const r = rng(seed);
  return Array.from({ length: count }, () => ({ x: normals(r, rows * 32), y: normals(r, rows * 8) }));
}

describe("pool lifecycle", () => {
  it("grows the shared memory while workers are running, without disturbing them", async () => {
    const engine = await createEngine({ workers: 2 });
    const model = engine.createModel(options);
    const data = batches(61, 200);
    const size = engine.local.arena.byteLength;
    const acks = data.map((b) => model.train(b.x, b.y));
    // while those run: models of ~16 MiB each force the memory to grow several times
    const big = [1, 2, 3].map(() => engine.createModel({ inputs: 1024, outputs: 1024 }));
    const late = batches(62, 50);
    const lateAcks = late.map((b) => model.train(b.x, b.y));
    expect(engine.local.arena.byteLength).toBeGreaterThan(size);
    await Promise.all([...acks, ...lateAcks]);
    expect(sameBytes(model.snapshot(), await singleThreadSnapshot(options, [...data, ...late]))).toBe(true);
    // the big models train too, in the grown region
    const r = rng(63);
    expect((await big[2]!.train(normals(r, 4 * 1024), normals(r, 4 * 1024))).step).toBe(1);
    await engine.close();
  });

  it("dispose() fails queued steps with E_DISPOSED and frees the model", async () => {
    const engine = await createEngine({ workers: 1 });
    const model = engine.createModel(options);
    const outcomes = batches(64, 50).map((b) => model.train(b.x, b.y).then(() => "ok", (e: unknown) => (e as GradlineError).code));
    model.dispose();
    const codes = await Promise.all(outcomes);
    expect(codes).toContain("E_DISPOSED");
    expect(codes.filter((c) => c !== "ok" && c !== "E_DISPOSED")).toEqual([]);
    await expect(model.train(new Float32Array(32), new Float32Array(8))).rejects.toMatchObject({ code: "E_DISPOSED" });
    expect(engine.queueDepth).toBe(0);
    await engine.close();
  });

  it("close() finishes every accepted step, then refuses new work", async () => {
    const engine = await createEngine({ workers: 2 });
    const model = engine.createModel(options);
    const data = batches(65, 100);
    const acks = data.map((b) => model.train(b.x, b.y));
    const closed = engine.close();
    await expect(model.train(data[0]!.x, data[0]!.y)).rejects.toMatchObject({ code: "E_DISPOSED" });
    expect(() => engine.createModel(options)).toThrow(GradlineError);
    const results = await Promise.all(acks);
    expect(results[99]!.step).toBe(100);
    await closed;
  });

  it("validates its options", async () => {
    await expect(createEngine({ workers: -1 })).rejects.toMatchObject({ code: "E_CONFIG", message: /options\.workers/ });
    await expect(createEngine({ workers: 1.5 })).rejects.toMatchObject({ code: "E_CONFIG" });
    await expect(createEngine({ workers: 1, maxQueuedPerModel: 0 })).rejects.toMatchObject({ code: "E_CONFIG", message: /maxQueuedPerModel/ });
  });

  it("rejects bad batches and changes nothing: shapes at once, non-finite values before the step touches the model", async () => {
    const engine = await createEngine({ workers: 1 });
    const model = engine.createModel(options);
    await expect(model.train(new Float32Array(31), new Float32Array(8))).rejects.toMatchObject({ code: "E_SHAPE" });
    expect(engine.queueDepth).toBe(0);
    const x = normals(rng(66), 4 * 32);
    x[37] = Number.NaN;
    await expect(model.train(x, new Float32Array(4 * 8))).rejects.toMatchObject({ code: "E_NONFINITE", details: { index: 37, sample: 1, column: 5 } });
    expect(model.params().step).toBe(0);
    await engine.close();
  });
});
