// Drift detection on real training runs: no false alarm over 10,000 stationary
// batches with the default settings (several batch sizes, outputs, optimisers), and a
// change of the true W at a known step detected within 20 batches.
import { describe, expect, it } from "vitest";
import { createEngine, type ModelOptions } from "../../host/index.js";
import { linearTargets, normals, rng } from "../helpers/random.js";

const engine = await createEngine({ workers: 0 });

/** Trains `batches` batches of y = W x + b + noise, W switching to `after` at `changeAt`; returns the steps that raised alarms. */
function run(options: ModelOptions, rows: number, batches: number, seed: number, changeAt = Infinity): number[] {
  const { inputs: m, outputs: n } = options;
  const r = rng(seed);
  const before = normals(r, n * m);
  const after = Float32Array.from(before, (w) => w + 1.5 * r.normal());
  const b = normals(r, n);
  const model = engine.createModel(options);
  const alarms: number[] = [];
  for (let i = 1; i <= batches; i++) {
    const x = normals(r, rows * m);
    const y = linearTargets(x, i <= changeAt ? before : after, b, m, n, 0.2, r);
    const result = model.train(x, y);
    if (result.drift) alarms.push(result.drift.step);
  }
  model.dispose();
  return alarms;
}

describe("drift detection", () => {
  const stationary: [string, ModelOptions, number][] = [
    ["SGD, B = 32, n = 2", { inputs: 3, outputs: 2, optimizer: { type: "sgd", lr: 0.05 } }, 32],
    ["Adam, B = 8, n = 1", { inputs: 5, outputs: 1, optimizer: { type: "adam", lr: 0.01 } }, 8],
    ["SGD, B = 1, n = 1", { inputs: 2, outputs: 1, optimizer: { type: "sgd", lr: 0.01 } }, 1],
    ["momentum, Huber, B = 128, n = 4", { inputs: 8, outputs: 4, loss: "huber", optimizer: { type: "momentum", lr: 0.01 } }, 128],
    ["SGD raw units, B = 64, n = 3", { inputs: 4, outputs: 3, standardize: false, optimizer: { type: "sgd", lr: 0.02 } }, 64],
  ];
  for (const [name, options, rows] of stationary) {
    it(`no false alarm over 10,000 stationary batches: ${name}`, () => {
      expect(run(options, rows, 10_000, rows + options.inputs)).toEqual([]);
    });
  }

  it("detects a change of the true W within 20 batches, and only after it", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const alarms = run({ inputs: 3, outputs: 2, optimizer: { type: "sgd", lr: 0.05 } }, 32, 1500, seed, 1000);
      expect(alarms.length, `seed ${seed}`).toBeGreaterThanOrEqual(1);
      expect(alarms[0]!, `seed ${seed}: first alarm`).toBeGreaterThan(1000);
      expect(alarms[0]!, `seed ${seed}: first alarm`).toBeLessThanOrEqual(1020);
    }
  });

  it("can be turned off, and rejects bad settings with E_CONFIG", () => {
    expect(run({ inputs: 3, outputs: 2, optimizer: { type: "sgd", lr: 0.05 }, drift: false }, 32, 1500, 1, 1000)).toEqual([]);
    expect(() => engine.createModel({ inputs: 1, outputs: 1, drift: { threshold: -1 } })).toThrow(expect.objectContaining({ code: "E_CONFIG" }));
    expect(() => engine.createModel({ inputs: 1, outputs: 1, drift: { warmup: 1 } })).toThrow(expect.objectContaining({ code: "E_CONFIG" }));
    expect(() => engine.createModel({ inputs: 1, outputs: 1, drift: { speed: 2 } as object })).toThrow(expect.objectContaining({ code: "E_CONFIG" }));
  });
});
