// The client takes sample data as the library does (typed arrays, number[], rows),
// through the real server: every form trains to the same parameters as a Float32Array
// and as the in-process library on the same numbers, and what the library would refuse
// is refused by the client with the library's code and message, before anything is sent.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, createInProcessEngine, startServer, type Engine, type GradlineClient, type GradlineServer, type Model } from "../../host/index.js";
import { GradlineError } from "../../host/base/errors.js";

// 0.1-steps are not float32 values: a conversion that skipped the rounding, or rounded
// differently from Float32Array.from, would change the parameters
const rows = [
  [0.1, -1.3, 2.7],
  [1.9, 0.35, -0.6],
  [-2.2, 1.15, 0.45],
  [0.7, -0.05, 1.33],
];
const targets = [[1.1, -0.2], [0.3, 2.4], [-1.7, 0.9], [0.55, -1.05]];
const config = { inputs: 3, outputs: 2, optimizer: { type: "sgd" as const, lr: 0.05 }, standardize: false, seed: 11 };
const STEPS = 3;

/** The library's refusal of a call, to hold the client's to. */
function refusal(call: () => unknown): { code: string; message: string } {
  try {
    call();
  } catch (error) {
    const { code, message } = error as GradlineError;
    return { code, message };
  }
  throw new Error("the library accepted it");
}

describe("client sample inputs", () => {
  let server: GradlineServer;
  let client: GradlineClient;
  let engine: Engine;
  let library: Model;
  /** Frames the server heard of: requests counted by type, and error replies (frames it could not read). */
  const heard = async (): Promise<number> => {
    const text = await (await fetch(`${server.url.replace("ws://", "http://")}metrics`)).text();
    return [...text.matchAll(/^gradline_(?:messages|errors)_total\{[^}]*\} (\d+)$/gm)].reduce((sum, [, n]) => sum + Number(n), 0);
  };

  beforeAll(async () => {
    server = await startServer({ port: 0, workers: 1, logger: false });
    client = await connect(server.url);
    engine = await createInProcessEngine();
    library = engine.createModel(config);
  });
  afterAll(async () => {
    client.close();
    engine.close();
    await server.close();
  });

  it("trains to the same parameters from number[][], number[] and Float64Array as from Float32Array, and as the library", async () => {
    const flat = rows.flat();
    const flatY = targets.flat();
    const forms = {
      float32: [Float32Array.from(flat), Float32Array.from(flatY)],
      rows: [rows, targets],
      numbers: [flat, flatY],
      float64: [Float64Array.from(flat), Float64Array.from(flatY)],
    } as const;
    const params: Record<string, number[]> = {};
    for (const [form, [x, y]] of Object.entries(forms)) {
      await client.create(`inputs-${form}`, config);
      for (let i = 0; i < STEPS; i++) await client.train(`inputs-${form}`, x, y);
      const { W, b, step } = await client.params(`inputs-${form}`);
      expect(step).toBe(STEPS);
      params[form] = [...W, ...b];
    }
    // the library converts number[] itself (f32 stores), independently of the client
    for (let i = 0; i < STEPS; i++) library.train(flat, flatY);
    const truth = library.params();
    const expected = [...truth.W, ...truth.b];
    expect(params.float32).toEqual(expected);
    expect(params.rows).toEqual(expected);
    expect(params.numbers).toEqual(expected);
    expect(params.float64).toEqual(expected);
  });

  it("predicts from rows and from other typed arrays of numbers as from a Float32Array", async () => {
    const reference = (await client.predict("inputs-float32", new Float32Array([1, -2, 3, 4, 0, -1]))).y;
    expect((await client.predict("inputs-float32", [[1, -2, 3], [4, 0, -1]])).y).toEqual(reference);
    expect((await client.predict("inputs-float32", new Int16Array([1, -2, 3, 4, 0, -1]))).y).toEqual(reference);
    expect((await client.predict("inputs-float32", [1, -2, 3, 4, 0, -1])).y).toEqual(reference);
  });

  it("takes a setpoint request's vectors as number[], Float64Array or Float32Array alike", async () => {
    const asked = (vector: (values: number[]) => ArrayLike<number>) =>
      client.setpoint("inputs-float32", { target: vector([0.5, -0.25]), lower: vector([-1, -1, -1]), upper: vector([1, 1, 1]) });
    const plain = await asked((v) => v);
    expect(await asked((v) => Float64Array.from(v))).toEqual(plain);
    expect(await asked((v) => Float32Array.from(v))).toEqual(plain);
  });

  it("refuses what the library refuses, with its code and message, sending nothing", async () => {
    const model = "inputs-float32";
    const version = (await client.params(model)).version;
    const before = await heard();
    const y = [[1, 2], [3, 4]];
    // each as the library (which knows the model's shape) words it
    const likeLibrary: [string, unknown, unknown][] = [
      ["ragged rows", [[1, 2, 3], [4, 5]], y],
      ["a row of another width in y", [[1, 2, 3], [4, 5, 6]], [[1, 2], [3]]],
      ["a string in a row", [[1, 2, 3], [4, "5", 6]], y],
      ["NaN in a row", [[1, 2, 3], [4, NaN, 6]], y],
      ["Infinity in y's rows", [[1, 2, 3], [4, 5, 6]], [[1, 2], [Infinity, 4]]],
      ["a number among rows", [[1, 2, 3], 4], y],
      ["x and y rows that do not pair up", [[1, 2, 3], [4, 5, 6]], [[1, 2]]],
      ["not an array", "1,2,3", y],
      ["a map", { 0: 1, length: 1 }, y],
      ["BigInt64Array", new BigInt64Array(3), y],
      ["null y", [[1, 2, 3]], null],
    ];
    for (const [what, x, yy] of likeLibrary) {
      const expected = refusal(() => library.train(x as number[], yy as number[]));
      const got = await client.train(model, x as number[], yy as number[]).then(() => undefined, (e: GradlineError) => ({ code: e.code, message: e.message }));
      expect(got, what).toEqual(expected);
    }
    // flat values: the client does not know the model's width, so it names the index alone
    await expect(client.train(model, [1, 2, "3"] as unknown as number[], [1, 2])).rejects.toMatchObject({
      code: "E_NONFINITE", message: 'x[2] is "3"; every value must be a finite number. The model was not changed.', details: { array: "x", index: 2 },
    });
    await expect(client.train(model, new Float32Array([1, 2, 3]), new Float64Array([1, NaN]))).rejects.toMatchObject({
      code: "E_NONFINITE", message: "y[1] is NaN; every value must be a finite number. The model was not changed.",
    });
    // 1e39 is finite as a double, not as the float32 it travels as
    await expect(client.train(model, new Float64Array([1, 2, 1e39]), [1, 2])).rejects.toMatchObject({ code: "E_NONFINITE", message: expect.stringMatching(/^x\[2\] is 1e\+39;/) });
    const ragged = [[1, 2, 3], [4, 5]];
    await expect(client.predict(model, ragged)).rejects.toMatchObject(refusal(() => library.predict(ragged)));
    await expect(client.predict(model, "x" as unknown as number[])).rejects.toMatchObject({ code: "E_SHAPE", message: refusal(() => library.predict("x" as unknown as number[])).message });
    expect(await heard()).toBe(before);
    expect((await client.params(model)).version).toBe(version);
  });

  it("still lets the server refuse what only the model's shape tells, with the model unchanged", async () => {
    const model = "inputs-rows";
    const { version } = await client.params(model);
    // two rows of two inputs: well-formed on the client's side, the wrong width for the model
    await expect(client.train(model, [[1, 2], [3, 4]], [[1, 2], [3, 4]])).rejects.toMatchObject({ code: "E_SHAPE" });
    expect((await client.params(model)).version).toBe(version);
  });
});
