// stageBatch(): batches written straight into the shared memory train exactly
// like copied ones, and are validated the same way.
import { describe, expect, it } from "vitest";
import { createEngine, GradlineError } from "../../host/index.js";
import { rng, normals, sameBytes } from "../helpers/random.js";

describe("zero-copy staged batches", () => {
  it("give the same steps, losses and state as copied batches", async () => {
    const engine = await createEngine({ workers: 0 });
    const copied = engine.createModel({ inputs: 6, outputs: 2, optimizer: "adam", seed: 4 });
    const staged = engine.createModel({ inputs: 6, outputs: 2, optimizer: "adam", seed: 4 });
    const r = rng(8);
    for (let i = 0; i < 10; i++) {
      const x = normals(r, 20 * 6);
      const y = normals(r, 20 * 2);
      const want = copied.train(x, y);
      const views = staged.stageBatch(20);
      expect(views.x.buffer).toBe(engine.arena.memory.buffer);
      views.x.set(x);
      views.y.set(y);
      expect(staged.train(views.x, views.y)).toEqual(want);
    }
    const views = staged.stageBatch(3);
    views.x.set(normals(r, 18));
    expect(Array.from(staged.predict(views.x))).toEqual(Array.from(copied.predict(Float32Array.from(views.x))));
    expect(sameBytes(staged.snapshot(), copied.snapshot())).toBe(true);
    engine.close();
  });

  it("are validated like any batch", async () => {
    const engine = await createEngine({ workers: 0 });
    const model = engine.createModel({ inputs: 2, outputs: 1 });
    const views = model.stageBatch(4);
    views.x.fill(1);
    views.y.fill(2);
    views.x[5] = Number.NaN;
    expect(() => model.train(views.x, views.y)).toThrow(GradlineError);
    expect(model.params().step).toBe(0);
    expect(() => model.stageBatch(0)).toThrow(/batch must be an integer from 1/);
    engine.close();
  });
});
