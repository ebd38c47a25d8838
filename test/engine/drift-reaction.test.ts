// What a drift alarm does when asked to: "reset" zeroes the optimiser state at the
// alarm step, "boost" multiplies the learning rate for boostSteps steps (checked
// against a twin that only reports), and either way a pool lands the reaction on
// exactly the step the in-process engine does: the same bytes for any worker count.
import { unpack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { createEngine, type ModelOptions } from "../../host/index.js";
import { linearTargets, normals, rng } from "../helpers/random.js";

const CHANGE = 300;

/** Batches of y = W x + noise whose W changes at CHANGE. */
function batches(seed: number, count: number): { x: Float32Array; y: Float32Array }[] {
  const r = rng(seed);
  const before = [1, -1, 0.5, 0.2, 0.4, -0.6];
  const after = [-1, 1, 0.5, 0.2, 1.4, 0.6];
  return Array.from({ length: count }, (_, i) => {
    const x = normals(r, 32 * 3);
    return { x, y: linearTargets(x, i < CHANGE ? before : after, [0, 0], 3, 2, 0.1, r) };
  });
}

const state = (bytes: Uint8Array) => unpack(bytes) as { theta: Uint8Array; s1: Uint8Array; s2: Uint8Array };
const floats = (bin: Uint8Array) => new Float32Array(Uint8Array.prototype.slice.call(bin).buffer);

describe("drift reactions", () => {
  it("reset: the optimiser state is zero right after the alarm step", async () => {
    const engine = await createEngine({ workers: 0 });
    const model = engine.createModel({ inputs: 3, outputs: 2, optimizer: { type: "adam", lr: 0.01 }, drift: { onDrift: "reset" } });
    let alarm = 0;
    for (const { x, y } of batches(1, 400)) {
      const result = model.train(x, y);
      if (result.drift && alarm === 0) {
        alarm = result.step;
        const { s1, s2 } = state(model.snapshot());
        expect(floats(s1).every((v) => v === 0)).toBe(true);
        expect(floats(s2).every((v) => v === 0)).toBe(true);
      }
    }
    expect(alarm).toBeGreaterThan(CHANGE);
    expect(alarm).toBeLessThanOrEqual(CHANGE + 20);
    engine.close();
  });

  it("boost: identical to a twin that only reports up to the alarm, then steps of boost × lr", async () => {
    const engine = await createEngine({ workers: 0 });
    const base: ModelOptions = { inputs: 3, outputs: 2, optimizer: { type: "sgd", lr: 0.01 }, standardize: false };
    const boosted = engine.createModel({ ...base, drift: { onDrift: "boost", boost: 10, boostSteps: 5 } });
    const twin = engine.createModel({ ...base, drift: { onDrift: "report" } });
    const data = batches(2, 400);
    let next = 0;
    for (; next < data.length; next++) {
      const { x, y } = data[next]!;
      const alarm = boosted.train(x, y).drift;
      twin.train(x, y);
      // the reaction comes after the alarm step: up to it the two are the same model
      expect(Array.from(floats(state(boosted.snapshot()).theta))).toEqual(Array.from(floats(state(twin.snapshot()).theta)));
      if (alarm) break;
    }
    expect(next).toBeGreaterThanOrEqual(CHANGE);
    // SGD without standardisation: Δθ = −lr·∇L(θ); for boostSteps steps lr is 10 × 0.01
    const steps = (count: number, lr: number) => {
      for (let i = 0; i < count; i++) {
        const { x, y } = data[++next]!;
        const gradient = boosted.gradient(x, y);
        const before = floats(state(boosted.snapshot()).theta);
        boosted.train(x, y);
        const after = floats(state(boosted.snapshot()).theta);
        gradient.W.forEach((g, k) => expect(after[k]! - before[k]!, `step ${next}, W[${k}]`).toBeCloseTo(-lr * g, 5));
      }
    };
    steps(5, 0.1);
    steps(3, 0.01); // the boost is over: lr is back
    engine.close();
  });

  it("a pool lands every reaction on the same step: the same bytes as in-process, for 1 and 2 workers", async () => {
    const configs: ModelOptions[] = [
      { inputs: 3, outputs: 2, optimizer: { type: "adam", lr: 0.01 }, drift: { onDrift: "reset" } },
      { inputs: 3, outputs: 2, optimizer: { type: "sgd", lr: 0.02 }, drift: { onDrift: "boost", boost: 5, boostSteps: 20 } },
      { inputs: 3, outputs: 2, optimizer: { type: "momentum", lr: 0.01 }, drift: { onDrift: "boost", boost: 3, boostSteps: 7 } },
    ];
    const data = configs.map((_, k) => batches(10 + k, 450));
    const reference = await createEngine({ workers: 0 });
    const expected = configs.map((config, k) => {
      const model = reference.createModel(config);
      const alarms = data[k]!.map(({ x, y }) => model.train(x, y).drift?.step ?? 0).filter((s) => s > 0);
      return { alarms, bytes: model.snapshot() };
    });
    reference.close();
    for (const workers of [1, 2]) {
      const pool = await createEngine({ workers });
      const models = configs.map((config) => pool.createModel(config));
      // every batch of every model queued at once: runs of many steps on the workers
      const results = await Promise.all(models.map((model, k) => Promise.all(data[k]!.map(({ x, y }) => model.train(x, y)))));
      models.forEach((model, k) => {
        expect(results[k]!.map((r) => r.drift?.step ?? 0).filter((s) => s > 0), `model ${k}, ${workers} worker(s)`).toEqual(expected[k]!.alarms);
        expect(Buffer.from(model.snapshot()).equals(Buffer.from(expected[k]!.bytes)), `model ${k}, ${workers} worker(s): bytes`).toBe(true);
      });
      await pool.close();
    }
    expect(expected.every((e) => e.alarms.length > 0)).toBe(true);
  });
  it("a snapshot taken mid-warm-up, mid-test or mid-boost restores the detector and the boosted rate: the restored model goes on bit-identically", async () => {
    const engine = await createEngine({ workers: 0 });
    const options: ModelOptions = { inputs: 3, outputs: 2, optimizer: { type: "momentum", lr: 0.01, momentum: 0.9 }, drift: { onDrift: "boost", boost: 5, boostSteps: 40 } };
    const data = batches(3, 450);
    for (const at of [20, 200, CHANGE + 25]) {
      const original = engine.createModel(options);
      for (const { x, y } of data.slice(0, at)) original.train(x, y);
      const copy = engine.restoreModel(original.snapshot());
      const alarms: number[][] = [[], []];
      for (const { x, y } of data.slice(at)) {
        [original, copy].forEach((model, k) => {
          const drift = model.train(x, y).drift;
          if (drift) alarms[k]!.push(drift.step);
        });
      }
      expect(alarms[1], `snapshot at ${at}`).toEqual(alarms[0]);
      expect(Buffer.from(copy.snapshot()).equals(Buffer.from(original.snapshot())), `snapshot at ${at}: same bytes at the end`).toBe(true);
      original.dispose();
      copy.dispose();
    }
    // the mid-boost case really was mid-boost: the alarm came before CHANGE + 25
    const probe = engine.createModel(options);
    const first = data.findIndex(({ x, y }) => probe.train(x, y).drift);
    expect(first).toBeLessThan(CHANGE + 25);
    expect(first + 40).toBeGreaterThan(CHANGE + 25);
    engine.close();
  });
});
