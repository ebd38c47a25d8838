// The protocol's statements a client author relies on (PROTOCOL.md §3.2, §5.2, §6.3,
// §11), checked on a real server: which replies may overtake which, what a resend of
// a logged but never-acknowledged train carries, integers at ±2⁵³ inside config, and
// what gradline_messages_total counts.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encode as encodeBig } from "@msgpack/msgpack";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEngine, startServer, type GradlineServer, type ModelOptions } from "../../host/index.js";
import { spawnServer } from "../helpers/serverProcess.js";
import { WireClient, type Reply } from "../helpers/wire.js";

const x = new Float32Array([1, 2, 3, 4, 5, 6]);
const y = new Float32Array([1, 2, 3, 4]);
const config: ModelOptions = { inputs: 3, outputs: 2, standardize: false, optimizer: { type: "sgd", lr: 0.01 } };

describe("reply order", () => {
  let data = "";
  let server: GradlineServer;
  let wire: WireClient;
  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), "gradline-order-"));
    // wal mode: every new train waits for a synced write before it is applied and answered
    server = await startServer({ port: 0, data, workers: 1, logger: false });
    wire = await WireClient.open(server.url);
    await wire.call({ type: "hello", seq: 1, protocol: 1, clientId: "order-test" });
    await wire.call({ type: "create", seq: 2, model: "m", config });
  });
  afterAll(async () => {
    wire.close();
    await server.close();
    await rm(data, { recursive: true, force: true });
  });

  it("acks a model's new trains in arrival order with strictly increasing version; a duplicate's answer may overtake them", async () => {
    const first = await wire.call({ type: "train", seq: 10, model: "m", x, y });
    expect(first).toMatchObject({ type: "ack", step: 1, version: 1 });
    const start = wire.log.length;
    // new trains 11 … 14, then a resend of 10 (applied): its answer does not wait for them
    for (let seq = 11; seq <= 14; seq++) wire.send({ type: "train", seq, model: "m", x, y });
    wire.send({ type: "train", seq: 10, model: "m", x, y });
    // and a frame the server cannot read: its error has no seq and is sent at once
    wire.sendRaw(Uint8Array.from([0x82, 0xa4, 0x74])); // a map cut short
    await wire.next((r) => r.seq === 14);
    await wire.next((r) => r.seq === undefined && r.type === "error");
    const replies = wire.log.slice(start);
    // what PROTOCOL.md §3.2 promises: these MAY come ahead of trains sent before them; they come, each once
    expect(replies.filter((r) => r.duplicate).length).toBe(1);
    expect(replies.filter((r) => r.seq === undefined && r.code === "E_DECODE").length).toBe(1);
    const duplicate = replies.find((r) => r.duplicate) as Reply;
    expect(duplicate).toMatchObject({ type: "ack", seq: 10, step: 1, version: 1, loss: first.loss });
    const fresh = replies.filter((r) => r.type === "ack" && !r.duplicate);
    expect(fresh.map((r) => r.seq)).toEqual([11, 12, 13, 14]);
    expect(fresh.map((r) => r.version)).toEqual([2, 3, 4, 5]);
  });
});

describe("a resend of a train logged but never acknowledged", () => {
  it("is answered after a kill -9 as a duplicate carrying the loss, step and version of the uninterrupted run", async () => {
    const data = await mkdtemp(join(tmpdir(), "gradline-logged-"));
    try {
      // the uninterrupted run, for the numbers the lost acks would have carried
      const engine = await createEngine({ workers: 0 });
      const reference = engine.createModel(config);
      const expected = [reference.train(x, y), reference.train(x, y), reference.train(x, y)];
      engine.close();

      const first = await spawnServer(["--data", data, "--port", "0", "--workers", "0"]);
      const wire = await WireClient.open(first.url);
      await wire.call({ type: "hello", seq: 1, protocol: 1, clientId: "logged" });
      await wire.call({ type: "create", seq: 2, model: "m", config });
      // the acks of 3 … 5 are sent but the client acts as if it never read them: only the log holds the trains
      for (const seq of [3, 4, 5]) wire.send({ type: "train", seq, model: "m", x, y });
      await wire.next((r) => r.seq === 5);
      first.child.kill("SIGKILL");
      await first.exited;
      wire.close();

      const again = await spawnServer(["--data", data, "--port", "0", "--workers", "0"]);
      const resend = await WireClient.open(again.url);
      await resend.call({ type: "hello", seq: 1, protocol: 1, clientId: "logged" });
      expect(await resend.call({ type: "params", seq: 2, model: "m" })).toMatchObject({ version: 3, step: 3 });
      for (const [i, seq] of [3, 4, 5].entries()) {
        const ack = await resend.call({ type: "train", seq, model: "m", x, y });
        expect(ack).toMatchObject({ type: "ack", duplicate: true, step: expected[i]!.step, version: expected[i]!.version, loss: expected[i]!.loss });
      }
      expect(await resend.call({ type: "params", seq: 9, model: "m" })).toMatchObject({ version: 3, step: 3 });
      resend.close();
      again.child.kill("SIGTERM");
      await again.exited;
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });
});

describe("integers at ±2⁵³ inside config, and what gradline_messages_total counts", () => {
  let server: GradlineServer;
  let wire: WireClient;
  beforeAll(async () => {
    server = await startServer({ port: 0, workers: 0, logger: false });
    wire = await WireClient.open(server.url);
  });
  afterAll(async () => {
    wire.close();
    await server.close();
  });

  it("reads MessagePack ints up to ±2⁵³ as numbers checked by their field's range, and refuses ints beyond with E_FIELD", async () => {
    const create = (seq: number, model: string, options: Record<string, unknown>) =>
      wire.sendRaw(encodeBig({ type: "create", seq, model, config: { inputs: 1, outputs: 1, ...options } }, { useBigInt64: true }));
    // int 64 beyond ±2⁵³: not a number JavaScript holds exactly
    for (const [seq, value] of [[5, 2n ** 53n + 1n], [6, -(2n ** 53n) - 1n]] as const) {
      create(seq, `big-${seq}`, { seed: value });
      expect(await wire.next((r) => r.seq === seq)).toMatchObject({ type: "error", code: "E_FIELD", message: expect.stringContaining("config.seed") });
    }
    // ±2⁵³ as int 64, and 2⁵³ as a float: a number, checked by the field
    create(7, "int-l2", { l2: 2n ** 53n });
    expect(await wire.next((r) => r.seq === 7)).toMatchObject({ type: "model", created: true });
    create(8, "int-seed", { seed: 2n ** 53n });
    expect(await wire.next((r) => r.seq === 8)).toMatchObject({ type: "error", code: "E_CONFIG" });
    create(9, "int-l2-negative", { l2: -(2n ** 53n) });
    expect(await wire.next((r) => r.seq === 9)).toMatchObject({ type: "error", code: "E_CONFIG" });
    expect(await wire.call({ type: "create", seq: 10, model: "float-l2", config: { inputs: 1, outputs: 1, l2: 2 ** 53 } })).toMatchObject({ type: "model", created: true });
    expect(await wire.call({ type: "create", seq: 11, model: "float-seed", config: { inputs: 1, outputs: 1, seed: 2 ** 53 } })).toMatchObject({ type: "error", code: "E_CONFIG" });
    // at the top level, seq's range stops at 2⁵³ − 1
    wire.sendRaw(encodeBig({ type: "list", seq: 2n ** 53n }, { useBigInt64: true }));
    expect(await wire.next((r) => r.type === "error" && r.code === "E_FIELD" && r.seq === undefined)).toMatchObject({ code: "E_FIELD" });
  });

  it("counts well-formed requests by type, whatever their answer, and not frames refused before", async () => {
    const counted = async () => {
      const text = await (await fetch(server.url.replace("ws://", "http://") + "metrics")).text();
      return Number(/gradline_messages_total\{type="train"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    await wire.call({ type: "create", seq: 20, model: "count", config: { inputs: 3, outputs: 2 } });
    const before = await counted();
    expect(await wire.call({ type: "train", seq: 21, model: "count", x: new Uint8Array(5), y })).toMatchObject({ code: "E_FIELD" });
    expect(await counted()).toBe(before);
    expect(await wire.call({ type: "train", seq: 22, model: "count", x: new Float32Array(4), y })).toMatchObject({ code: "E_SHAPE" });
    expect(await wire.call({ type: "train", seq: 23, model: "nowhere", x, y })).toMatchObject({ code: "E_NOT_FOUND" });
    expect(await wire.call({ type: "train", seq: 24, model: "count", x, y })).toMatchObject({ type: "ack" });
    expect(await counted()).toBe(before + 3);
  });
});
