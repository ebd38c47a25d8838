// What the data folder promises, checked on real files: checkpoint rounds and log
// truncation, damaged checkpoint and log files, a full and a read-only data folder
// (a small tmpfs, remounted read-only), the checkpoint-only mode, resends by
// (clientId, seq), and memory limits. Truth is one thread's uninterrupted run over
// the acked batches, in the order of their steps.
import { execFileSync } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createEngine, startServer, lineLogger, type GradlineServer } from "../../host/index.js";
import { floatsOf } from "../../host/protocol/codec.js";
import { linearTargets, normals, rng } from "../helpers/random.js";
import { spawnServer } from "../helpers/serverProcess.js";
import { WireClient, type Reply } from "../helpers/wire.js";

const config = { inputs: 6, outputs: 2, optimizer: { type: "momentum", lr: 0.02, momentum: 0.9 }, seed: 11 } as const;
const W_TRUE = normals(rng(5), 12);
const bin = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Batch i of the test's stream: the same every time it is asked for. */
function batch(i: number): { x: Float32Array; y: Float32Array } {
  const r = rng(500 + i);
  const x = normals(r, 16 * 6);
  return { x, y: linearTargets(x, W_TRUE, [0.5, -1], 6, 2, 0.05, r) };
}

/** W and b of one thread's run over the batches, in order. */
async function reference(indices: number[]): Promise<{ W: number[]; b: number[] }> {
  const engine = await createEngine({ workers: 0 });
  const model = engine.createModel(config);
  for (const i of indices) model.train(batch(i).x, batch(i).y);
  const { W, b } = model.params();
  engine.close();
  return { W: Array.from(W), b: Array.from(b) };
}

const weights = (reply: Reply) => ({ W: Array.from(floatsOf(reply.W as Uint8Array, "W")), b: Array.from(floatsOf(reply.b as Uint8Array, "b")) });

/** Opens a connection that says hello with a client id. */
async function session(url: string, clientId = "durability-test"): Promise<WireClient> {
  const wire = await WireClient.open(url);
  await wire.call({ type: "hello", seq: 0, protocol: 1, clientId });
  return wire;
}

/** Sends batches first…first+count−1 pipelined (seq = 1000 + i); resolves with every reply, by batch. */
async function trainRange(wire: WireClient, first: number, count: number): Promise<Map<number, Reply>> {
  const replies = new Map<number, Reply>();
  const pending: Promise<void>[] = [];
  for (let i = first; i < first + count; i++) {
    const { x, y } = batch(i);
    wire.send({ type: "train", seq: 1000 + i, model: "line", x: bin(x), y: bin(y) });
    pending.push(wire.reply(1000 + i).then((reply) => void replies.set(i, reply)));
  }
  await Promise.all(pending);
  return replies;
}

/** The same in runs of `chunk`, each answered before the next is sent: steps arrive over time, as a line sends them. */
async function trainInRuns(wire: WireClient, first: number, count: number, chunk = 25): Promise<void> {
  for (let i = first; i < first + count; i += chunk) {
    const replies = await trainRange(wire, i, Math.min(chunk, first + count - i));
    expect([...replies.values()].every((r) => r.type === "ack")).toBe(true);
  }
}

const health = async (server: { port: number } | string) => {
  const url = typeof server === "string" ? server.replace("ws://", "http://") : `http://127.0.0.1:${server.port}/`;
  const response = await fetch(`${url}healthz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

const metric = async (port: number, name: string): Promise<number> => {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
};

const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

describe("durability", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  });
  const folder = async (prefix: string) => {
    const path = await mkdtemp(join(tmpdir(), prefix));
    cleanup.push(() => rm(path, { recursive: true, force: true }));
    return path;
  };
  /** A tmpfs of `size` at a new folder: a disk that fills, and can be made read-only. */
  const smallDisk = async (size: string) => {
    const path = await folder("gradline-tmpfs-");
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", path]);
    cleanup.push(async () => void execFileSync("umount", ["-l", path]));
    return path;
  };

  it("checkpoint rounds every N steps keep two generations and truncate the log; a restart is bit-identical", async () => {
    const data = await folder("gradline-rounds-");
    const options = { port: 0, workers: 1, data, checkpointEverySteps: 40, logger: false as const };
    let server: GradlineServer = await startServer(options);
    let wire = await session(server.url);
    await wire.call({ type: "create", seq: 1, model: "line", config });
    await trainInRuns(wire, 0, 400);
    await until("several rounds ran", async () => (await metric(server.port, "gradline_checkpoint_rounds_total")) >= 5);
    wire.close();
    await server.close();
    const files = await readdir(data);
    expect(files).toContain("line.ckpt");
    expect(files).toContain("line.ckpt.prev");
    // the log is cut back behind the rounds: a few segments, not one per round
    expect(files.filter((f) => f.startsWith("wal-")).length).toBeLessThanOrEqual(3);

    server = await startServer(options);
    wire = await session(server.url);
    const restored = await wire.call({ type: "params", seq: 2, model: "line" });
    expect(restored.step).toBe(400);
    expect(weights(restored)).toEqual(await reference(Array.from({ length: 400 }, (_, i) => i)));
    wire.close();
    await server.close();
  });

  it("damaged files after a crash: a corrupt, truncated or missing checkpoint falls back to the previous generation plus the log; a torn log tail loses nothing acked", async () => {
    const data = await folder("gradline-damage-");
    const args = ["--port", "0", "--workers", "1", "--checkpoint-every-steps", "50"];
    const first = await spawnServer([...args, "--data", data]);
    const wire = await session(first.url);
    await wire.call({ type: "create", seq: 1, model: "line", config });
    await trainInRuns(wire, 0, 230);
    await until("both generations exist", async () => (await readdir(data)).includes("line.ckpt.prev"));
    await trainRange(wire, 230, 20);
    first.child.kill("SIGKILL");
    await first.exited;
    const truth = await reference(Array.from({ length: 250 }, (_, i) => i));

    const damages: Record<string, (copy: string) => Promise<void>> = {
      "corrupt checkpoint": async (copy) => {
        const bytes = await readFile(join(copy, "line.ckpt"));
        bytes[bytes.length >> 1]! ^= 0xff;
        await writeFile(join(copy, "line.ckpt"), bytes);
      },
      "truncated checkpoint": async (copy) => truncate(join(copy, "line.ckpt"), (await stat(join(copy, "line.ckpt"))).size >> 1),
      "missing checkpoint": async (copy) => rm(join(copy, "line.ckpt")),
      "torn log tail": async (copy) => {
        const last = (await readdir(copy)).filter((f) => f.startsWith("wal-")).sort().at(-1)!;
        // half a record, as a crash in the middle of a write leaves it
        await writeFile(join(copy, last), new Uint8Array([200, 1, 0, 0, 7, 7, 7, 7, 1, 2, 3]), { flag: "a" });
      },
    };
    for (const [damage, apply] of Object.entries(damages)) {
      const copy = await folder("gradline-damaged-");
      await cp(data, copy, { recursive: true });
      await apply(copy);
      const server = await spawnServer([...args, "--data", copy]);
      const again = await session(server.url);
      const restored = await again.call({ type: "params", seq: 2, model: "line" });
      expect(restored.step, damage).toBe(250);
      expect(weights(restored), damage).toEqual(truth);
      if (damage.endsWith("checkpoint")) expect(server.output(), damage).toMatch(/skipped line\.ckpt .*|restored from its previous checkpoint generation/);
      if (damage !== "missing checkpoint" && damage.endsWith("checkpoint")) {
        expect(server.output(), damage).toMatch(/restored from its previous checkpoint generation/);
        // set aside, so the next round cannot push it over the good generation
        expect(await readdir(copy), damage).toContain("line.ckpt.damaged");
      }
      if (damage === "torn log tail") expect(server.output()).toMatch(/cut short/);
      again.close();
      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
    }
  });

  it("a logged batch the engine then refuses (queue full) is cancelled in the log: a replay does not apply it", async () => {
    const data = await folder("gradline-cancel-");
    const server = await startServer({ port: 0, workers: 1, data, engine: { maxQueuedPerModel: 4 }, logger: false });
    const wire = await session(server.url);
    await wire.call({ type: "create", seq: 1, model: "line", config });
    const replies = await trainRange(wire, 0, 300);
    const acked = [...replies].filter(([, r]) => r.type === "ack").sort(([, p], [, q]) => (p.step as number) - (q.step as number)).map(([i]) => i);
    const busy = [...replies.values()].filter((r) => r.type === "error");
    expect(busy.length).toBeGreaterThan(0);
    expect(busy.every((r) => r.code === "E_BUSY")).toBe(true);
    // the files as a crash would leave them (every reply is in; the cancel records are being synced)
    await new Promise((resolve) => setTimeout(resolve, 200));
    const copy = await folder("gradline-cancel-copy-");
    await cp(data, copy, { recursive: true });
    wire.close();
    await server.close();

    const again = await startServer({ port: 0, workers: 1, data: copy, logger: false });
    const wire2 = await session(again.url);
    const restored = await wire2.call({ type: "params", seq: 2, model: "line" });
    expect(restored.step).toBe(acked.length);
    expect(weights(restored)).toEqual(await reference(acked));
    wire2.close();
    await again.close();
  });

  it("a full data folder: E_STORAGE instead of a false ack, degraded /healthz and metrics, reads still served; recovers when space is freed", async () => {
    const disk = await smallDisk("3m");
    const data = join(disk, "data");
    await mkdir(data);
    const filler = join(disk, "filler");
    let server: GradlineServer = await startServer({ port: 0, workers: 1, data, logger: false });
    let wire = await session(server.url);
    await wire.call({ type: "create", seq: 1, model: "line", config });
    // leave about 150 KB free: a few hundred batches of 832 bytes fit, then the disk is full
    const free = Number(execFileSync("df", ["--output=avail", "-B1", disk]).toString().split("\n")[1]);
    await writeFile(filler, new Uint8Array(free - 150 * 1024));
    const replies = await trainRange(wire, 0, 600);
    const acked = [...replies].filter(([, r]) => r.type === "ack").map(([i]) => i);
    const refused = [...replies.values()].filter((r) => r.type === "error");
    expect(acked.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    for (const error of refused) {
      expect(error.code, String(error.message)).toBe("E_STORAGE");
      expect(error.message, String(error.message)).toMatch(/cannot be written \(ENOSPC.*nothing was applied/);
    }
    // acks are a prefix: nothing acked after the first refusal
    expect(Math.max(...acked)).toBeLessThan(Math.min(...[...replies].filter(([, r]) => r.type === "error").map(([i]) => i)));
    expect(await health(server)).toMatchObject({ status: 503, body: { status: "degraded" } });
    expect(await metric(server.port, "gradline_storage_degraded")).toBe(1);
    expect(await metric(server.port, "gradline_storage_errors_total")).toBeGreaterThan(0);
    // reads are served, and the model holds exactly the acked batches
    const during = await wire.call({ type: "params", seq: 2, model: "line" });
    expect(during.step).toBe(acked.length);
    expect(weights(during)).toEqual(await reference(acked));
    expect(await wire.call({ type: "predict", seq: 3, model: "line", x: bin(batch(0).x) })).toMatchObject({ type: "prediction" });
    expect(await wire.call({ type: "create", seq: 4, model: "other", config })).toMatchObject({ type: "error", code: "E_STORAGE" });

    await rm(filler);
    await until("healthy again", async () => (await health(server)).status === 200);
    expect(await metric(server.port, "gradline_storage_degraded")).toBe(0);
    const later = await trainRange(wire, 600, 20);
    expect([...later.values()].every((r) => r.type === "ack")).toBe(true);
    wire.close();
    await server.close();

    server = await startServer({ port: 0, workers: 1, data, logger: false });
    wire = await session(server.url);
    const restored = await wire.call({ type: "params", seq: 5, model: "line" });
    expect(restored.step).toBe(acked.length + 20);
    expect(weights(restored)).toEqual(await reference([...acked, ...Array.from({ length: 20 }, (_, i) => 600 + i)]));
    wire.close();
    await server.close();
  });

  it("a read-only data folder: starts degraded with its models readable, refuses writes, recovers when writable again", async () => {
    const disk = await smallDisk("8m");
    let server: GradlineServer = await startServer({ port: 0, workers: 1, data: disk, logger: false });
    let wire = await session(server.url);
    await wire.call({ type: "create", seq: 1, model: "line", config });
    await trainRange(wire, 0, 30);
    wire.close();
    await server.close();

    execFileSync("mount", ["-o", "remount,ro", disk]);
    const lines: string[] = [];
    server = await startServer({ port: 0, workers: 1, data: disk, logger: lineLogger((line) => lines.push(line)) });
    expect(lines.join("\n")).toMatch(/DEGRADED/);
    expect(await health(server)).toMatchObject({ status: 503, body: { status: "degraded" } });
    wire = await session(server.url);
    const restored = await wire.call({ type: "params", seq: 2, model: "line" });
    expect(restored.step).toBe(30);
    expect(weights(restored)).toEqual(await reference(Array.from({ length: 30 }, (_, i) => i)));
    const refused = await trainRange(wire, 30, 3);
    expect([...refused.values()].map((r) => r.code)).toEqual(["E_STORAGE", "E_STORAGE", "E_STORAGE"]);
    expect((await wire.call({ type: "params", seq: 3, model: "line" })).step).toBe(30);

    execFileSync("mount", ["-o", "remount,rw", disk]);
    await until("healthy again", async () => (await health(server)).status === 200);
    const accepted = await trainRange(wire, 30, 3);
    expect([...accepted.values()].map((r) => r.step)).toEqual([31, 32, 33]);
    wire.close();
    await server.close();
  });

  it("durability checkpoint: acks without the log; a crash keeps exactly what the last checkpoint held", async () => {
    const data = await folder("gradline-ckpt-mode-");
    const server = await spawnServer(["--port", "0", "--workers", "1", "--data", data, "--durability", "checkpoint", "--checkpoint-every-steps", "100"]);
    const wire = await WireClient.open(server.url);
    expect(await wire.call({ type: "hello", seq: 0, protocol: 1 })).toMatchObject({ durability: "checkpoint" });
    await wire.call({ type: "create", seq: 1, model: "line", config });
    await trainRange(wire, 0, 250);
    await until("a checkpoint at 200 or more", async () => {
      const restored = await readFile(join(data, "line.ckpt")).catch(() => undefined);
      return restored !== undefined && (await readdir(data)).includes("line.ckpt.prev");
    });
    server.child.kill("SIGKILL");
    await server.exited;
    expect((await readdir(data)).filter((f) => f.startsWith("wal-"))).toEqual([]);

    const again = await spawnServer(["--port", "0", "--workers", "1", "--data", data, "--durability", "checkpoint"]);
    const wire2 = await WireClient.open(again.url);
    const restored = await wire2.call({ type: "params", seq: 2, model: "line" });
    const step = restored.step as number;
    expect(step).toBeGreaterThanOrEqual(100);
    expect(step).toBeLessThanOrEqual(250);
    expect(weights(restored)).toEqual(await reference(Array.from({ length: step }, (_, i) => i)));
    wire2.close();
    again.child.kill("SIGTERM");
    expect(await again.exited).toBe(0);
  });

  it("a folder last served with the log, opened in checkpoint mode: the log's batches go into checkpoints, then the log goes", async () => {
    const data = await folder("gradline-switch-");
    const server = await startServer({ port: 0, workers: 1, data, logger: false });
    const wire = await session(server.url);
    await wire.call({ type: "create", seq: 1, model: "line", config });
    await trainRange(wire, 0, 60);
    const image = await folder("gradline-switch-image-");
    await cp(data, image, { recursive: true }); // as a crash leaves it: no checkpoint yet
    wire.close();
    await server.close();
    expect((await readdir(image)).filter((f) => f.endsWith(".ckpt"))).toEqual([]);

    const again = await startServer({ port: 0, workers: 1, data: image, durability: "checkpoint", logger: false });
    expect((await readdir(image)).sort()).toEqual([".gradline.lockname", "line.ckpt"]);
    const wire2 = await session(again.url);
    const restored = await wire2.call({ type: "params", seq: 2, model: "line" });
    expect(restored.step).toBe(60);
    expect(weights(restored)).toEqual(await reference(Array.from({ length: 60 }, (_, i) => i)));
    wire2.close();
    await again.close();
  });

  it("a resent (clientId, seq) gets the first ack and is not applied again; without a clientId, or after a refused step, it is applied", async () => {
    const server = await startServer({ port: 0, workers: 1, logger: false });
    const a = await session(server.url, "plc-7");
    await a.call({ type: "create", seq: 1, model: "line", config });
    const { x, y } = batch(0);
    const first = await a.call({ type: "train", seq: 50, model: "line", x: bin(x), y: bin(y) });
    expect(first).toMatchObject({ type: "ack", step: 1 });
    expect(first.duplicate).toBeUndefined();
    // again on the same connection, and from a new connection of the same client
    const again = await a.call({ type: "train", seq: 50, model: "line", x: bin(x), y: bin(y) });
    const b = await session(server.url, "plc-7");
    const elsewhere = await b.call({ type: "train", seq: 50, model: "line", x: bin(x), y: bin(y) });
    for (const duplicate of [again, elsewhere]) expect(duplicate).toEqual({ ...first, duplicate: true });
    expect((await b.call({ type: "params", seq: 2, model: "line" })).step).toBe(1);
    // another client may use the same seq: it is another batch
    const c = await session(server.url, "plc-8");
    expect(await c.call({ type: "train", seq: 50, model: "line", x: bin(x), y: bin(y) })).toMatchObject({ type: "ack", step: 2 });
    // a step the engine refused is forgotten: the corrected resend is applied
    const bad = Float32Array.from(x);
    bad[3] = NaN;
    expect(await a.call({ type: "train", seq: 51, model: "line", x: bin(bad), y: bin(y) })).toMatchObject({ type: "error", code: "E_NONFINITE" });
    expect(await a.call({ type: "train", seq: 51, model: "line", x: bin(x), y: bin(y) })).toMatchObject({ type: "ack", step: 3 });
    // without a client id nothing is remembered
    const plain = await WireClient.open(server.url);
    expect(await plain.call({ type: "train", seq: 50, model: "line", x: bin(x), y: bin(y) })).toMatchObject({ type: "ack", step: 4 });
    expect(await metric(server.port, "gradline_duplicate_trains_total")).toBe(2);
    expect(await plain.call({ type: "hello", seq: 9, protocol: 1, clientId: "has space" })).toMatchObject({ type: "error", code: "E_FIELD" });
    for (const wire of [a, b, c, plain]) wire.close();
    await server.close();
  });

  it("memory limits per model and in total: E_LIMIT, nothing created", async () => {
    const server = await startServer({ port: 0, workers: 0, maxModelBytes: 64 * 1024, maxMemory: 200 * 1024, logger: false });
    const wire = await WireClient.open(server.url);
    const big = await wire.call({ type: "create", seq: 1, model: "big", config: { inputs: 400, outputs: 20 } });
    expect(big).toMatchObject({ type: "error", code: "E_LIMIT" });
    expect(big.message).toMatch(/memory of a 20×400 model/);
    let created = 0;
    let refusal: Reply | undefined;
    for (let i = 0; i < 20 && !refusal; i++) {
      const reply = await wire.call({ type: "create", seq: 10 + i, model: `m${i}`, config: { inputs: 100, outputs: 20 } });
      if (reply.type === "model") created++;
      else refusal = reply;
    }
    expect(created).toBeGreaterThan(0);
    expect(refusal).toMatchObject({ code: "E_LIMIT", message: expect.stringMatching(/memory of all models/) });
    expect(((await wire.call({ type: "list", seq: 99 })).models as unknown[]).length).toBe(created);
    wire.close();
    await server.close();
  });
});
