// Graceful shutdown of the real CLI server under pipelined load: SIGTERM stops new
// work (E_SHUTDOWN), finishes and acks every accepted batch, checkpoints, and
// closes with 1001. After a restart on the same data folder the model holds exactly
// the acked batches: its parameters equal one thread's replay of them.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { pack } from "msgpackr";
import { createEngine } from "../../host/index.js";
import { floatsOf } from "../../host/protocol/codec.js";
import { normals, rng } from "../helpers/random.js";
import { serverRefuses, spawnServer } from "../helpers/serverProcess.js";
import { WireClient } from "../helpers/wire.js";

const config = { inputs: 16, outputs: 4, optimizer: { type: "momentum", lr: 0.01, momentum: 0.9 }, seed: 3 };
const bin = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe("server shutdown", () => {
  const folders: string[] = [];
  afterAll(async () => {
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
  });

  it("SIGTERM with batches in flight: every acked batch is in the restarted model, nothing else", async () => {
    const data = await mkdtemp(join(tmpdir(), "gradline-shutdown-"));
    folders.push(data);
    const first = await spawnServer(["--port", "0", "--data", data, "--workers", "2"]);
    const wire = await WireClient.open(first.url);
    await wire.call({ type: "create", seq: 1, model: "line", config });

    const r = rng(21);
    const batches = Array.from({ length: 2000 }, () => ({ x: normals(r, 256 * 16), y: normals(r, 256 * 4) }));
    batches.forEach(({ x, y }, i) => wire.sendRaw(pack({ type: "train", seq: 1000 + i, model: "line", x: bin(x), y: bin(y) })));
    await wire.next((reply) => reply.type === "ack" && (reply.step as number) >= 20);
    first.child.kill("SIGTERM");
    await wire.whenClosed();
    expect(await first.exited).toBe(0);
    expect(wire.closed?.code).toBe(1001);

    // acks come in order and cover a prefix of what was sent; the rest was refused or never read
    const replies = wire.log;
    const acked = replies.filter((reply) => reply.type === "ack").map((reply) => (reply.seq as number) - 1000);
    expect(acked.length).toBeGreaterThanOrEqual(20);
    const gap = acked.findIndex((seq, i) => seq !== i);
    expect(gap, `ack ${gap} is for batch ${acked[gap]}; replies around it: ${JSON.stringify(replies.filter((r) => Math.abs((r.seq as number) - 1000 - gap) < 3))}`).toBe(-1);
    const refused = replies.filter((reply) => reply.type === "error");
    expect(refused.every((reply) => reply.code === "E_SHUTDOWN")).toBe(true);
    expect(refused.every((reply) => (reply.seq as number) - 1000 >= acked.length)).toBe(true);
    expect(first.output()).toContain("1 model(s) checkpointed");

    const second = await spawnServer(["--port", "0", "--data", data, "--workers", "1"]);
    const again = await WireClient.open(second.url);
    const restored = await again.call({ type: "params", seq: 1, model: "line" });
    expect(restored.step).toBe(acked.length);
    const engine = await createEngine({ workers: 0 });
    const reference = engine.createModel({ ...config, optimizer: { type: "momentum", lr: 0.01, momentum: 0.9 } });
    for (const i of acked) reference.train(batches[i]!.x, batches[i]!.y);
    const truth = reference.params();
    expect(Array.from(floatsOf(restored.W as Uint8Array, "W"))).toEqual(Array.from(truth.W));
    expect(Array.from(floatsOf(restored.b as Uint8Array, "b"))).toEqual(Array.from(truth.b));
    engine.close();
    again.close();
    second.child.kill("SIGINT");
    expect(await second.exited).toBe(0);
  });

  it("exits promptly although a health checker holds an HTTP keep-alive connection; a clean shutdown leaves no log to replay", async () => {
    const data = await mkdtemp(join(tmpdir(), "gradline-keepalive-"));
    folders.push(data);
    const server = await spawnServer(["--port", "0", "--data", data, "--workers", "0"]);
    const wire = await WireClient.open(server.url);
    await wire.call({ type: "create", seq: 1, model: "line", config });
    const { port } = new URL(server.url);
    const socket = connect(Number(port), "127.0.0.1");
    let answers = "";
    socket.on("data", (chunk) => (answers += chunk.toString()));
    const ask = () => socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
    ask();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(answers).toContain('"status":"ok"');
    const stopped = Date.now();
    server.child.kill("SIGTERM");
    const poll = setInterval(ask, 300); // it keeps asking, as a checker does
    expect(await server.exited).toBe(0);
    clearInterval(poll);
    socket.destroy();
    expect(Date.now() - stopped).toBeLessThan(5000);
    expect((await readdir(data)).sort()).toEqual([".gradline.lockname", "line.ckpt", "line.ckpt.prev"]);
  });

  it("refuses uWebSockets.js's pure-JS fallback unless allowed", async () => {
    const { code, output } = await serverRefuses(["--port", "0", "--data", ""], { UWS_USE_FALLBACK: "1" });
    expect(code).toBe(1);
    expect(output).toMatch(/E_CONFIG: uWebSockets\.js loaded its pure-JS fallback/);
  });
});
