// Bounded queues: beyond a limit train() rejects at once with E_BUSY, the
// depth is visible, and every accepted step is applied.
import { describe, expect, it } from "vitest";
import { createEngine, GradlineError, type ModelOptions } from "../../host/index.js";
import { rng, normals, sameBytes } from "../helpers/random.js";
import { singleThreadSnapshot, type Batch } from "../helpers/reference.js";

const options: ModelOptions = { inputs: 16, outputs: 4 };

/** Submits perModel steps to each of `models` models without waiting; returns what was acked and what was refused. */
async function flood(engineOptions: { maxQueuedSteps?: number; maxQueuedBytes?: number }, models: number, perModel: number) {
  const engine = await createEngine({ workers: 1, ...engineOptions });
  const handles = Array.from({ length: models }, () => engine.createModel(options));
  const r = rng(51);
  const busy: GradlineError[] = [];
  const acked = new Array<number>(models).fill(0);
  const outcomes: Promise<unknown>[] = [];
  for (let i = 0; i < perModel; i++) {
    handles.forEach((model, m) => {
      outcomes.push(
        model.train(normals(r, 64 * 16), normals(r, 64 * 4)).then(
          () => void acked[m]!++,
          (e: unknown) => void busy.push(e as GradlineError),
        ),
      );
    });
  }
  await Promise.all(outcomes);
  return { engine, handles, acked, busy };
}

describe("backpressure", () => {
  it("per model: steps beyond maxQueuedPerModel fail at once with E_BUSY, the accepted ones are all applied", async () => {
    const engine = await createEngine({ workers: 1, maxQueuedPerModel: 5 });
    const model = engine.createModel(options);
    const r = rng(52);
    const accepted: Batch[] = [];
    const outcomes: Promise<string>[] = [];
    for (let i = 0; i < 40; i++) {
      const batch = { x: normals(r, 64 * 16), y: normals(r, 64 * 4) };
      const depth = model.queueDepth;
      outcomes.push(model.train(batch.x, batch.y).then(() => "ok", (e: unknown) => (e as GradlineError).code));
      if (model.queueDepth > depth) accepted.push(batch);
      expect(model.queueDepth).toBeLessThanOrEqual(5);
    }
    const codes = await Promise.all(outcomes);
    expect(codes.filter((c) => c === "ok")).toHaveLength(accepted.length);
    expect(codes.filter((c) => c === "E_BUSY").length).toBe(40 - accepted.length);
    expect(accepted.length).toBeLessThan(40);
    expect(sameBytes(model.snapshot(), await singleThreadSnapshot(options, accepted))).toBe(true);
    expect(model.queueDepth).toBe(0);
    await engine.close();
  });

  it("engine-wide step and byte limits reject with E_BUSY naming the limit", async () => {
    for (const [limit, engineOptions] of [
      ["engine steps", { maxQueuedSteps: 8 }],
      ["engine bytes", { maxQueuedBytes: 20 * 64 * 20 * 4 }],
    ] as const) {
      const run = await flood(engineOptions, 4, 10);
      expect(run.busy.length).toBeGreaterThan(0);
      for (const e of run.busy) expect(e.details.limit).toBe(limit);
      expect(run.busy.length + run.acked.reduce((a, b) => a + b, 0)).toBe(40);
      // every accepted step was applied, each model counting exactly its acks
      run.handles.forEach((model, m) => expect(model.params().step).toBe(run.acked[m]));
      expect(run.engine.queueDepth).toBe(0);
      expect(run.engine.queuedBytes).toBe(0);
      await run.engine.close();
    }
  });
});
