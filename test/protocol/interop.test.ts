// Interoperability: a client that knows only docs/PROTOCOL.md talks to the real
// server. Frames are built with @msgpack/msgpack (not the server's msgpackr) and,
// for train and one list, byte by byte as the document describes; every reply is
// decoded with @msgpack/msgpack. Results are checked against truth computed here:
// the MSE loss and its closed-form gradient step, and x·Wᵀ + b.
import { decode, encode } from "@msgpack/msgpack";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type GradlineServer } from "../../host/server/index.js";

type Msg = Record<string, unknown>;

// ---- a hand-written MessagePack writer (docs/PROTOCOL.md, "Encoding") -----------

class Writer {
  private readonly bytes: number[] = [];

  map(entries: number): this {
    if (entries < 16) this.bytes.push(0x80 | entries);
    else this.bytes.push(0xde, entries >> 8, entries & 0xff);
    return this;
  }

  str(text: string): this {
    const utf8 = new TextEncoder().encode(text);
    if (utf8.length < 32) this.bytes.push(0xa0 | utf8.length);
    else this.bytes.push(0xd9, utf8.length);
    this.bytes.push(...utf8);
    return this;
  }

  uint(value: number): this {
    if (value < 0x80) this.bytes.push(value);
    else if (value < 0x100) this.bytes.push(0xcc, value);
    else if (value < 0x10000) this.bytes.push(0xcd, value >> 8, value & 0xff);
    else this.bytes.push(0xce, (value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
    return this;
  }

  /** uint 64 (0xcf), big-endian: any int width must be accepted. */
  uint64(value: number): this {
    const view = new DataView(new ArrayBuffer(8));
    view.setBigUint64(0, BigInt(value), false);
    this.bytes.push(0xcf, ...new Uint8Array(view.buffer));
    return this;
  }

  /** bin 8 / bin 16 holding little-endian float32 values. */
  f32(values: readonly number[]): this {
    const length = 4 * values.length;
    if (length < 0x100) this.bytes.push(0xc4, length);
    else this.bytes.push(0xc5, length >> 8, length & 0xff);
    const view = new DataView(new ArrayBuffer(length));
    values.forEach((v, i) => view.setFloat32(4 * i, v, true));
    this.bytes.push(...new Uint8Array(view.buffer));
    return this;
  }

  done(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

/** A bin field as float32 values, read little-endian (the bin may sit at any offset). */
function floats(value: unknown): number[] {
  expect(value).toBeInstanceOf(Uint8Array);
  const bin = value as Uint8Array;
  expect(bin.byteLength % 4).toBe(0);
  const view = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  return Array.from({ length: bin.byteLength / 4 }, (_, i) => view.getFloat32(4 * i, true));
}

/** Float32Array → bin for @msgpack/msgpack (which writes a Uint8Array as bin). */
const bin = (values: readonly number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);

function expectClose(actual: readonly number[], expected: readonly number[], rel = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(1, ...expected.map(Math.abs));
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]!), `index ${i}: ${a} vs ${expected[i]!}`).toBeLessThanOrEqual(rel * scale));
}

// ---- a minimal client -----------------------------------------------------------

class Client {
  private readonly waiting = new Map<number, (m: Msg) => void>();
  /** Frames without a matching seq: pushes, and errors whose seq was unreadable. */
  private readonly unsolicited: Msg[] = [];
  private wake: (() => void) | undefined;
  private nextSeq = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      expect(isBinary).toBe(true);
      const m = decode(data) as Msg;
      const seq = m.seq;
      const resolve = typeof seq === "number" ? this.waiting.get(seq) : undefined;
      if (resolve && typeof seq === "number") {
        this.waiting.delete(seq);
        resolve(m);
      } else {
        this.unsolicited.push(m);
        this.wake?.();
      }
    });
  }

  static async connect(url: string): Promise<Client> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return new Client(ws);
  }

  seq(): number {
    return this.nextSeq++;
  }

  /** Sends a frame and resolves with the reply carrying `seq`. */
  send(frame: Uint8Array | string, seq: number): Promise<Msg> {
    const reply = new Promise<Msg>((resolve) => this.waiting.set(seq, resolve));
    this.ws.send(frame);
    return reply;
  }

  /** Encodes a request with @msgpack/msgpack, with the given seq or the next one. */
  request(fields: Msg, seq = this.seq()): Promise<Msg> {
    return this.send(encode({ ...fields, seq }), seq);
  }

  async nextUnsolicited(): Promise<Msg> {
    while (this.unsolicited.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    return this.unsolicited.shift()!;
  }

  close(): void {
    this.ws.close();
  }
}

// ---- independent truth ----------------------------------------------------------

interface Params { W: number[]; b: number[]; inputs: number; outputs: number; step: number; version: number }

function paramsOf(m: Msg): Params {
  expect(m.type).toBe("params");
  const inputs = m.inputs as number;
  const outputs = m.outputs as number;
  const W = floats(m.W);
  const b = floats(m.b);
  expect(W).toHaveLength(inputs * outputs);
  expect(b).toHaveLength(outputs);
  return { W, b, inputs, outputs, step: m.step as number, version: m.version as number };
}

/** ŷ = x·Wᵀ + b, W outputs × inputs row-major. */
function forward(p: Params, x: readonly number[]): number[] {
  const rows = x.length / p.inputs;
  const y: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < p.outputs; o++) {
      let s = p.b[o]!;
      for (let i = 0; i < p.inputs; i++) s += x[r * p.inputs + i]! * p.W[o * p.inputs + i]!;
      y.push(s);
    }
  }
  return y;
}

/** F.mse_loss (mean over rows × outputs) and its gradient with respect to W and b. */
function mseAndGradient(p: Params, x: readonly number[], y: readonly number[]): { loss: number; gW: number[]; gb: number[] } {
  const yHat = forward(p, x);
  const rows = x.length / p.inputs;
  const count = rows * p.outputs;
  const gW = new Array<number>(p.W.length).fill(0);
  const gb = new Array<number>(p.b.length).fill(0);
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < p.outputs; o++) {
      const e = yHat[r * p.outputs + o]! - y[r * p.outputs + o]!;
      loss += e * e;
      gb[o]! += (2 * e) / count;
      for (let i = 0; i < p.inputs; i++) gW[o * p.inputs + i]! += (2 * e * x[r * p.inputs + i]!) / count;
    }
  }
  return { loss: loss / count, gW, gb };
}

// The train example of docs/PROTOCOL.md: 2 rows × 3 inputs, 2 outputs.
const X = [1, 2, 3, 4, 5, 6];
const Y = [0.5, -1, 2, 0.25];
const DOC_TRAIN_HEX =
  "85a474797065a5747261696ea373657103a56d6f64656ca66c696e652d31" +
  "a178c418" + "0000803f" + "00000040" + "00004040" + "00008040" + "0000a040" + "0000c040" +
  "a179c410" + "0000003f" + "000080bf" + "00000040" + "0000803e";

function handTrain(seq: number, model: string): Uint8Array {
  return new Writer().map(5).str("type").str("train").str("seq").uint(seq).str("model").str(model).str("x").f32(X).str("y").f32(Y).done();
}

// ---- the tests --------------------------------------------------------------------

describe("protocol interoperability (@msgpack/msgpack and hand-built frames against the real server)", () => {
  let server: GradlineServer;
  let client: Client;
  const config = { inputs: 3, outputs: 2, optimizer: { type: "sgd", lr: 0.01 }, standardize: false };
  const resolved = { inputs: 3, outputs: 2, loss: "mse", huberDelta: 1, optimizer: { type: "sgd", lr: 0.01 }, l2: 0, standardize: false, seed: 1,
    drift: { delta: 0.5, threshold: 12, warmup: 50, alpha: 0.01, onDrift: "report", boost: 10, boostSteps: 100 }, anomaly: { residual: 5, margin: 0.5, stuck: 32, warmup: 256, exclude: false } };

  beforeAll(async () => {
    server = await startServer({ port: 0, workers: 1, logger: false });
    client = await Client.connect(server.url);
  });

  afterAll(async () => {
    client?.close();
    await server?.close();
  });

  it("the hand-built train frame is the document's example, byte for byte, and what @msgpack/msgpack writes", () => {
    expect(hex(handTrain(3, "line-1"))).toBe(DOC_TRAIN_HEX);
    expect(hex(encode({ type: "train", seq: 3, model: "line-1", x: bin(X), y: bin(Y) }))).toBe(DOC_TRAIN_HEX);
  });

  it("hello → welcome with the protocol version, server name and limits", async () => {
    const welcome = await client.request({ type: "hello", protocol: 1, client: "interop-test" }, 1000);
    expect(welcome).toEqual({
      type: "welcome", seq: 1000, protocol: 1, server: expect.stringMatching(/^gradline\//),
      limits: { maxPayload: 16 * 1024 * 1024, maxRows: 65_536, maxInflight: 4096 },
      durability: "memory", dedupeWindow: 4096,
    });
    const wrong = await client.request({ type: "hello", protocol: 2 }, 0);
    expect(wrong).toMatchObject({ type: "error", seq: 0, code: "E_VERSION" });
  });

  it("an unknown model is E_NOT_FOUND with the seq and model echoed", async () => {
    const reply = await client.request({ type: "params", model: "no-such-line" }, 2 ** 40);
    expect(reply).toEqual({ type: "error", seq: 2 ** 40, code: "E_NOT_FOUND", model: "no-such-line", message: expect.any(String) });
  });

  it("create answers with the resolved config; the same config again is created:false; a different one is E_CONFLICT", async () => {
    const created = await client.request({ type: "create", model: "line-1", config });
    expect(created).toEqual({ type: "model", seq: created.seq, created: true, model: "line-1", config: resolved, step: 0, version: 0, loss: null });
    // the same resolved config, spelled differently (defaults written out, optimizer by name)
    const again = await client.request({ type: "create", model: "line-1", config: { ...config, optimizer: "sgd", seed: 1, loss: "mse" } });
    expect(again).toMatchObject({ type: "model", created: false, model: "line-1", config: resolved });
    const conflict = await client.request({ type: "create", model: "line-1", config: { ...config, optimizer: { type: "sgd", lr: 0.02 } } });
    expect(conflict).toMatchObject({ type: "error", seq: conflict.seq, code: "E_CONFLICT", model: "line-1" });
    const opened = await client.request({ type: "open", model: "line-1" });
    expect(opened).toMatchObject({ type: "model", created: false, model: "line-1", config: resolved, step: 0 });
  });

  it("train (hand-built bytes) takes one SGD step: ack loss = MSE of the old params, new params = old − lr·∇MSE", async () => {
    const before = paramsOf(await client.request({ type: "params", model: "line-1" }));
    expect(before).toMatchObject({ inputs: 3, outputs: 2, step: 0, version: 0 });
    const truth = mseAndGradient(before, X, Y);

    const seq = client.seq();
    const ack = await client.send(handTrain(seq, "line-1"), seq);
    expect(ack).toEqual({ type: "ack", seq, model: "line-1", loss: expect.any(Number), step: 1, version: 1 });
    expect(Math.abs((ack.loss as number) - truth.loss)).toBeLessThanOrEqual(1e-5 * truth.loss);

    const after = paramsOf(await client.request({ type: "params", model: "line-1" }));
    expect(after).toMatchObject({ step: 1, version: 1 });
    const lr = 0.01;
    expectClose(after.W, before.W.map((w, i) => w - lr * truth.gW[i]!));
    expectClose(after.b, before.b.map((b, i) => b - lr * truth.gb[i]!));
    // the step itself, (old − new)/lr, is the gradient
    expectClose(after.W.map((w, i) => (before.W[i]! - w) / lr), truth.gW, 1e-4);
    expectClose(after.b.map((b, i) => (before.b[i]! - b) / lr), truth.gb, 1e-4);
  });

  it("predict returns x·Wᵀ + b of the current params, as rows × outputs float32", async () => {
    const p = paramsOf(await client.request({ type: "params", model: "line-1" }));
    const x = [0.5, -1, 2, 3, 0, -0.25, -2, 1.5, 1];
    const reply = await client.request({ type: "predict", model: "line-1", x: bin(x) });
    expect(reply).toMatchObject({ type: "prediction", model: "line-1", version: p.version, rows: 3 });
    expectClose(floats(reply.y), forward(p, x));
  });

  it("pipelined trains are acked in order with increasing step", async () => {
    const start = paramsOf(await client.request({ type: "params", model: "line-1" })).step;
    const seqs = Array.from({ length: 20 }, () => client.seq());
    const acks = await Promise.all(seqs.map((seq, k) => client.send(encode({ type: "train", seq, model: "line-1", x: bin(X.map((v) => v / (k + 1))), y: bin(Y) }), seq)));
    acks.forEach((ack, k) => expect(ack).toMatchObject({ type: "ack", seq: seqs[k], model: "line-1", step: start + k + 1, version: start + k + 1 }));
  });

  it("a seq sent as uint 64 is echoed; nil optional fields count as absent", async () => {
    const seq = client.seq();
    const list = await client.send(new Writer().map(2).str("type").str("list").str("seq").uint64(seq).done(), seq);
    expect(list).toMatchObject({ type: "models", seq });
    const sub = await client.request({ type: "subscribe", model: "line-1", everySteps: null, minIntervalMs: null });
    expect(sub).toMatchObject({ type: "subscribed", model: "line-1", everySteps: 1, minIntervalMs: 0 });
    const first = await client.nextUnsolicited();
    expect(first).toMatchObject({ type: "update", model: "line-1" });
    expect(first).not.toHaveProperty("seq");
    const unsub = await client.request({ type: "unsubscribe", model: "line-1" });
    expect(unsub).toEqual({ type: "unsubscribed", seq: unsub.seq, model: "line-1" });
  });

  it("subscribe pushes the current params at once, then one update per step; delete pushes deleted", async () => {
    const created = await client.request({ type: "create", model: "line-2", config: { ...config, seed: 7 } });
    expect(created).toMatchObject({ created: true, config: { ...resolved, seed: 7 } });
    const sub = await client.request({ type: "subscribe", model: "line-2", everySteps: 1, minIntervalMs: 0 });
    expect(sub).toEqual({ type: "subscribed", seq: sub.seq, model: "line-2", everySteps: 1, minIntervalMs: 0 });
    const first = await client.nextUnsolicited();
    const p0 = paramsOf(await client.request({ type: "params", model: "line-2" }));
    expect(first).toMatchObject({ type: "update", model: "line-2", step: 0, version: 0, inputs: 3, outputs: 2, loss: null });
    expect(floats(first.W)).toEqual(p0.W);
    expect(floats(first.b)).toEqual(p0.b);

    const ack = await client.request({ type: "train", model: "line-2", x: bin(X), y: bin(Y) });
    expect(ack).toMatchObject({ type: "ack", step: 1 });
    const update = await client.nextUnsolicited();
    expect(update).toMatchObject({ type: "update", model: "line-2", step: 1, version: 1, loss: ack.loss });
    const p1 = paramsOf(await client.request({ type: "params", model: "line-2" }));
    expect(floats(update.W)).toEqual(p1.W);
    expect(floats(update.b)).toEqual(p1.b);

    const listed = await client.request({ type: "list" });
    expect(listed.type).toBe("models");
    const models = listed.models as Msg[];
    expect(models.map((m) => m.model)).toEqual(["line-1", "line-2"]);
    expect(models[1]).toEqual({ model: "line-2", config: { ...resolved, seed: 7 }, step: 1, version: 1, loss: ack.loss });

    const deleted = await client.request({ type: "delete", model: "line-2" });
    expect(deleted).toEqual({ type: "deleted", seq: deleted.seq, model: "line-2" });
    expect(await client.nextUnsolicited()).toEqual({ type: "deleted", model: "line-2" });
    const after = await client.request({ type: "list" });
    expect((after.models as Msg[]).map((m) => m.model)).toEqual(["line-1"]);
    expect(await client.request({ type: "train", model: "line-2", x: bin(X), y: bin(Y) })).toMatchObject({ type: "error", code: "E_NOT_FOUND", model: "line-2" });
  });

  it("bad frames get error replies (seq when readable) and the connection stays open", async () => {
    expect(await client.request({ type: "fly", model: "line-1" })).toMatchObject({ type: "error", code: "E_TYPE" });
    expect(await client.request({ type: "params", model: "-bad name" })).toMatchObject({ type: "error", code: "E_FIELD" });
    expect(await client.request({ type: "predict", model: "line-1", x: bin([1, 2]) })).toMatchObject({ type: "error", code: "E_SHAPE", model: "line-1" });
    expect(await client.request({ type: "train", model: "line-1", x: bin([1, 2, NaN]), y: bin([0, 0]) })).toMatchObject({ type: "error", code: "E_NONFINITE", model: "line-1" });
    expect(await client.request({ type: "create", model: "x", config: { inputs: 0, outputs: 1 } })).toMatchObject({ type: "error", code: "E_CONFIG" });

    client.ws.send(Uint8Array.from([0x82, 0xa4, 0x74])); // truncated
    const decodeError = await client.nextUnsolicited();
    expect(decodeError).toMatchObject({ type: "error", code: "E_DECODE" });
    expect(decodeError).not.toHaveProperty("seq");
    client.ws.send("{\"type\":\"list\"}"); // text frame
    expect(await client.nextUnsolicited()).toMatchObject({ type: "error", code: "E_FRAME" });

    const still = await client.request({ type: "params", model: "line-1" });
    expect(still.type).toBe("params");
  });

  it("GET /healthz and /metrics", async () => {
    const base = `http://127.0.0.1:${server.port}`;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok", models: 1, connections: 1, durability: "memory" });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    for (const name of ["gradline_connections", "gradline_messages_total", "gradline_batches_total", "gradline_errors_total", "gradline_step_latency_seconds_bucket", "gradline_model_step"]) {
      expect(metrics).toContain(name);
    }
    expect(metrics).toContain('gradline_model_step{model="line-1"} 21');
  });
});
