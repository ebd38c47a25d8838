// Crashes under load: the real server in a child process is killed with SIGKILL at
// random moments, 20 times in a row, while the real client pipelines trains to two
// models and resends what was not acknowledged (same client id and seq). After every
// restart each batch must be applied exactly once — the acks of a model carry the
// steps 1…K, each once — and the parameters must be bit-identical to one thread's
// uninterrupted run over the batches in the order of those steps.
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connect, createEngine, type Ack } from "../../host/index.js";
import { linearTargets, normals, rng } from "../helpers/random.js";
import { freePort, spawnServer, type ServerProcess } from "../helpers/serverProcess.js";

const MODELS = {
  // momentum and Adam state, standardisation statistics, anomaly and drift state: all must survive
  "line-a": { inputs: 8, outputs: 2, optimizer: { type: "momentum", lr: 0.01, momentum: 0.9 }, seed: 5 },
  "line-b": { inputs: 5, outputs: 3, optimizer: { type: "adam", lr: 0.005 }, loss: "huber", seed: 6 },
} as const;
type Name = keyof typeof MODELS;
const ROWS = 32;
const KILLS = 20;
const IN_FLIGHT = 256;

describe("crash recovery", () => {
  let data = "";
  let server: ServerProcess | undefined;
  afterAll(async () => {
    // a failed run must not leave its server behind
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill("SIGKILL");
      await server.exited;
    }
    await rm(data, { recursive: true, force: true });
  });

  it(`SIGKILL ${KILLS} times under pipelined load: every acked batch is applied exactly once, bit-identical to an uninterrupted run`, async () => {
    data = await mkdtemp(join(tmpdir(), "gradline-crash-"));
    const port = String(await freePort());
    // small checkpoint intervals: kills also land during checkpoint rounds and log truncation
    const args = ["--port", port, "--data", data, "--workers", "2", "--checkpoint-every-steps", "200"];
    server = await spawnServer(args);
    const client = await connect(server.url, { clientId: "crash-test", reconnect: { initialDelayMs: 10, maxDelayMs: 100 } });
    for (const [model, config] of Object.entries(MODELS)) await client.create(model, config);

    // batches are made again from their index for the reference: the load's length is open
    const truth = { "line-a": normals(rng(99), 8 * 2), "line-b": normals(rng(98), 5 * 3) };
    const batchOf = (model: Name, index: number) => {
      const { inputs: m, outputs: n } = MODELS[model];
      const r = rng(1000 * index + (model === "line-a" ? 1 : 2));
      const x = normals(r, ROWS * m);
      return { x, y: linearTargets(x, truth[model], new Float32Array(n), m, n, 0.1, r) };
    };
    const acks: Record<Name, Ack[]> = { "line-a": [], "line-b": [] };

    // the load: at most IN_FLIGHT trains unanswered, across kills and restarts, until the killer is done
    let sent = 0;
    let killing = true;
    const load = (async () => {
      const running = new Set<Promise<void>>();
      while (killing) {
        const model: Name = sent % 2 === 0 ? "line-a" : "line-b";
        const i = Math.floor(sent / 2);
        sent++;
        const { x, y } = batchOf(model, i);
        const done = client.train(model, x, y).then((ack) => {
          acks[model][i] = ack;
          running.delete(done);
        });
        running.add(done);
        if (running.size >= IN_FLIGHT) await Promise.race(running);
      }
      await Promise.all(running);
    })();

    // the killer: SIGKILL at a random moment, restart on the same folder and port
    let failed: unknown;
    load.catch((error: unknown) => (failed = error));
    const kill = rng(7);
    const logs: string[] = [];
    // what each server said, for a failure's message
    const said = () => [...logs, server!.output()].map((text, k) => `--- server ${k}:\n${text}`).join("\n");
    for (let k = 0; k < KILLS; k++) {
      // under load: the client is back and sending before the next kill (on a busy machine a restart takes a while)
      const before = sent;
      for (let waited = 0; sent < before + 64 && !failed && waited < 30_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
      await new Promise((resolve) => setTimeout(resolve, kill.uniform(20, 400)));
      if (failed) throw new Error(`the load failed: ${String(failed)}\n${said()}`);
      expect(sent, "the load keeps going between kills").toBeGreaterThan(before + 64);
      server.child.kill("SIGKILL");
      await server.exited;
      logs.push(server.output());
      server = await spawnServer(args);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    killing = false;
    await load;
    if (failed) throw new Error(`the load failed: ${String(failed)}\n${said()}`);
    const batches = Math.floor(sent / 2); // per model (line-b may have one less)
    const duplicates = [...acks["line-a"], ...acks["line-b"]].filter((ack) => ack.duplicate).length;

    // every batch acked; per model the acked steps are exactly 1…count: nothing lost, nothing applied twice
    const engine = await createEngine({ workers: 0 });
    for (const model of Object.keys(MODELS) as Name[]) {
      const count = acks[model].length;
      expect(count).toBeGreaterThanOrEqual(batches);
      const order = acks[model].map((ack, index) => ({ index, step: ack.step })).sort((p, q) => p.step - q.step);
      expect(order.map((o) => o.step)).toEqual(Array.from({ length: count }, (_, i) => i + 1));

      // the reference: one thread, no interruption, the batches in the order the server applied them
      const reference = engine.createModel(MODELS[model]);
      for (const { index } of order) {
        const { x, y } = batchOf(model, index);
        reference.train(x, y);
      }
      const expected = reference.params();
      const remote = await client.params(model);
      expect(remote.step).toBe(count);
      expect(Array.from(remote.W), `${model}: W bit-identical`).toEqual(Array.from(expected.W));
      expect(Array.from(remote.b), `${model}: b bit-identical`).toEqual(Array.from(expected.b));
    }
    engine.close();
    // the log is cut back behind the checkpoint rounds, kills or not: its start is gone, and it holds a fraction of what was sent
    const segments = (await readdir(data)).filter((f) => f.startsWith("wal-"));
    expect(segments).not.toContain("wal-0000000000000001.log");
    let logBytes = 0;
    for (const segment of segments) logBytes += (await stat(join(data, segment))).size;
    const sentBytes = (sent / 2) * ROWS * 4 * (8 + 2 + 5 + 3);
    expect(logBytes).toBeLessThan(0.25 * sentBytes);
    expect(said()).not.toMatch(/DEGRADED/);
    console.log(`crash test: ${KILLS} kills, ${sent} batches, ${duplicates} resends answered as duplicates; log ${segments.length} file(s), ${(logBytes / 2 ** 20).toFixed(1)} MiB of ${(sentBytes / 2 ** 20).toFixed(1)} MiB sent`);

    client.close();
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  }, 180_000);
});
