// Fuzzing the real server (issue 6): 120,000 frames, structure-aware (fast-check) and
// random, over four connections, into `gradline serve` in a child process. The server
// must not crash, must answer every frame with exactly one reply and never with
// E_INTERNAL, must keep answering hello and /healthz, must keep its memory bounded, and
// must leave the models no valid message addressed (two sentinels) byte for byte as
// they were, in memory and through a restart from its data folder.
// Deterministic from the seed it prints; FUZZ_SEED=n picks another. The longer run is
// bench/fuzz.bench.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnServer, type ServerProcess } from "../helpers/serverProcess.js";
import { WireClient } from "../helpers/wire.js";
import {
  createSentinels, healthz, runFuzz, SENTINEL_NAMES, snapshotDiff, snapshotModel, tally, watchServer,
  type ModelSnapshot, type RunReport,
} from "../helpers/fuzz.js";

const SEED = process.env.FUZZ_SEED === undefined ? 60_601 : Number(process.env.FUZZ_SEED);
const FRAMES = 120_000;
/**
 * RSS is taken as the baseline once this many frames are in. V8 goes on growing its heap
 * for a while (the live heap after a full GC stays ~10 MiB, but the committed heap grows
 * from ~18 to ~50 MiB over the first ~50,000 frames), so RSS still rises 15–35 MiB after
 * this, then levels off.
 */
const WARMUP = 20_000;
/** Largest RSS growth allowed from the baseline to the end (100,000 frames later). A leak of 1 KiB per frame would add ~98 MiB. */
const RSS_GROWTH_MIB = 64;
const CHECKPOINT_EVERY = 10_000;
const MAX_PAYLOAD = 256 * 1024;
const MAX_ROWS = 256;

describe("fuzzing the server", () => {
  let data: string;
  let server: ServerProcess;
  let control: WireClient;
  let seqs = 1_000_000_000_000;
  const seq = () => ++seqs;
  const args = () => ["--port", "0", "--workers", "1", "--max-rows", String(MAX_ROWS), "--max-payload", String(MAX_PAYLOAD), "--data", data];
  const alive = () => server.child.exitCode === null && server.child.signalCode === null;

  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), "gradline-fuzz-"));
    server = await spawnServer(args());
    control = await WireClient.open(server.url);
  });

  afterAll(async () => {
    control?.close();
    if (server && alive()) {
      server.child.kill("SIGKILL");
      await server.exited;
    }
    if (data) await rm(data, { recursive: true, force: true });
  });

  it(`${FRAMES} fuzz frames: no crash, no E_INTERNAL, one reply each, bounded memory, sentinels untouched (seed ${SEED})`, async () => {
    console.log(`fuzz seed ${SEED} (FUZZ_SEED to change)`);
    const pid = server.child.pid!;
    const before: Map<string, ModelSnapshot> = await createSentinels(control, SEED, seq);

    // checkpoints, beside the fuzz: the server is alive and answering; its RSS; the models the fuzz made are swept away
    const watch = watchServer(pid, server.url, () => control, alive, () => String(server.child.exitCode ?? server.child.signalCode), seq);
    const { problems, rss } = watch;
    const checkpoint = (sent: number) => watch.check(sent);

    const report: RunReport = await runFuzz({
      url: server.url, seed: SEED, frames: FRAMES, connections: 4, window: 64, maxPayload: MAX_PAYLOAD, maxRows: MAX_ROWS,
      closingWeight: 2, forbidden: SENTINEL_NAMES, checkpointEvery: CHECKPOINT_EVERY, onCheckpoint: checkpoint,
    });
    await checkpoint(report.sent);

    const baseline = rss.find((p) => p.sent >= WARMUP) ?? rss.at(-1)!;
    const end = rss.at(-1)!;
    console.log(
      `fuzz: ${report.sent} frames (${tally(report.byKind)}), ${(report.bytes / 2 ** 20).toFixed(1)} MiB, in ${(report.ms / 1000).toFixed(1)} s (${Math.round(report.sent / (report.ms / 1000))} frames/s)\n` +
      `replies ${report.replies} (${tally(report.replyTypes)}), pushes ${report.pushes}\n` +
      `errors: ${tally(report.errors)}\n` +
      `closing frames ${report.closing.sent} (closed ${report.closing.closed}, answered ${report.closing.answered}), reconnects ${report.reconnects}, fuzz models swept ${watch.swept}\n` +
      `server RSS MiB: start ${rss[0]!.mib.toFixed(0)}, after ${baseline.sent} frames ${baseline.mib.toFixed(0)}, end ${end.mib.toFixed(0)} (every ${CHECKPOINT_EVERY}: ${rss.map((p) => p.mib.toFixed(0)).join(" ")})`,
    );
    // the first few incidents with their likeliest frames, shortened (the runner keeps up to 4 KiB of each)
    for (const incident of report.incidents.slice(0, 3)) console.log(`INCIDENT ${incident.what}: ${incident.detail}\n  ${incident.frames.slice(0, 3).map((f) => f.slice(0, 300)).join("\n  ")}`);
    if (!alive()) console.log(`SERVER EXITED (${server.child.exitCode ?? server.child.signalCode}):\n${server.output().slice(-1500)}`);
    else if (server.output().includes("internal error")) console.log(`SERVER LOG:\n${server.output().slice(-1500)}`);

    // nothing went wrong on the way
    expect(report.incidents.map((i) => `${i.what}: ${i.detail}`)).toEqual([]);
    expect(report.errors.E_INTERNAL ?? 0).toBe(0);
    expect(problems).toEqual([]);
    expect(report.sent).toBe(FRAMES);
    // every frame but those that close the connection got exactly one reply
    expect(report.replies).toBe(report.sent - report.closing.closed);
    expect(report.closing.closed + report.closing.answered).toBe(report.closing.sent);
    expect(report.byKind.oversize ?? 0).toBeGreaterThan(0);
    expect(report.closing.closed).toBeGreaterThanOrEqual(report.byKind.oversize ?? 0);
    // the fuzz reached the models: valid trains were acked, and requests were refused for every kind of reason
    expect(report.replyTypes.ack ?? 0).toBeGreaterThan(1000);
    for (const code of ["E_DECODE", "E_FRAME", "E_MESSAGE", "E_TYPE", "E_FIELD", "E_VERSION", "E_NOT_FOUND", "E_CONFLICT", "E_LIMIT", "E_CONFIG", "E_SHAPE", "E_NONFINITE", "E_SETPOINT"]) {
      expect(report.errors[code] ?? 0, code).toBeGreaterThan(0);
    }

    // still alive, still answering
    expect(alive()).toBe(true);
    expect(await control.call({ type: "hello", seq: seq(), protocol: 1 })).toMatchObject({ type: "welcome", protocol: 1 });
    expect((await healthz(server.url)).status).toBe(200);
    expect(server.output()).not.toContain("internal error");

    // memory: bounded once warm
    expect(end.mib - baseline.mib, `RSS ${baseline.mib.toFixed(0)} MiB after ${baseline.sent} frames, ${end.mib.toFixed(0)} MiB at the end`).toBeLessThan(RSS_GROWTH_MIB);

    // the sentinels: untouched
    for (const name of SENTINEL_NAMES) expect(snapshotDiff(await snapshotModel(control, name, seq), before.get(name)!), name).toEqual([]);

    // and through a restart from the data folder: a clean shutdown, then the same bytes
    control.close();
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    server = await spawnServer(args());
    control = await WireClient.open(server.url);
    for (const name of SENTINEL_NAMES) expect(snapshotDiff(await snapshotModel(control, name, seq), before.get(name)!), `${name} after a restart`).toEqual([]);
  }, 180_000);
});
