// Per-model single writer: through the pool, with any number of workers and
// interleaved pipelined submissions, every model ends bit-identical to training
// its batches in order on one thread, and its acks arrive in order.
import { describe, expect, it } from "vitest";
import { createEngine, type ModelOptions, type TrainResult } from "../../host/index.js";
import { rng, normals, sameBytes } from "../helpers/random.js";
import { singleThreadSnapshot, type Batch } from "../helpers/reference.js";

const shapes: ModelOptions[] = [
  { inputs: 3, outputs: 5, optimizer: "sgd", standardize: false },
  { inputs: 16, outputs: 4, optimizer: "adam" },
  { inputs: 7, outputs: 1, optimizer: { type: "momentum", nesterov: true }, loss: "huber" },
  { inputs: 33, outputs: 9, optimizer: "adam", l2: 0.01 },
];

function workload(models: number, batchesPerModel: number) {
  const r = rng(21);
  const options = Array.from({ length: models }, (_, i) => ({ ...shapes[i % shapes.length]!, seed: i }));
  const batches: Batch[][] = options.map((o) =>
    Array.from({ length: batchesPerModel }, (_, b) => {
      const rows = 1 + ((b * 7 + o.inputs) % 40);
      return { x: normals(r, rows * o.inputs), y: normals(r, rows * o.outputs) };
    }),
  );
  // a deterministic interleaving of (model, batch) submissions
  const order: [number, number][] = [];
  const next = new Array<number>(models).fill(0);
  while (order.length < models * batchesPerModel) {
    const i = Math.floor(r.uniform(0, models));
    if (next[i]! < batchesPerModel) order.push([i, next[i]!++]);
  }
  return { options, batches, order };
}

describe("ordered, bit-identical steps through the pool", () => {
  const { options, batches, order } = workload(12, 30);
  const references = Promise.all(options.map((o, i) => singleThreadSnapshot(o, batches[i]!)));

  for (const workers of [1, 2, 4]) {
    it(`${workers} worker(s): 12 models, 360 interleaved pipelined steps`, async () => {
      const engine = await createEngine({ workers });
      const models = options.map((o) => engine.createModel(o));
      const acks: TrainResult[][] = options.map(() => []);
      const pending = order.map(([i, b]) => models[i]!.train(batches[i]![b]!.x, batches[i]![b]!.y).then((ack) => void acks[i]!.push(ack)));
      expect(engine.queueDepth).toBeGreaterThan(0);
      await Promise.all(pending);
      const want = await references;
      models.forEach((model, i) => {
        expect(acks[i]!.map((a) => a.step), `model ${i} acks in order`).toEqual(Array.from({ length: 30 }, (_, s) => s + 1));
        expect(sameBytes(model.snapshot(), want[i]!), `model ${i} bytes`).toBe(true);
      });
      expect(engine.queueDepth).toBe(0);
      await engine.close();
    });
  }

  it("restore() is ordered with the steps around it", async () => {
    const engine = await createEngine({ workers: 2 });
    const model = engine.createModel(options[1]!);
    const first = batches[1]!.slice(0, 10);
    const second = batches[1]!.slice(10, 20);
    for (const b of first) void model.train(b.x, b.y);
    const start = (await singleThreadSnapshot(options[1]!, []));
    const restored = model.restore(start); // queued after the first ten steps
    const acks = second.map((b) => model.train(b.x, b.y));
    await restored;
    const last = await acks[acks.length - 1]!;
    expect(last.step).toBe(10);
    expect(sameBytes(model.snapshot(), await singleThreadSnapshot(options[1]!, second))).toBe(true);
    await engine.close();
  });
});
