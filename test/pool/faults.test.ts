// A worker that dies mid-step fails only the steps it held, with E_WORKER; the
// model is left as before them, every acknowledged step is kept, and the pool
// replaces the worker and keeps serving.
import { describe, expect, it } from "vitest";
import { createEngine, GradlineError, type ModelOptions, type PoolEngine } from "../../host/index.js";
import { rng, normals, sameBytes } from "../helpers/random.js";
import { singleThreadSnapshot, type Batch } from "../helpers/reference.js";

const killAll = (engine: PoolEngine) => Promise.all(engine.threads.map((t) => t.terminate()));

describe("worker faults", () => {
  it("killed during a large step: E_WORKER, the model unchanged, the pool serving", async () => {
    const options: ModelOptions = { inputs: 256, outputs: 64, optimizer: "adam" };
    const engine = await createEngine({ workers: 2 });
    const model = engine.createModel(options);
    const r = rng(41);
    const small = { x: normals(r, 64 * 256), y: normals(r, 64 * 64) };
    await model.train(small.x, small.y);
    const before = model.snapshot();
    // 16384 rows: a data-parallel step of tens of milliseconds
    const big = model.train(normals(r, 16384 * 256), normals(r, 16384 * 64)).then(() => undefined, (e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await killAll(engine);
    const error = await big;
    expect(error).toBeInstanceOf(GradlineError);
    expect((error as GradlineError).code).toBe("E_WORKER");
    expect(sameBytes(model.snapshot(), before)).toBe(true);
    expect((await model.train(small.x, small.y)).step).toBe(2);
    expect(engine.queueDepth).toBe(0);
    await engine.close();
  });

  it("killed under a stream of small steps: what was acknowledged is exactly what was applied", async () => {
    const options: ModelOptions = { inputs: 64, outputs: 16, optimizer: "momentum" };
    const engine = await createEngine({ workers: 2 });
    const models = [engine.createModel(options), engine.createModel(options)];
    const r = rng(42);
    const sent: Batch[][] = [[], []];
    const acked: Batch[][] = [[], []];
    const outcomes: Promise<unknown>[] = [];
    let failures = 0;
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 300; i++) {
        const which = i % 2;
        const batch = { x: normals(r, 256 * 64), y: normals(r, 256 * 16) };
        sent[which]!.push(batch);
        outcomes.push(
          models[which]!.train(batch.x, batch.y).then(
            () => void acked[which]!.push(batch),
            (e: unknown) => {
              expect((e as GradlineError).code).toBe("E_WORKER");
              failures++;
            },
          ),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
      await killAll(engine);
    }
    await Promise.all(outcomes);
    expect(failures).toBeGreaterThan(0);
    for (const which of [0, 1]) {
      expect(acked[which]!.length).toBeGreaterThan(0);
      // acks resolve in order, so `acked` is the applied sequence; replaying it on one thread gives the same bytes
      expect(sameBytes(models[which]!.snapshot(), await singleThreadSnapshot(options, acked[which]!)), `model ${which}`).toBe(true);
    }
    await engine.close();
  });
});
