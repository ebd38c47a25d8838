// Every error code, with the rule that a rejected call changes nothing: the
// model's snapshot bytes are the same before and after.
import { describe, expect, it } from "vitest";
import { pack } from "msgpackr";
import { readFile } from "node:fs/promises";
import { createEngine, GradlineError, type Engine, type Model, type ErrorCode } from "../../host/index.js";
import { rng, normals, sameBytes } from "../helpers/random.js";

function expectCode(fn: () => unknown, code: ErrorCode, message?: RegExp): GradlineError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${code}`).toBeInstanceOf(GradlineError);
  const error = caught as GradlineError;
  expect(error.code).toBe(code);
  if (message) expect(error.message).toMatch(message);
  return error;
}

/** Runs `fn`, which must fail with `code`, and checks the model is byte-for-byte unchanged. */
function rejectedUnchanged(model: Model, fn: () => unknown, code: ErrorCode, message?: RegExp): GradlineError {
  const before = model.snapshot();
  const error = expectCode(fn, code, message);
  expect(sameBytes(model.snapshot(), before), "model changed by a rejected call").toBe(true);
  return error;
}

async function trainedModel(engine: Engine, standardize = true): Promise<Model> {
  const model = engine.createModel({ inputs: 3, outputs: 2, standardize, optimizer: "adam" });
  const r = rng(4);
  for (let i = 0; i < 5; i++) model.train(normals(r, 8 * 3), normals(r, 8 * 2));
  return model;
}

describe("E_CONFIG: options are validated field by field", async () => {
  const engine = await createEngine({ workers: 0 });
  const bad: [unknown, RegExp][] = [
    [undefined, /options must be an object/],
    [{ inputs: 0, outputs: 1 }, /options\.inputs must be an integer from 1/],
    [{ inputs: 2.5, outputs: 1 }, /options\.inputs/],
    [{ inputs: 3, outputs: "2" }, /options\.outputs/],
    [{ inputs: 3, outputs: 2, loss: "mae" }, /options\.loss must be "mse" or "huber"/],
    [{ inputs: 3, outputs: 2, huberDelta: 0 }, /options\.huberDelta must be a finite number > 0/],
    [{ inputs: 3, outputs: 2, optimizer: "rmsprop" }, /options\.optimizer must be "sgd", "momentum" or "adam"/],
    [{ inputs: 3, outputs: 2, optimizer: { type: "sgd", lr: -1 } }, /options\.optimizer\.lr must be a finite number > 0/],
    [{ inputs: 3, outputs: 2, optimizer: { type: "sgd", lr: Number.NaN } }, /options\.optimizer\.lr/],
    [{ inputs: 3, outputs: 2, optimizer: { type: "momentum", momentum: 1 } }, /options\.optimizer\.momentum must be a finite number in \[0, 1\)/],
    [{ inputs: 3, outputs: 2, optimizer: { type: "sgd", momentum: 0.9 } }, /options\.optimizer\.momentum is not an option of the sgd optimiser/],
    [{ inputs: 3, outputs: 2, optimizer: { type: "adam", beta2: 1.5 } }, /options\.optimizer\.beta2/],
    [{ inputs: 3, outputs: 2, l2: -0.1 }, /options\.l2 must be a finite number 0, or from 1\.2e-38/],
    // values JavaScript accepts but the kernels' f32 would turn into 0, 1 or Infinity
    [{ inputs: 3, outputs: 2, optimizer: { type: "adam", beta1: 0.99999999 } }, /options\.optimizer\.beta1 .*stays below 1 as a 32-bit float/],
    [{ inputs: 3, outputs: 2, optimizer: { type: "adam", eps: 1e-50 } }, /options\.optimizer\.eps .*32-bit float/],
    [{ inputs: 3, outputs: 2, optimizer: { type: "sgd", lr: 1e39 } }, /options\.optimizer\.lr/],
    [{ inputs: 3, outputs: 2, l2: 1e-50 }, /options\.l2/],
    [{ inputs: 3, outputs: 2, standardize: "yes" }, /options\.standardize must be true or false/],
    [{ inputs: 3, outputs: 2, seed: -1 }, /options\.seed/],
    [{ inputs: 3, outputs: 2, learningRate: 0.1 }, /options\.learningRate is not a model option/],
    [{ inputs: 3, outputs: 2, init: { W: [1, 2, 3], b: [0, 0] } }, /options\.init\.W must hold 2×3/],
    [{ inputs: 3, outputs: 2, init: { W: [1, 2, 3, 4, 5, Number.NaN], b: [0, 0] } }, /options\.init\.W\[5\] must be finite/],
    [{ inputs: 3, outputs: 2, init: { W: [1, 2, 3, 4, 5, 6], b: [0] } }, /options\.init\.b must hold 2/],
    [{ inputs: 65536, outputs: 65536 }, /parameters, above the limit/],
  ];
  for (const [options, message] of bad) {
    it(`rejects ${JSON.stringify(options)}`, () => {
      expectCode(() => engine.createModel(options as never), "E_CONFIG", message);
      expect(engine.models).toBe(0);
    });
  }

  it("answers values of any JavaScript type in any field with E_CONFIG, never a TypeError", () => {
    const odd: unknown[] = [10n, Symbol("s"), () => 1, {}, [], null, "", Number.NaN, new Uint8Array(2), new Date(0)];
    const fields: ((v: unknown) => Record<string, unknown>)[] = [
      (v) => ({ inputs: v, outputs: 1 }), (v) => ({ inputs: 1, outputs: v }), (v) => ({ inputs: 1, outputs: 1, loss: v }),
      (v) => ({ inputs: 1, outputs: 1, huberDelta: v }), (v) => ({ inputs: 1, outputs: 1, optimizer: v }),
      (v) => ({ inputs: 1, outputs: 1, optimizer: { type: v } }), (v) => ({ inputs: 1, outputs: 1, optimizer: { type: "adam", beta1: v } }),
      (v) => ({ inputs: 1, outputs: 1, l2: v }), (v) => ({ inputs: 1, outputs: 1, standardize: v }), (v) => ({ inputs: 1, outputs: 1, seed: v }),
      (v) => ({ inputs: 1, outputs: 1, drift: { onDrift: v } }), (v) => ({ inputs: 1, outputs: 1, drift: { threshold: v } }),
      (v) => ({ inputs: 1, outputs: 1, anomaly: { exclude: v } }), (v) => ({ inputs: 1, outputs: 1, anomaly: { stuck: v } }),
      (v) => ({ inputs: 1, outputs: 1, init: { W: v, b: [0] } }),
    ];
    for (const field of fields) {
      for (const value of odd) {
        const options = field(value);
        // null means "off" for drift and anomaly, and "" or {} may be a valid value elsewhere: only a throw must be a GradlineError
        try {
          engine.createModel(options as never).dispose();
        } catch (error) {
          expect(error, `${String(Object.keys(options))} = ${typeof value}`).toBeInstanceOf(GradlineError);
          expect((error as GradlineError).code).toBe("E_CONFIG");
        }
      }
    }
    expectCode(() => engine.createModel({ inputs: 1, outputs: 1, loss: 10n } as never), "E_CONFIG", /options\.loss must be "mse" or "huber" \(got 10n\)/);
    expect(engine.models).toBe(0);
  });

  it("rejects bad engine options", async () => {
    await expect(createEngine({ workers: 0, kernel: "avx" as never })).rejects.toMatchObject({ code: "E_CONFIG" });
    await expect(createEngine({ workers: 0, maxBatch: 0 })).rejects.toMatchObject({ code: "E_CONFIG", message: /options\.maxBatch/ });
    await expect(createEngine({ workers: 0, maximumMemoryPages: 70000 })).rejects.toMatchObject({ code: "E_CONFIG" });
  });
});

describe("E_SHAPE, E_NONFINITE, E_DIVERGED: rejected batches change nothing", async () => {
  const engine = await createEngine({ workers: 0 });
  const model = await trainedModel(engine);
  const x = normals(rng(5), 4 * 3);
  const y = normals(rng(6), 4 * 2);

  it("E_SHAPE for x not a whole number of rows, empty x, y of the wrong length, wrong types", () => {
    rejectedUnchanged(model, () => model.train(x.subarray(0, 11), y), "E_SHAPE", /x has 11 values; it must hold B rows of 3 inputs/);
    rejectedUnchanged(model, () => model.train(new Float32Array(0), new Float32Array(0)), "E_SHAPE");
    rejectedUnchanged(model, () => model.train(x, y.subarray(0, 6)), "E_SHAPE", /y must hold 4 × 2 = 8/);
    rejectedUnchanged(model, () => model.train("abc" as never, y), "E_SHAPE", /x must be a Float32Array/);
    rejectedUnchanged(model, () => model.evaluate(x, {} as never), "E_SHAPE", /y must be/);
    rejectedUnchanged(model, () => model.predict(x.subarray(0, 5)), "E_SHAPE");
    rejectedUnchanged(model, () => model.gradient(x, y.subarray(1)), "E_SHAPE");
  });

  it("E_SHAPE for a batch above maxBatch", async () => {
    const small = await createEngine({ workers: 0, maxBatch: 4 });
    const m = small.createModel({ inputs: 3, outputs: 2 });
    rejectedUnchanged(m, () => m.train(new Float32Array(15), new Float32Array(10)), "E_SHAPE", /exceeds the engine's maxBatch of 4/);
    small.close();
  });

  it("E_NONFINITE names the array, sample and column, for NaN and ±Inf in x and y", () => {
    for (const [array, index, value] of [["x", 7, Number.NaN], ["x", 0, Infinity], ["y", 5, -Infinity], ["y", 7, Number.NaN]] as const) {
      const xs = Float32Array.from(x);
      const ys = Float32Array.from(y);
      (array === "x" ? xs : ys)[index] = value;
      const width = array === "x" ? 3 : 2;
      const error = rejectedUnchanged(model, () => model.train(xs, ys), "E_NONFINITE");
      expect(error.details).toMatchObject({ array, index, sample: Math.floor(index / width), column: index % width });
      expect(error.message).toContain(`${array}[${index}] (sample ${Math.floor(index / width)}`);
      rejectedUnchanged(model, () => model.evaluate(xs, ys), "E_NONFINITE");
      rejectedUnchanged(model, () => model.gradient(xs, ys), "E_NONFINITE");
      if (array === "x") rejectedUnchanged(model, () => model.predict(xs), "E_NONFINITE");
    }
  });

  it("E_NONFINITE for values that overflow f32 (finite in f64, Inf once stored)", () => {
    const big = Float64Array.from(x);
    big[2] = 1e300;
    rejectedUnchanged(model, () => model.train(big, y), "E_NONFINITE", /x\[2\]/);
  });

  it("E_DIVERGED rolls back and reports the step; training goes on after it", () => {
    const hot = engine.createModel({ inputs: 3, outputs: 2, standardize: false, optimizer: { type: "sgd", lr: 1e30 } });
    const huge = Float32Array.from(x, (v) => v * 1e10);
    hot.train(x, y); // step 1 is fine
    const error = rejectedUnchanged(hot, () => hot.train(huge, y), "E_DIVERGED", /step 2 would make the parameters non-finite/);
    expect(error.details.step).toBe(2);
    expect(hot.params().step).toBe(1);
    for (const v of [...hot.params().W, ...hot.params().b]) expect(Number.isFinite(v)).toBe(true);
    hot.dispose();
  });
});

describe("E_SNAPSHOT, E_DISPOSED, E_MEMORY, E_WASM", async () => {
  const engine = await createEngine({ workers: 0 });

  it("E_SNAPSHOT for bytes that are not a gradline snapshot, and nothing changes", async () => {
    const model = await trainedModel(engine);
    const good = model.snapshot();
    const cases: [unknown, RegExp][] = [
      ["not bytes", /expected a Uint8Array/],
      [new Uint8Array([0x82, 0xa6, 0x66]), /not valid MessagePack/],
      [pack(42), /not a map/],
      [pack({ format: "other" }), /format is "other"/],
      [pack({ format: "gradline.model", formatVersion: 99 }), /format version 99 is not supported/],
      [good.subarray(0, good.length - 7), /snapshot rejected/],
    ];
    for (const [bytes, message] of cases) {
      rejectedUnchanged(model, () => model.restore(bytes as Uint8Array), "E_SNAPSHOT", message);
      expectCode(() => engine.restoreModel(bytes as Uint8Array), "E_SNAPSHOT", message);
    }
    expect(engine.models).toBe(1);
    model.dispose();
  });

  it("E_SNAPSHOT for a non-finite parameter or wrong-sized arrays; E_SHAPE for another shape", async () => {
    const model = await trainedModel(engine);
    const { unpack } = await import("msgpackr");
    const state = unpack(model.snapshot()) as Record<string, Uint8Array>;
    const theta = new Float32Array(new Uint8Array(state.theta!).buffer);
    theta[3] = Number.NaN;
    rejectedUnchanged(model, () => model.restore(pack({ ...state, theta: new Uint8Array(theta.buffer) })), "E_SNAPSHOT", /theta\[3\] is not finite/);
    rejectedUnchanged(model, () => model.restore(pack({ ...state, s1: new Uint8Array(3) })), "E_SNAPSHOT", /s1 must be/);
    const s2 = new Float32Array(new Uint8Array(state.s2!).buffer);
    s2[0] = -1;
    rejectedUnchanged(model, () => model.restore(pack({ ...state, s2: new Uint8Array(s2.buffer) })), "E_SNAPSHOT", /negative value/);
    rejectedUnchanged(model, () => model.restore(pack({ ...state, count: 0 })), "E_SNAPSHOT", /not zero although count is 0/);
    rejectedUnchanged(model, () => model.restore(pack({ ...state, version: 2 ** 53 - 1 })), "E_SNAPSHOT", /version must be an integer from 0 to 2\^50/);
    const other = engine.createModel({ inputs: 4, outputs: 2 });
    rejectedUnchanged(model, () => model.restore(other.snapshot()), "E_SHAPE", /snapshot holds a 2×4 model; this model is 2×3/);
    model.dispose();
    other.dispose();
  });

  it("E_DISPOSED after dispose() and after engine.close()", async () => {
    const e = await createEngine({ workers: 0 });
    const model = e.createModel({ inputs: 2, outputs: 1 });
    model.dispose();
    expect(model.disposed).toBe(true);
    for (const call of [() => model.train([1, 2], [3]), () => model.predict([1, 2]), () => model.params(), () => model.snapshot()]) {
      expectCode(call, "E_DISPOSED");
    }
    const live = e.createModel({ inputs: 2, outputs: 1 });
    e.close();
    expectCode(() => live.params(), "E_DISPOSED");
    expectCode(() => e.createModel({ inputs: 2, outputs: 1 }), "E_DISPOSED");
  });

  it("E_MEMORY when the memory limit is reached; the engine keeps serving", async () => {
    const e = await createEngine({ workers: 0, maximumMemoryPages: 32 }); // 2 MiB
    const small = e.createModel({ inputs: 4, outputs: 2 });
    expectCode(() => e.createModel({ inputs: 1024, outputs: 1024 }), "E_MEMORY", /cannot allocate/);
    expectCode(() => small.train(new Float32Array(4 * 200_000), new Float32Array(2 * 200_000)), "E_MEMORY");
    expect(small.train(new Float32Array(8).fill(1), new Float32Array(4).fill(2)).step).toBe(1);
    e.close();
  });

  it("E_WASM for a module that is not gradline's", async () => {
    await expect(createEngine({ workers: 0, wasm: new Uint8Array([0, 1, 2, 3]) })).rejects.toMatchObject({ code: "E_WASM" });
    await expect(createEngine({ workers: 0, wasm: "/nonexistent/gradline.wasm" })).rejects.toMatchObject({ code: "E_WASM" });
    const real = await readFile(new URL("../../build/gradline.wasm", import.meta.url));
    const ok = await createEngine({ workers: 0, wasm: real });
    expect(ok.createModel({ inputs: 1, outputs: 1 }).params().step).toBe(0);
    ok.close();
  });
});
