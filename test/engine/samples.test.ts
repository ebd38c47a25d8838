// The library takes sample data in every form host/base/samples.ts defines (typed
// arrays of numbers, number[], rows), in process and in a pool, training exactly as on
// the equivalent Float32Array; a malformed form is refused with the model unchanged.
import { describe, expect, it } from "vitest";
import { createEngine, createInProcessEngine } from "../../host/index.js";

const config = { inputs: 2, outputs: 1, optimizer: { type: "sgd" as const, lr: 0.1 }, standardize: false, seed: 3 };
const rows = [[0.1, 0.7], [-1.3, 0.25], [2.2, -0.4]];
const targets = [[0.3], [-0.9], [1.1]];

describe("sample forms in the library", () => {
  it("in process: rows, Int16Array and Float32Array train and predict alike", async () => {
    const engine = await createInProcessEngine();
    const [a, b, c] = [engine.createModel(config), engine.createModel(config), engine.createModel(config)];
    a.train(Float32Array.from(rows.flat()), Float32Array.from(targets.flat()));
    b.train(rows, targets);
    c.train(new Int16Array([1, 7, -13, 2, 22, -4]), [3, -9, 11]);
    expect(b.params().W).toEqual(a.params().W);
    expect(b.predict([[1, 2]])).toEqual(a.predict(new Float32Array([1, 2])));
    expect(c.predict(new Int16Array([1, 2]))).toEqual(c.predict([1, 2]));
    const { version } = b.progress();
    expect(() => b.train([[1, 2], [3]], [[1], [2]])).toThrow(expect.objectContaining({ code: "E_SHAPE", message: "x[1] has 1 values; every row of x must have 2" }));
    expect(() => b.train([[1, 2, 3]], [[1]])).toThrow(expect.objectContaining({ code: "E_SHAPE", message: "x[0] has 3 values; every row of x must have 2" }));
    expect(() => b.train([[1, "2"]] as unknown as number[][], [[1]])).toThrow(expect.objectContaining({ code: "E_NONFINITE", message: 'x[1] (sample 0, input 1) is "2"; every value must be a finite number. The model was not changed.' }));
    expect(b.progress().version).toBe(version);
    engine.close();
  });

  it("in a pool: rows train as a Float32Array does", async () => {
    const engine = await createEngine({ workers: 1 });
    const [a, b] = [engine.createModel(config), engine.createModel(config)];
    await a.train(Float32Array.from(rows.flat()), Float32Array.from(targets.flat()));
    await b.train(rows, targets);
    expect(b.params().W).toEqual(a.params().W);
    await expect(b.train([[1, 2], 3] as number[][], targets)).rejects.toMatchObject({ code: "E_SHAPE", message: "x[1] is 3, not a row: x must be all numbers or all rows" });
    await engine.close();
  });
});
