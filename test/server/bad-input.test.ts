// Every kind of bad frame gets its documented error code (with the seq when it could
// be read), the connection stays open, the server keeps serving, and no model changes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pack } from "msgpackr";
import { startServer, type GradlineServer } from "../../host/index.js";
import { floatsOf } from "../../host/protocol/codec.js";
import { WireClient, type Reply } from "../helpers/wire.js";

const M = 3;
const N = 2;
const f32 = (...v: number[]) => new Float32Array(v);
const goodX = f32(1, 2, 3, 4, 5, 6);
const goodY = f32(1, 2, 3, 4);

describe("server bad input", () => {
  let server: GradlineServer;
  let wire: WireClient;
  let seq = 100;
  const before = { W: [] as number[], b: [] as number[], version: 0 };

  const params = async () => {
    const r = await wire.call({ type: "params", seq: ++seq, model: "victim" });
    return { W: Array.from(floatsOf(r.W as Uint8Array, "W")), b: Array.from(floatsOf(r.b as Uint8Array, "b")), version: r.version as number };
  };

  beforeAll(async () => {
    server = await startServer({ port: 0, workers: 1, maxRows: 100, maxPayload: 64 * 1024, logger: false });
    wire = await WireClient.open(server.url);
    expect(await wire.call({ type: "create", seq: 1, model: "victim", config: { inputs: M, outputs: N, standardize: false } })).toMatchObject({ type: "model" });
    expect(await wire.call({ type: "train", seq: 2, model: "victim", x: goodX, y: goodY })).toMatchObject({ type: "ack", step: 1 });
    Object.assign(before, await params());
  });

  afterAll(async () => {
    wire.close();
    await server.close();
  });

  /** Sends a frame, expects one error reply; checks the model is untouched and the connection still answers. */
  async function rejects(frame: Uint8Array | string, code: string, expectSeq?: number): Promise<Reply> {
    const errorsBefore = wire.replies.length;
    wire.sendRaw(frame);
    const error = await wire.next((r) => r.type === "error");
    expect(error.code, JSON.stringify(error)).toBe(code);
    expect(typeof error.message).toBe("string");
    if (expectSeq === undefined) expect(error.seq).toBeUndefined();
    else expect(error.seq).toBe(expectSeq);
    expect(wire.replies.length).toBe(errorsBefore);
    expect(wire.closed).toBeUndefined();
    expect(await params()).toEqual(before);
    return error;
  }

  const train = (fields: Record<string, unknown>) => pack({ type: "train", seq: 7, model: "victim", x: goodX, y: goodY, ...fields });
  const bin = (a: Float32Array) => new Uint8Array(a.buffer);

  it("E_DECODE: truncated MessagePack, trailing bytes", async () => {
    await rejects(Uint8Array.from([0x82, 0xa4, 0x74]), "E_DECODE");
    const frame = pack({ type: "list", seq: 1 });
    await rejects(Uint8Array.from([...frame, 0xc0]), "E_DECODE");
  });

  it("E_FRAME: a text frame", async () => {
    await rejects('{"type":"list","seq":1}', "E_FRAME");
  });

  it("E_MESSAGE: not a map, no type, a type that is not a string", async () => {
    await rejects(pack([1, 2, 3]), "E_MESSAGE");
    await rejects(pack(42), "E_MESSAGE");
    await rejects(Uint8Array.from([0xc1]), "E_MESSAGE");
    await rejects(pack({ seq: 3 }), "E_MESSAGE", 3);
    await rejects(pack({ type: 5, seq: 4 }), "E_MESSAGE", 4);
  });

  it("E_TYPE: an unknown message type", async () => {
    const error = await rejects(pack({ type: "rm -rf", seq: 5 }), "E_TYPE", 5);
    expect(error.message).toContain("known: hello");
  });

  it("E_FIELD: missing or wrongly typed fields, bad names, bad seq", async () => {
    await rejects(pack({ type: "list" }), "E_FIELD");
    await rejects(pack({ type: "list", seq: -1 }), "E_FIELD");
    await rejects(pack({ type: "list", seq: 1.5 }), "E_FIELD");
    await rejects(pack({ type: "list", seq: "1" }), "E_FIELD");
    await rejects(train({ x: undefined }), "E_FIELD", 7);
    await rejects(train({ x: Array.from(goodX) }), "E_FIELD", 7);
    await rejects(train({ x: "1,2,3" }), "E_FIELD", 7);
    await rejects(train({ x: new Uint8Array(7) }), "E_FIELD", 7);
    await rejects(train({ model: 12 }), "E_FIELD", 7);
    await rejects(train({ model: "../../etc/passwd" }), "E_FIELD", 7);
    await rejects(train({ model: "x".repeat(129) }), "E_FIELD", 7);
    await rejects(train({ model: "" }), "E_FIELD", 7);
    await rejects(pack({ type: "subscribe", seq: 8, model: "victim", everySteps: 0 }), "E_FIELD", 8);
    await rejects(pack({ type: "subscribe", seq: 8, model: "victim", minIntervalMs: -5 }), "E_FIELD", 8);
    await rejects(pack({ type: "create", seq: 9, model: "other", config: [3, 2] }), "E_FIELD", 9);
    await rejects(pack({ type: "create", seq: 9, model: "other", config: { inputs: 3, outputs: 2, init: { W: [1], b: [1] } } }), "E_FIELD", 9);
  });

  it("found by fuzzing: a map where a number goes, a config nested thousands deep, a Newton setpoint too big to run", async () => {
    // a map with a toString key used to break the message (String() threw): E_INTERNAL
    const odd = await rejects(pack({ type: "create", seq: 13, model: "odd", config: { inputs: { toString: 1 }, outputs: 1 } }), "E_CONFIG", 13);
    expect(odd.message as string).toContain("got a map");
    // 4000 levels used to overflow the stack: E_INTERNAL
    // (built by hand: encoders recurse too)
    const str = (t: string) => [0xa0 | t.length, ...Buffer.from(t)];
    const head = [0x84, ...str("type"), ...str("create"), ...str("seq"), 14, ...str("model"), ...str("deep"), ...str("config"), 0x83, ...str("inputs"), 3, ...str("outputs"), 2, ...str("drift")];
    const deep = Uint8Array.from([...head, ...Array.from({ length: 4000 }, () => [0x81, ...str("k")]).flat(), 0xc0]);
    const nested = await rejects(deep, "E_FIELD", 14);
    expect((nested.message as string).length).toBeLessThan(400);
    // one Newton iteration on 4096 inputs is ~2·10¹⁰ operations: refused at once instead of blocking the server for a minute
    expect(await wire.call({ type: "create", seq: 15, model: "wide", config: { inputs: 4096, outputs: 1 } })).toMatchObject({ type: "model" });
    const wide = await wire.call({ type: "setpoint", seq: 16, model: "wide", target: [1], method: "newton" });
    expect(wide).toMatchObject({ type: "error", code: "E_LIMIT" });
    expect(wide.message).toMatch(/use method "fista"/i);
    expect(await wire.call({ type: "setpoint", seq: 17, model: "wide", target: [1], maxIterations: 50 })).toMatchObject({ type: "setpoint" });
    expect(await wire.call({ type: "delete", seq: 18, model: "wide" })).toMatchObject({ type: "deleted" });
  });

  it("E_VERSION: a hello for another protocol version", async () => {
    await rejects(pack({ type: "hello", seq: 10, protocol: 2 }), "E_VERSION", 10);
  });

  it("E_NOT_FOUND: an unknown model", async () => {
    await rejects(train({ model: "nobody" }), "E_NOT_FOUND", 7);
    await rejects(pack({ type: "predict", seq: 11, model: "nobody", x: bin(goodX) }), "E_NOT_FOUND", 11);
    await rejects(pack({ type: "delete", seq: 12, model: "nobody" }), "E_NOT_FOUND", 12);
  });

  it("E_SHAPE: lengths that do not fit the model", async () => {
    await rejects(train({ x: bin(f32(1, 2, 3, 4)) }), "E_SHAPE", 7);
    await rejects(train({ y: bin(f32(1, 2, 3)) }), "E_SHAPE", 7);
    await rejects(train({ x: new Uint8Array(0), y: new Uint8Array(0) }), "E_SHAPE", 7);
    await rejects(pack({ type: "predict", seq: 13, model: "victim", x: bin(f32(1, 2)) }), "E_SHAPE", 13);
  });

  it("E_LIMIT: more rows than the server's limit", async () => {
    await rejects(train({ x: bin(new Float32Array(101 * M)), y: bin(new Float32Array(101 * N)) }), "E_LIMIT", 7);
  });

  it("E_NONFINITE: NaN or Inf anywhere in x or y", async () => {
    await rejects(train({ x: bin(f32(1, 2, 3, 4, NaN, 6)) }), "E_NONFINITE", 7);
    const inf = await rejects(train({ y: bin(f32(1, 2, Infinity, 4)) }), "E_NONFINITE", 7);
    // the value is read from the server's copy: the frame's buffer is gone by then
    expect(inf.message).toContain("y[2] (sample 1, output 0) is Infinity");
    await rejects(train({ x: bin(f32(-Infinity, 2, 3, 4, 5, 6)) }), "E_NONFINITE", 7);
  });

  it("E_CONFIG: model options the engine refuses", async () => {
    await rejects(pack({ type: "create", seq: 14, model: "other", config: { inputs: 0, outputs: 2 } }), "E_CONFIG", 14);
    await rejects(pack({ type: "create", seq: 14, model: "other", config: { inputs: 3, outputs: 2, colour: "red" } }), "E_CONFIG", 14);
    await rejects(pack({ type: "create", seq: 14, model: "other", config: { inputs: 3, outputs: 2, optimizer: { type: "sgd", lr: -1 } } }), "E_CONFIG", 14);
  });

  it("E_DIVERGED: a step that would overflow is rolled back", async () => {
    await wire.call({ type: "create", seq: 15, model: "wild", config: { inputs: 1, outputs: 1, standardize: false, optimizer: { type: "sgd", lr: 1e30 } } });
    const huge = pack({ type: "train", seq: 16, model: "wild", x: bin(f32(3e30)), y: bin(f32(-3e30)) });
    await rejects(huge, "E_DIVERGED", 16);
    const wild = await wire.call({ type: "params", seq: 17, model: "wild" });
    expect(wild.version).toBe(0);
  });

  it("keys named __proto__ never reach a prototype", async () => {
    // {"__proto__": {"polluted": true}, "type": "list", "seq": 18}, written by hand
    const frame = Uint8Array.from([
      0x83, 0xa9, ...Buffer.from("__proto__"), 0x81, 0xa8, ...Buffer.from("polluted"), 0xc3,
      0xa4, ...Buffer.from("type"), 0xa4, ...Buffer.from("list"), 0xa3, ...Buffer.from("seq"), 0x12,
    ]);
    wire.sendRaw(frame);
    expect(await wire.reply(18)).toMatchObject({ type: "models" });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // an own "__proto__" key inside config arrives renamed, as an option the engine does not know
    const config = JSON.parse('{"inputs": 3, "outputs": 2, "__proto__": {"standardize": false}}') as object;
    await rejects(pack({ type: "create", seq: 19, model: "proto", config }), "E_CONFIG", 19);
    expect(({} as Record<string, unknown>).standardize).toBeUndefined();
  });

  it("E_LIMIT: more requests in flight on one connection than maxInflight", async () => {
    const busy = await startServer({ port: 0, workers: 1, maxInflight: 4, logger: false });
    const client = await WireClient.open(busy.url);
    await client.call({ type: "create", seq: 1, model: "m", config: { inputs: 64, outputs: 8 } });
    const x = new Float32Array(512 * 64).fill(1);
    const y = new Float32Array(512 * 8).fill(2);
    const frames = Array.from({ length: 40 }, (_, i) => pack({ type: "train", seq: 100 + i, model: "m", x: bin(x), y: bin(y) }));
    for (const frame of frames) client.sendRaw(frame);
    const replies = await Promise.all(frames.map((_, i) => client.reply(100 + i)));
    const acks = replies.filter((r) => r.type === "ack");
    const refused = replies.filter((r) => r.type === "error");
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((r) => r.code === "E_LIMIT")).toBe(true);
    expect(acks.map((a) => a.step)).toEqual(acks.map((_, i) => i + 1));
    expect((await client.call({ type: "params", seq: 2, model: "m" })).step).toBe(acks.length);
    client.close();
    await busy.close();
  });

  it("a frame over maxPayload closes only that connection; the server keeps serving", async () => {
    const big = await WireClient.open(server.url);
    big.sendRaw(pack({ type: "train", seq: 1, model: "victim", x: new Uint8Array(70 * 1024), y: new Uint8Array(8) }));
    await big.whenClosed();
    // uWS drops the connection without a close frame: the client sees 1006
    expect(big.closed?.code).toBe(1006);
    expect(await params()).toEqual(before);
    expect(await wire.call({ type: "train", seq: 20, model: "victim", x: goodX, y: goodY })).toMatchObject({ type: "ack", step: 2 });
  });
});
