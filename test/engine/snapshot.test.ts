// Snapshots are complete (training resumes bit-identically from one), self-
// describing, and deterministic: same options and batches, same bytes.
import { describe, expect, it } from "vitest";
import { Packr, unpack } from "msgpackr";
import { createEngine, kernelVariants, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, type ModelOptions } from "../../host/index.js";
import { rng, normals, sameBytes } from "../helpers/random.js";

const options: ModelOptions = { inputs: 5, outputs: 3, loss: "huber", optimizer: { type: "adam", lr: 0.01 }, l2: 0.01 };

function batches(seed: number, count: number) {
  const r = rng(seed);
  return Array.from({ length: count }, () => ({ x: normals(r, 16 * 5), y: normals(r, 16 * 3) }));
}

describe("snapshot and restore", () => {
  for (const variant of kernelVariants) {
    it(`${variant.name}: resuming from a snapshot is bit-identical to never stopping`, async () => {
      const engine = await createEngine({ workers: 0, kernel: variant.name });
      const data = batches(1, 20);
      const straight = engine.createModel(options);
      for (const b of data) straight.train(b.x, b.y);

      const first = engine.createModel(options);
      for (const b of data.slice(0, 8)) first.train(b.x, b.y);
      const bytes = first.snapshot();
      first.dispose();
      // restored into a different engine, as after a restart
      const other = await createEngine({ workers: 0, kernel: variant.name });
      const resumed = other.restoreModel(bytes);
      for (const b of data.slice(8)) resumed.train(b.x, b.y);

      expect(sameBytes(resumed.snapshot(), straight.snapshot())).toBe(true);
      expect(resumed.params()).toEqual(straight.params());
      engine.close();
      other.close();
    });
  }

  it("restore() replaces state and options in place", async () => {
    const engine = await createEngine({ workers: 0 });
    const a = engine.createModel(options);
    const b = engine.createModel({ inputs: 5, outputs: 3, optimizer: "sgd", standardize: false });
    for (const batch of batches(2, 3)) a.train(batch.x, batch.y);
    b.restore(a.snapshot());
    expect(b.options).toEqual(a.options);
    expect(sameBytes(b.snapshot(), a.snapshot())).toBe(true);
    const next = batches(3, 1)[0]!;
    expect(b.train(next.x, next.y)).toEqual(a.train(next.x, next.y));
    engine.close();
  });

  it("is self-describing: a MessagePack map naming its format, options, counters and arrays", async () => {
    const engine = await createEngine({ workers: 0 });
    const model = engine.createModel(options);
    for (const b of batches(4, 2)) model.train(b.x, b.y);
    const state = unpack(model.snapshot()) as Record<string, unknown>;
    expect(state.format).toBe(SNAPSHOT_FORMAT);
    expect(state.formatVersion).toBe(SNAPSHOT_VERSION);
    expect(state.options).toEqual(model.options);
    expect(state.step).toBe(2);
    expect(state.version).toBe(2);
    expect(state.count).toBe(32);
    const p = 5 * 3 + 3;
    expect((state.theta as Uint8Array).byteLength).toBe(4 * p);
    expect((state.s1 as Uint8Array).byteLength).toBe(4 * p);
    expect((state.s2 as Uint8Array).byteLength).toBe(4 * p);
    expect((state.stats as Uint8Array).byteLength).toBe(8 * 2 * (5 + 3));
    engine.close();
  });

  it("is deterministic: same seed and batches give the same bytes, another seed does not", async () => {
    const run = async (seed: number) => {
      const engine = await createEngine({ workers: 0 });
      const model = engine.createModel({ ...options, seed });
      for (const b of batches(5, 6)) model.train(b.x, b.y);
      const bytes = model.snapshot();
      engine.close();
      return bytes;
    };
    const a = await run(9);
    expect(sameBytes(await run(9), a)).toBe(true);
    expect(sameBytes(await run(10), a)).toBe(false);
  });

  it("init starts from the given W and b", async () => {
    const engine = await createEngine({ workers: 0 });
    const W = [1, 2, 3, 4, 5, 6];
    const model = engine.createModel({ inputs: 3, outputs: 2, standardize: false, init: { W, b: [7, 8] } });
    expect(Array.from(model.params().W)).toEqual(W);
    expect(Array.from(model.params().b)).toEqual([7, 8]);
    expect(Array.from(model.predict([1, 0, -1]))).toEqual([1 - 3 + 7, 4 - 6 + 8]);
    engine.close();
  });

  it("a snapshot written before the flag rate (anomaly of 4m + 2n + 2 values) restores with a rate of 0; a bad rate or length is refused", async () => {
    const engine = await createEngine({ workers: 0 });
    const m = 5;
    const n = 3;
    const model = engine.createModel(options);
    // clean normal batches: nothing is flagged, so the rate is 0 and the old layout loses nothing
    for (const b of batches(6, 40)) model.train(b.x, b.y);
    const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });
    const state = unpack(model.snapshot()) as Record<string, unknown>;
    const anomaly = new Float64Array(Uint8Array.prototype.slice.call(state.anomaly as Uint8Array).buffer);
    expect(anomaly.length).toBe(4 * m + 2 * n + 4);
    expect(Array.from(anomaly.subarray(4 * m + 2 * n + 2))).toEqual([0, 0]);
    const withAnomaly = (values: Float64Array) => new Uint8Array(packr.pack({ ...state, anomaly: new Uint8Array(values.buffer.slice(0)) }));

    const old = engine.restoreModel(withAnomaly(anomaly.slice(0, 4 * m + 2 * n + 2)));
    expect(sameBytes(old.snapshot(), model.snapshot())).toBe(true);
    const next = batches(7, 5);
    expect(next.map((b) => old.train(b.x, b.y))).toEqual(next.map((b) => model.train(b.x, b.y)));

    const rate = (v: number) => Float64Array.from(anomaly, (x, i) => (i === 4 * m + 2 * n + 2 ? v : x));
    const before = old.snapshot();
    expect(() => old.restore(withAnomaly(rate(1.5)))).toThrow(expect.objectContaining({ code: "E_SNAPSHOT", message: expect.stringContaining("flag rate of 1.5") }));
    expect(() => old.restore(withAnomaly(anomaly.slice(0, 4 * m + 2 * n + 3)))).toThrow(
      expect.objectContaining({ code: "E_SNAPSHOT", message: expect.stringContaining(`anomaly must be ${8 * (4 * m + 2 * n + 4)} bytes`) }),
    );
    expect(sameBytes(old.snapshot(), before)).toBe(true);
    engine.close();
  });
});
