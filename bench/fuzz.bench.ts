// The long fuzz run (issue 6): the frames of test/server/fuzz.test.ts (structure-aware
// fast-check requests, random bytes, mutations of valid frames, text frames, frames that
// close the connection) into `gradline serve` in a child process, for millions of frames,
// with the same checks: the server never crashes and never answers E_INTERNAL, answers
// every frame exactly once, keeps answering hello and /healthz, its RSS stays bounded,
// and two sentinel models no frame names are byte for byte unchanged, also after a
// restart from the data folder. Prints a table; exits 1 when a check fails.
//
// Run: npm run bench:fuzz
//      node dist/bench/fuzz.bench.js [--frames N] [--seconds S] [--seed N] [--connections N] [--window N]
//      (default 2,000,000 frames; --seconds stops earlier; FUZZ_SEED also sets the seed)
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { WireClient } from "../test/helpers/wire.js";
import {
  createSentinels, runFuzz, SENTINEL_NAMES, snapshotDiff, snapshotModel, tally, watchServer,
  type ModelSnapshot,
} from "../test/helpers/fuzz.js";

const cli = fileURLToPath(new URL("../host/cli.js", import.meta.url));
const MAX_PAYLOAD = 256 * 1024;
const MAX_ROWS = 256;
/** RSS growth allowed from the baseline (after WARMUP frames) to the end; a leak of 1 KiB per frame adds ~1 GiB per million frames. */
const RSS_GROWTH_MIB = 96;
const WARMUP = 100_000;
const CHECKPOINT_EVERY = 50_000;

const { values } = parseArgs({
  options: {
    frames: { type: "string" }, seconds: { type: "string" }, seed: { type: "string" },
    connections: { type: "string" }, window: { type: "string" },
  },
  strict: true,
});
const int = (v: string | undefined, fallback: number, name: string): number => {
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a whole number (got ${v})`);
  return n;
};
const FRAMES = int(values.frames, 2_000_000, "frames");
const SECONDS = values.seconds === undefined ? undefined : int(values.seconds, 0, "seconds");
const SEED = int(values.seed ?? process.env.FUZZ_SEED, 60_601, "seed");
const CONNECTIONS = Math.max(1, int(values.connections, 4, "connections"));
const WINDOW = Math.max(1, int(values.window, 64, "window"));

interface Server { child: ChildProcess; url: string; output: () => string; exited: Promise<number | null> }

/** `gradline serve` in a child process, once it listens. */
function serve(data: string): Promise<Server> {
  const args = ["serve", "--port", "0", "--workers", "1", "--max-rows", String(MAX_ROWS), "--max-payload", String(MAX_PAYLOAD), "--data", data];
  const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      // keep the start (the listening line) and the end (what it said last)
      text = text.length > 200_000 ? text.slice(0, 2_000) + "\n…\n" + text.slice(-100_000) + chunk.toString() : text + chunk.toString();
      const match = /listening on (ws:\/\/\S+)/.exec(text);
      if (match) resolve({ child, url: match[1]!, output: () => text, exited });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then((code) => reject(new Error(`gradline serve exited with ${code} before listening:\n${text}`)));
  });
}

const data = await mkdtemp(join(os.tmpdir(), "gradline-fuzz-bench-"));
let server = await serve(data);
const alive = () => server.child.exitCode === null && server.child.signalCode === null;
let control = await WireClient.open(server.url);
let seqs = 1_000_000_000_000;
const seq = () => ++seqs;
const pid = server.child.pid!;

console.log(`gradline fuzz: ${FRAMES.toLocaleString("en")} frames${SECONDS === undefined ? "" : ` or ${SECONDS} s`}, seed ${SEED}, ${CONNECTIONS} connections × window ${WINDOW}, server: --workers 1 --max-rows ${MAX_ROWS} --max-payload ${MAX_PAYLOAD}`);
console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, Node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);

const before: Map<string, ModelSnapshot> = await createSentinels(control, SEED, seq);
let lastProgress = performance.now();
let lastSent = 0;
const watch = watchServer(pid, server.url, () => control, alive, () => String(server.child.exitCode ?? server.child.signalCode), seq, (sent, mib) => {
  const now = performance.now();
  console.log(`  ${sent.toLocaleString("en").padStart(11)} frames  ${Math.round(((sent - lastSent) * 1000) / (now - lastProgress)).toLocaleString("en").padStart(7)} frames/s  RSS ${mib.toFixed(0)} MiB`);
  lastProgress = now;
  lastSent = sent;
});
const { problems, rss } = watch;
const checkpoint = (sent: number) => watch.check(sent);

const report = await runFuzz({
  url: server.url, seed: SEED, frames: FRAMES, ...(SECONDS === undefined ? {} : { seconds: SECONDS }), connections: CONNECTIONS, window: WINDOW,
  maxPayload: MAX_PAYLOAD, maxRows: MAX_ROWS, closingWeight: 2, forbidden: SENTINEL_NAMES, checkpointEvery: CHECKPOINT_EVERY, onCheckpoint: checkpoint,
});
await checkpoint(report.sent);

// the end: alive, answering, sentinels unchanged; then a clean shutdown and a restart from the data folder
const crashed = !alive();
const crashOutput = crashed ? server.output().slice(-3000) : "";
const internalLogged = (server.output().match(/internal error/g) ?? []).length;
let unchanged = "not checked (server down)";
let unchangedAfterRestart = "not checked";
let shutdownCode: number | null | string = "not tried";
if (!crashed) {
  const diffs = [];
  for (const name of SENTINEL_NAMES) diffs.push(...snapshotDiff(await snapshotModel(control, name, seq), before.get(name)!).map((d) => `${name}: ${d}`));
  unchanged = diffs.length === 0 ? "yes" : `NO (${diffs.join("; ")})`;
  control.close();
  server.child.kill("SIGTERM");
  shutdownCode = await server.exited;
  server = await serve(data);
  control = await WireClient.open(server.url);
  const after = [];
  for (const name of SENTINEL_NAMES) after.push(...snapshotDiff(await snapshotModel(control, name, seq), before.get(name)!).map((d) => `${name}: ${d}`));
  unchangedAfterRestart = after.length === 0 ? "yes" : `NO (${after.join("; ")})`;
  control.close();
  server.child.kill("SIGTERM");
  await server.exited;
} else {
  control.close();
}
await rm(data, { recursive: true, force: true });

const baseline = rss.find((p) => p.sent >= WARMUP) ?? rss.at(-1)!;
const end = rss.at(-1)!;
const growth = end.mib - baseline.mib;
const seconds = report.ms / 1000;
const rows: [string, string][] = [
  ["frames sent", `${report.sent.toLocaleString("en")} (${tally(report.byKind)})`],
  ["bytes sent", `${(report.bytes / 2 ** 20).toFixed(1)} MiB`],
  ["time", `${seconds.toFixed(1)} s`],
  ["frames/s", Math.round(report.sent / seconds).toLocaleString("en")],
  ["replies", `${report.replies.toLocaleString("en")} (${tally(report.replyTypes)})`],
  ["pushes", report.pushes.toLocaleString("en")],
  ...Object.entries(report.errors).sort((a, b) => b[1] - a[1]).map(([code, n]): [string, string] => [`  error ${code}`, n.toLocaleString("en")]),
  ["closing frames", `${report.closing.sent} sent: ${report.closing.closed} closed the connection, ${report.closing.answered} answered`],
  ["reconnects", String(report.reconnects)],
  ["fuzz models swept", String(watch.swept)],
  ["RSS start", `${rss[0]!.mib.toFixed(0)} MiB`],
  [`RSS after warm-up (${baseline.sent.toLocaleString("en")} frames)`, `${baseline.mib.toFixed(0)} MiB`],
  ["RSS max", `${Math.max(...rss.map((p) => p.mib)).toFixed(0)} MiB`],
  ["RSS end", `${end.mib.toFixed(0)} MiB (${growth >= 0 ? "+" : ""}${growth.toFixed(0)} MiB since warm-up; bound +${RSS_GROWTH_MIB})`],
  ["sentinels unchanged", unchanged],
  ["  after a restart", unchangedAfterRestart],
  ["shutdown exit code", String(shutdownCode)],
  ["crashes", crashed ? `1 (exit ${server.child.exitCode ?? server.child.signalCode})` : "0"],
  ["E_INTERNAL replies", String(report.errors.E_INTERNAL ?? 0)],
  ["incidents", String(report.incidents.length)],
  ["checkpoint problems", String(problems.length)],
];
const width = Math.max(...rows.map(([k]) => k.length));
console.log();
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);

for (const incident of report.incidents.slice(0, 5)) console.log(`\nINCIDENT ${incident.what}: ${incident.detail}\n  ${incident.frames.slice(0, 4).join("\n  ")}`);
for (const problem of problems.slice(0, 10)) console.log(`PROBLEM ${problem}`);
if (crashed) console.log(`\nSERVER OUTPUT (end):\n${crashOutput}`);
else if (internalLogged > 0) console.log(`\nthe server logged ${internalLogged} internal error(s)`);

const ok = !crashed && report.incidents.length === 0 && (report.errors.E_INTERNAL ?? 0) === 0 && problems.length === 0 &&
  unchanged === "yes" && unchangedAfterRestart === "yes" && shutdownCode === 0 && growth < RSS_GROWTH_MIB &&
  report.replies === report.sent - report.closing.closed;
console.log(`\n${ok ? "PASS" : "FAIL"}`);
process.exitCode = ok ? 0 : 1;
