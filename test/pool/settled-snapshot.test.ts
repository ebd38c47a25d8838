// settledSnapshot() is taken between steps, in queue order: after every step accepted
// before it and before any accepted after, however the pool batches steps into tasks.
import { describe, expect, it } from "vitest";
import { createEngine } from "../../host/index.js";
import { linearTargets, normals, rng } from "../helpers/random.js";

describe("pool settledSnapshot", () => {
  it("holds exactly the steps queued before it, with more queued behind", async () => {
    const r = rng(8);
    const data = Array.from({ length: 300 }, () => {
      const x = normals(r, 16 * 4);
      return { x, y: linearTargets(x, [1, -2, 0.5, 3], [0.1], 4, 1, 0.1, r) };
    });
    const options = { inputs: 4, outputs: 1, optimizer: { type: "adam", lr: 0.01 } } as const;
    const local = await createEngine({ workers: 0 });
    const pool = await createEngine({ workers: 2 });
    const model = pool.createModel(options);
    const cuts = [1, 77, 150, 299];
    const steps: Promise<unknown>[] = [];
    const snapshots: Promise<Uint8Array>[] = [];
    data.forEach(({ x, y }, i) => {
      steps.push(model.train(x, y));
      if (cuts.includes(i + 1)) snapshots.push(model.settledSnapshot());
    });
    await Promise.all(steps);
    const reference = local.createModel(options);
    const expected: Uint8Array[] = [];
    data.forEach(({ x, y }, i) => {
      reference.train(x, y);
      if (cuts.includes(i + 1)) expected.push(reference.snapshot());
    });
    const taken = await Promise.all(snapshots);
    taken.forEach((bytes, k) => expect(Buffer.from(bytes).equals(Buffer.from(expected[k]!)), `after ${cuts[k]} steps`).toBe(true));
    await pool.close();
    local.close();
  });
});
