// Running out of memory or into a limit mid-schedule fails only the step
// concerned, clearly, and the pool goes on: later steps run, close() resolves.
import { describe, expect, it } from "vitest";
import { createEngine, type PoolEngine } from "../../host/index.js";
import { rng, normals } from "../helpers/random.js";

/** Allocates all but `keep` bytes of the engine's memory; returns a function giving them back. */
function squeeze(engine: PoolEngine, keep: number): () => void {
  const arena = engine.local.arena;
  const hog: number[] = [];
  try {
    for (;;) hog.push(arena.alloc(16 * 1024, false));
  } catch {
    // the memory is full
  }
  for (let freed = 0; freed < keep; freed += 16 * 1024) arena.release(hog.pop()!);
  return () => hog.forEach((h) => arena.release(h));
}

describe("limits met while scheduling", () => {
  for (const shardRows of [1024, 256]) {
    it(`scratch that does not fit fails the step with E_MEMORY, not the pool (${shardRows === 1024 ? "fused run" : "data-parallel job"})`, async () => {
      const engine = await createEngine({ workers: 1, maximumMemoryPages: 32, shardRows });
      const model = engine.createModel({ inputs: 64, outputs: 16 });
      const r = rng(71);
      // room for the 1000-row batch (320 KB) but not for its scratch
      const giveBack = squeeze(engine, 336_000);
      await expect(model.train(normals(r, 1000 * 64), normals(r, 1000 * 16))).rejects.toMatchObject({ code: "E_MEMORY" });
      expect(engine.queueDepth).toBe(0);
      expect(engine.queuedBytes).toBe(0);
      giveBack();
      expect((await model.train(normals(r, 8 * 64), normals(r, 8 * 16))).step).toBe(1);
      await engine.close();
    });
  }

  it("a batch larger than maxQueuedBytes on its own is refused as E_SHAPE (waiting cannot help)", async () => {
    const engine = await createEngine({ workers: 1, maxQueuedBytes: 4096 });
    const model = engine.createModel({ inputs: 16, outputs: 4 });
    await expect(model.train(new Float32Array(100 * 16), new Float32Array(100 * 4))).rejects.toMatchObject({ code: "E_SHAPE", message: /can never fit maxQueuedBytes/ });
    expect((await model.train(new Float32Array(10 * 16), new Float32Array(10 * 4))).step).toBe(1);
    await engine.close();
  });

  it("restores count towards the queue limits", async () => {
    const engine = await createEngine({ workers: 1, maxQueuedPerModel: 3 });
    const model = engine.createModel({ inputs: 4, outputs: 1 });
    const bytes = model.snapshot();
    const busy = model.train(normals(rng(73), 4096 * 4), normals(rng(74), 4096)); // keeps the model busy: restores queue behind it
    const outcomes = Array.from({ length: 5 }, () => model.restore(bytes).then(() => "ok", (e: { code: string }) => e.code));
    expect(model.queueDepth).toBe(3);
    const codes = await Promise.all(outcomes);
    expect(codes).toEqual(["ok", "ok", "E_BUSY", "E_BUSY", "E_BUSY"]);
    await busy;
    expect(model.params().step).toBe(0); // the restores after the step put the initial state back
    expect(model.queueDepth).toBe(0);
    await engine.close();
  });

  it("close() called twice resolves both times", async () => {
    const engine = await createEngine({ workers: 1 });
    const model = engine.createModel({ inputs: 4, outputs: 1 });
    const r = rng(72);
    const acks = Array.from({ length: 50 }, () => model.train(normals(r, 64 * 4), normals(r, 64)));
    await Promise.all([engine.close(), engine.close(), ...acks]);
  });
});
