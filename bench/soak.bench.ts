// The soak run (not CI): the real server with a data folder, under the server
// bench's workload ((m, n) = (16, 4), B = 64 rows, 4 connections with one model
// each, from bench/loadgen.ts), in three phases:
//
//   1. max        closed-loop saturation of a `--durability wal` server (and, for
//                 reference, of a `checkpoint` one): the highest batches/s with
//                 every batch logged and fdatasync'ed before its ack;
//   2. compare    open loop at a fixed rate (half the wal maximum; also 10k/s when
//                 below the maximum) against a wal and a checkpoint server, runs
//                 alternated (wal, checkpoint, wal, checkpoint …) so the shared
//                 machine's noise falls on both modes alike: ack latency per run
//                 and the medians per mode;
//   3. soak       `--minutes` at half the wal maximum against a fresh wal server,
//                 open loop: the server's RSS every 5 s, latency per 30 s window,
//                 errors, frames held back or sent late, the data folder's size,
//                 checkpoint rounds and the storage-degraded gauge from /metrics.
//
// Every server is `node dist/host/cli.js serve --port 0 --data <fresh temporary
// folder> --workers N --durability MODE` (the folder is removed at the end); every
// load generator is a forked bench/loadgen.ts. Output: a markdown report ready for
// bench/RESULTS.md, with verdicts; progress goes to stderr.
//
// Run: npm run build:ts && node dist/bench/soak.bench.js [--minutes 10] [--rate R]
//        [--compare-seconds 30] [--compare-rounds 2] [--max-seconds 10] [--workers 1]
//        [--warmup-seconds 60]
import os from "node:os";
import { execFileSync, fork, spawn, type ChildProcess } from "node:child_process";
import { closeSync, fdatasyncSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { get as httpGet } from "node:http";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Command, FrameLayout, Report, RunCommand, RunResult, Shape, WindowReport } from "./loadgen.js";
import { median, merged, percentile } from "./stats.js";

// ------------------------------------------------------------------ set-up

const SHAPE: Shape = { inputs: 16, outputs: 4, rows: 64 };
/** Connections in all, one model each (`bench-0` …), from one generator process (as the server bench's fixed loads). */
const CONNECTIONS = 4;
const SEED = 4242;
/** Closed loop: unanswered frames per connection (as bench/server.bench.ts). */
const SATURATION_WINDOW = 128;
/** Open loop: unanswered frames a connection may have before due frames are held back (as bench/server.bench.ts). */
const MAX_OUTSTANDING = 512;
const MIN_TICK_MS = 0.1;
/** Time from a run command to the run's start: the generator starts its ticker thread meanwhile. */
const LEAD_MS = 300;
const WARMUP_MS = { saturate: 2000, rate: 2000 } as const;
/** Soak: latency percentiles per window of this many ms; the server's RSS and the rest every SAMPLE_MS. */
const WINDOW_MS = 30_000;
const SAMPLE_MS = 5_000;
/** Verdict thresholds. */
const LIMITS = {
  /** RSS at the end against RSS at the end of the warm-up. */
  rssGrowth: 0.1,
  /** The worst window's p99 against the median window p99 (after the warm-up). */
  p99Spread: 3,
  /** The median window p99 of the second half against that of the first half. */
  p99Drift: 1.5,
  /** The data folder's largest size in the second half against that in the first half (after the warm-up). */
  folderGrowth: 1.25,
} as const;

const here = fileURLToPath(new URL(".", import.meta.url));
const cli = resolve(here, "../host/cli.js");
const loadgen = join(here, "loadgen.js");

const sig = (v: number, digits = 3): number => (Number.isFinite(v) ? Number(v.toPrecision(digits)) : v);
const epochNow = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const loadAverage = (): string => os.loadavg().map((l) => l.toFixed(2)).join(" ");
const mb = (bytes: number): number => sig(bytes / 2 ** 20, 4);
const log = (line: string): void => void process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** Percentiles in µs, for tables. */
interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

const percentilesUs = (sorted: Float64Array): Percentiles => ({
  p50: sig(1e3 * percentile(sorted, 0.5)),
  p90: sig(1e3 * percentile(sorted, 0.9)),
  p99: sig(1e3 * percentile(sorted, 0.99)),
  p999: sig(1e3 * percentile(sorted, 0.999)),
  max: sig(1e3 * percentile(sorted, 1)),
});

function markdownTable(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.map((c) => String(c)).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

const sumErrors = (errors: Record<string, number>): number => Object.values(errors).reduce((s, n) => s + n, 0);
const errorText = (errors: Record<string, number>): string =>
  sumErrors(errors) === 0 ? "0" : `${sumErrors(errors)} (${Object.entries(errors).map(([c, n]) => `${c} ${n}`).join(", ")})`;

// ---------------------------------------------------------------- options

interface Options {
  minutes: number;
  rate: number | undefined;
  compareSeconds: number;
  compareRounds: number;
  maxSeconds: number;
  workers: number;
  warmupSeconds: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: "string" },
      rate: { type: "string" },
      "compare-seconds": { type: "string" },
      "compare-rounds": { type: "string" },
      "max-seconds": { type: "string" },
      workers: { type: "string" },
      "warmup-seconds": { type: "string" },
    },
    strict: true,
  });
  const number = (value: string | undefined, name: string, fallback: number, min: number, integer = false): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) throw new Error(`--${name} must be ${integer ? "an integer" : "a number"} ≥ ${min} (got ${value})`);
    return n;
  };
  const options: Options = {
    minutes: number(values.minutes, "minutes", 10, 0.5),
    rate: values.rate === undefined ? undefined : number(values.rate, "rate", 0, 1),
    compareSeconds: number(values["compare-seconds"], "compare-seconds", 30, 1),
    compareRounds: number(values["compare-rounds"], "compare-rounds", 2, 1, true),
    maxSeconds: number(values["max-seconds"], "max-seconds", 10, 1),
    workers: number(values.workers, "workers", 1, 0, true),
    warmupSeconds: number(values["warmup-seconds"], "warmup-seconds", 60, 0),
  };
  if (options.warmupSeconds >= options.minutes * 60) throw new Error("--warmup-seconds must be shorter than the soak (--minutes)");
  return options;
}

// --------------------------------------------------------------- children

const children = new Set<ChildProcess>();
const folders = new Set<string>();

function cleanUp(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  children.clear();
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  folders.clear();
}

process.on("exit", cleanUp);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    cleanUp();
    process.exit(130);
  });
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once("exit", () => r()));

type Mode = "wal" | "checkpoint";

interface LogLine {
  /** Seconds since the server started. */
  at: number;
  stream: "stdout" | "stderr";
  text: string;
}

/** `node dist/host/cli.js serve` on a fresh temporary data folder. */
class ServerChild {
  readonly child: ChildProcess;
  readonly folder: string;
  readonly lines: LogLine[] = [];
  readonly startedAt = performance.now();
  port = 0;
  /** How the server ended: exit code or signal, and how long SIGTERM → exit took. */
  ending: { code: number | string; shutdownMs: number; folderBytes: number; files: number } | undefined;

  constructor(readonly name: string, readonly mode: Mode, workers: number) {
    this.folder = mkdtempSync(join(os.tmpdir(), `gradline-soak-${mode}-`));
    folders.add(this.folder);
    this.child = spawn(process.execPath, [cli, "serve", "--port", "0", "--data", this.folder, "--workers", String(workers), "--durability", mode], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(this.child);
  }

  get args(): string {
    return `node dist/host/cli.js serve --port 0 --data <tmp> --workers ${this.child.spawnargs[this.child.spawnargs.indexOf("--workers") + 1]} --durability ${this.mode}`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  async listening(): Promise<void> {
    const seconds = () => sig((performance.now() - this.startedAt) / 1e3, 4);
    const port = new Promise<number>((resolvePort, reject) => {
      for (const stream of ["stdout", "stderr"] as const) {
        createInterface({ input: this.child[stream]! }).on("line", (text) => {
          this.lines.push({ at: seconds(), stream, text });
          const match = /listening on ws:\/\/[^/]*:(\d+)\//.exec(text);
          if (match) resolvePort(Number(match[1]));
        });
      }
      this.child.once("exit", (code, signal) => reject(new Error(`${this.name} exited before listening (${code ?? signal}): ${this.lines.map((l) => l.text).join(" / ")}`)));
    });
    this.port = await port;
  }

  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  checkAlive(): void {
    if (!this.alive()) throw new Error(`${this.name} exited during the bench (${this.child.exitCode ?? this.child.signalCode}); log: ${this.lines.map((l) => l.text).join(" / ")}`);
  }

  /** SIGTERM (the server finishes accepted work and writes its checkpoints), then the folder is measured and removed. */
  async stop(graceMs = 60_000): Promise<void> {
    const t0 = performance.now();
    if (this.alive()) this.child.kill("SIGTERM");
    await Promise.race([exited(this.child), sleep(graceMs)]);
    if (this.alive()) this.child.kill("SIGKILL");
    await exited(this.child);
    children.delete(this.child);
    const { bytes, files } = folderSize(this.folder);
    this.ending = { code: this.child.exitCode ?? this.child.signalCode ?? "?", shutdownMs: performance.now() - t0, folderBytes: bytes, files: files.length };
    rmSync(this.folder, { recursive: true, force: true });
    folders.delete(this.folder);
  }
}

/** A load generator process (bench/loadgen.ts): one command at a time; window reports while a run lasts. */
class GeneratorChild {
  readonly child: ChildProcess;
  private waiting: { expect: Report["type"]; resolve(report: Report): void; reject(error: Error): void } | undefined;
  onWindow: ((report: WindowReport) => void) | undefined;

  constructor() {
    this.child = fork(loadgen, [], { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] });
    children.add(this.child);
    this.child.on("message", (report: Report) => {
      if (report.type === "window") {
        this.onWindow?.(report);
        return;
      }
      const waiting = this.waiting;
      this.waiting = undefined;
      if (!waiting) return;
      if (report.type === "failed") waiting.reject(new Error(`load generator: ${report.message}`));
      else if (report.type !== waiting.expect) waiting.reject(new Error(`load generator answered ${report.type}, not ${waiting.expect}`));
      else waiting.resolve(report);
    });
    this.child.on("exit", (code, signal) => this.waiting?.reject(new Error(`load generator exited (${code ?? signal})`)));
  }

  get pid(): number {
    return this.child.pid!;
  }

  request<T extends Report["type"]>(command: Command, expect: T): Promise<Extract<Report, { type: T }>> {
    return new Promise((resolveReport, reject) => {
      this.waiting = { expect, resolve: (report) => resolveReport(report as Extract<Report, { type: T }>), reject };
      this.child.send(command);
    });
  }

  async connect(server: ServerChild): Promise<FrameLayout> {
    const ready = await this.request(
      {
        type: "connect",
        url: `ws://127.0.0.1:${server.port}/`,
        connections: CONNECTIONS,
        firstModel: 0,
        create: true,
        matchBy: "seq",
        shape: SHAPE,
        seed: SEED,
        cork: true,
      },
      "ready",
    );
    return ready.layout;
  }

  async close(): Promise<void> {
    if (this.child.connected) await this.request({ type: "close" }, "closed").catch(() => undefined);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    await Promise.race([exited(this.child), sleep(2000)]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await exited(this.child);
    children.delete(this.child);
  }
}

// ------------------------------------------------------------------ probes

/** User + system CPU seconds of a process, all threads (/proc/<pid>/stat, clock ticks of 1/100 s). */
function processCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // fields after the command name (which may hold spaces) start at state: utime and stime are the 12th and 13th after it
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** The machine's busy and steal seconds (first line of /proc/stat). */
function machineCpu(): { busy: number; steal: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return { busy: (user + nice + system + irq + softirq) / 100, steal: steal / 100 };
}

/** VmRSS, RssAnon (bytes) and the thread count from /proc/<pid>/status. */
function memoryOf(pid: number): { rss: number; anon: number; threads: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb("VmRSS"), anon: kb("RssAnon"), threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN) };
  } catch {
    return { rss: NaN, anon: NaN, threads: NaN };
  }
}

/** Total bytes of the files in a folder (flat: the data folder holds no sub-folders), and their names. */
function folderSize(folder: string): { bytes: number; files: string[] } {
  let bytes = 0;
  const files: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(folder);
  } catch {
    return { bytes: NaN, files };
  }
  for (const name of names) {
    try {
      bytes += statSync(join(folder, name)).size;
      files.push(name);
    } catch {
      // removed meanwhile (a truncated log segment, a renamed checkpoint)
    }
  }
  return { bytes, files };
}

/** Write `bytes` + fdatasync, `count` times, in a fresh file of `folder`: the disk's sync latency (ms, sorted). */
function syncProbe(folder: string, bytes: number, count: number): Float64Array {
  const file = join(folder, "sync-probe");
  const fd = openSync(file, "a");
  const data = new Uint8Array(bytes).fill(0x5a);
  const out = new Float64Array(count);
  try {
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      writeSync(fd, data);
      fdatasyncSync(fd);
      out[i] = performance.now() - t;
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  return out.sort();
}

/** The server's counters from GET /metrics. */
interface ServerMetrics {
  batches: number;
  errors: Record<string, number>;
  storageErrors: number;
  checkpointRounds: number;
  degraded: number;
  queueDepth: number;
  /** Cumulative step-latency histogram (frame arrival → ack queued): upper bound in s → count. */
  latency: Map<number, number>;
}

/**
 * GET on a connection of its own, closed after the reply: an idle keep-alive
 * connection would hold a stopping server's process open (see the report's notes).
 */
function httpText(port: number, path: string): Promise<string> {
  return new Promise((resolveText, reject) => {
    const request = httpGet({ host: "127.0.0.1", port, path, agent: false, headers: { connection: "close" }, timeout: 10_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolveText(Buffer.concat(chunks).toString("utf8")));
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`GET ${path} timed out`)));
    request.on("error", reject);
  });
}

async function metricsOf(port: number): Promise<ServerMetrics> {
  const text = await httpText(port, "/metrics");
  const m: ServerMetrics = { batches: 0, errors: {}, storageErrors: 0, checkpointRounds: 0, degraded: 0, queueDepth: 0, latency: new Map() };
  for (const line of text.split("\n")) {
    let r: RegExpExecArray | null;
    if ((r = /^gradline_batches_total (\S+)$/.exec(line))) m.batches = Number(r[1]);
    else if ((r = /^gradline_errors_total\{code="([^"]+)"\} (\S+)$/.exec(line))) m.errors[r[1]!] = Number(r[2]);
    else if ((r = /^gradline_storage_errors_total(?:\{[^}]*\})? (\S+)$/.exec(line))) m.storageErrors += Number(r[1]);
    else if ((r = /^gradline_checkpoint_rounds_total (\S+)$/.exec(line))) m.checkpointRounds = Number(r[1]);
    else if ((r = /^gradline_storage_degraded (\S+)$/.exec(line))) m.degraded = Number(r[1]);
    else if ((r = /^gradline_queue_depth (\S+)$/.exec(line))) m.queueDepth = Number(r[1]);
    else if ((r = /^gradline_step_latency_seconds_bucket\{le="([^"]+)"\} (\S+)$/.exec(line))) m.latency.set(r[1] === "+Inf" ? Infinity : Number(r[1]), Number(r[2]));
  }
  return m;
}

/** The smallest histogram bound holding fraction p of the steps between two readings, as "≤ N". */
function serverPercentile(a: ServerMetrics, b: ServerMetrics, p: number): string {
  const total = (b.latency.get(Infinity) ?? 0) - (a.latency.get(Infinity) ?? 0);
  if (total <= 0) return "";
  for (const [bound, count] of b.latency) {
    if (count - (a.latency.get(bound) ?? 0) >= p * total) return bound === Infinity ? "> 1 s" : `≤ ${sig(bound * 1e6)}`;
  }
  return "";
}

const errorsBetween = (a: ServerMetrics, b: ServerMetrics): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const [code, n] of Object.entries(b.errors)) if (n - (a.errors[code] ?? 0) > 0) out[code] = n - (a.errors[code] ?? 0);
  return out;
};

// -------------------------------------------------------- phases 1 and 2

interface Outcome {
  mode: Mode;
  kind: "saturate" | "rate";
  /** rate: batches/s offered; the round it belongs to. */
  offered: number;
  round: number;
  measureMs: number;
  repliesPerS: number;
  latency: Float64Array;
  lateness: Float64Array;
  held: number;
  unanswered: number;
  errors: Record<string, number>;
  errorExamples: string[];
  serverErrors: Record<string, number>;
  serverP50: string;
  serverP99: string;
  checkpointRounds: number;
  degraded: number;
  serverCores: number;
  generatorCores: number;
  machineCores: number;
  /** Machine busy − server − generator − this process: other sessions' load. */
  otherCores: number;
  steal: number;
}

interface CpuMark {
  at: number;
  server: number;
  generator: number;
  self: number;
  machine: { busy: number; steal: number };
}

const cpuMark = (server: ServerChild, generator: GeneratorChild): CpuMark => ({
  at: performance.now(),
  server: processCpu(server.pid),
  generator: processCpu(generator.pid),
  self: processCpu(process.pid),
  machine: machineCpu(),
});

async function measure(server: ServerChild, generator: GeneratorChild, spec: Omit<RunCommand, "type" | "startAt">, round: number): Promise<Outcome> {
  server.checkAlive();
  const before = await metricsOf(server.port);
  const startAt = epochNow() + LEAD_MS;
  const result = generator.request({ ...spec, type: "run", startAt }, "result");
  result.catch(() => undefined);
  await sleep(startAt + spec.warmupMs - epochNow());
  const a = cpuMark(server, generator);
  await sleep(startAt + spec.warmupMs + spec.measureMs - epochNow());
  const b = cpuMark(server, generator);
  const r: RunResult = await result;
  server.checkAlive();
  const after = await metricsOf(server.port);
  const s = (b.at - a.at) / 1e3;
  return {
    mode: server.mode,
    kind: spec.mode,
    offered: spec.rate,
    round,
    measureMs: spec.measureMs,
    repliesPerS: (1e3 * r.repliesInWindow) / spec.measureMs,
    latency: r.latencyMs.sort(),
    lateness: r.latenessMs.sort(),
    held: r.held,
    unanswered: r.unanswered,
    errors: r.errors,
    errorExamples: r.errorExamples,
    serverErrors: errorsBetween(before, after),
    serverP50: serverPercentile(before, after, 0.5),
    serverP99: serverPercentile(before, after, 0.99),
    checkpointRounds: after.checkpointRounds - before.checkpointRounds,
    degraded: Math.max(before.degraded, after.degraded),
    serverCores: (b.server - a.server) / s,
    generatorCores: (b.generator - a.generator) / s,
    machineCores: (b.machine.busy - a.machine.busy) / s,
    otherCores: Math.max(0, (b.machine.busy - a.machine.busy - (b.server - a.server) - (b.generator - a.generator) - (b.self - a.self)) / s),
    steal: (b.machine.steal - a.machine.steal) / s,
  };
}

function note(o: Outcome): void {
  const what = o.kind === "saturate" ? "saturation" : `${o.offered}/s round ${o.round}`;
  const errs = sumErrors(o.errors) + o.unanswered > 0 ? ` ERRORS ${errorText(o.errors)}, unanswered ${o.unanswered}` : "";
  log(`${o.mode}: ${what}: ${sig(o.repliesPerS)} replies/s, p50 ${sig(1e3 * percentile(o.latency, 0.5))} µs, p99 ${sig(1e3 * percentile(o.latency, 0.99))} µs, held ${o.held}${errs}`);
}

const saturateSpec = (seconds: number): Omit<RunCommand, "type" | "startAt"> => ({
  mode: "saturate",
  warmupMs: WARMUP_MS.saturate,
  measureMs: seconds * 1000,
  drainMs: 10_000,
  window: SATURATION_WINDOW,
  rate: 0,
  maxOutstanding: SATURATION_WINDOW,
  minTickMs: 0,
});

const rateSpec = (rate: number, seconds: number, extra: Partial<RunCommand> = {}): Omit<RunCommand, "type" | "startAt"> => ({
  mode: "rate",
  warmupMs: WARMUP_MS.rate,
  measureMs: seconds * 1000,
  drainMs: 10_000,
  window: 0,
  rate,
  maxOutstanding: MAX_OUTSTANDING,
  minTickMs: MIN_TICK_MS,
  ...extra,
});

interface Fleet {
  server: ServerChild;
  generator: GeneratorChild;
  layout: FrameLayout;
}

async function startFleet(name: string, mode: Mode, workers: number): Promise<Fleet> {
  const server = new ServerChild(name, mode, workers);
  await server.listening();
  const generator = new GeneratorChild();
  const layout = await generator.connect(server);
  return { server, generator, layout };
}

async function stopFleet(fleet: Fleet): Promise<void> {
  await fleet.generator.close();
  await fleet.server.stop();
}

// ----------------------------------------------------------------- phase 3

interface Sample {
  /** The sampler's tick (every SAMPLE_MS from the start), or -1 for the sample after the drain. */
  k: number;
  /** Seconds since the soak's start. */
  t: number;
  rss: number;
  anon: number;
  threads: number;
  generatorRss: number;
  folderBytes: number;
  walSegments: number;
  checkpointFiles: number;
  checkpointRounds: number;
  degraded: number;
  storageErrors: number;
  queueDepth: number;
  batches: number;
  serverErrors: number;
  serverCpu: number;
  generatorCpu: number;
  selfCpu: number;
  machine: { busy: number; steal: number };
  metrics: ServerMetrics | undefined;
}

interface Window {
  index: number;
  /** Seconds since the soak's start: [from, to). */
  from: number;
  to: number;
  replies: number;
  sent: number;
  held: number;
  errors: number;
  latency: Float64Array;
  lateness: Float64Array;
}

async function sample(server: ServerChild, generator: GeneratorChild, t0: number, k: number): Promise<Sample> {
  const t = (epochNow() - t0) / 1e3;
  const memory = memoryOf(server.pid);
  const { bytes, files } = folderSize(server.folder);
  let metrics: ServerMetrics | undefined;
  try {
    metrics = await metricsOf(server.port);
  } catch (error) {
    log(`GET /metrics failed at t = ${sig(t)} s: ${error instanceof Error ? error.message : String(error)}`);
  }
  return {
    k,
    t,
    rss: memory.rss,
    anon: memory.anon,
    threads: memory.threads,
    generatorRss: memoryOf(generator.pid).rss,
    folderBytes: bytes,
    walSegments: files.filter((f) => f.startsWith("wal-")).length,
    checkpointFiles: files.filter((f) => f.includes(".ckpt")).length,
    checkpointRounds: metrics?.checkpointRounds ?? NaN,
    degraded: metrics?.degraded ?? NaN,
    storageErrors: metrics?.storageErrors ?? NaN,
    queueDepth: metrics?.queueDepth ?? NaN,
    batches: metrics?.batches ?? NaN,
    serverErrors: metrics ? sumErrors(metrics.errors) : NaN,
    serverCpu: processCpu(server.pid),
    generatorCpu: processCpu(generator.pid),
    selfCpu: processCpu(process.pid),
    machine: machineCpu(),
    metrics,
  };
}

interface Soak {
  rate: number;
  minutes: number;
  samples: Sample[];
  windows: Window[];
  result: RunResult;
  startRss: number;
}

async function soak(fleet: Fleet, rate: number, minutes: number): Promise<Soak> {
  const { server, generator } = fleet;
  const measureMs = Math.round(minutes * 60_000);
  const startAt = epochNow() + LEAD_MS;
  const windows: Window[] = [];
  const samples: Sample[] = [];
  let last = { sent: 0, replies: 0, held: 0, errors: 0 };
  const addWindow = (index: number, r: { sent: number; replies: number; held: number; errors: Record<string, number>; latencyMs: Float64Array; latenessMs: Float64Array }) => {
    const errors = sumErrors(r.errors);
    const to = Math.min((index + 1) * WINDOW_MS, measureMs) / 1e3;
    windows.push({
      index,
      from: (index * WINDOW_MS) / 1e3,
      to,
      replies: r.replies - last.replies,
      sent: r.sent - last.sent,
      held: r.held - last.held,
      errors: errors - last.errors,
      latency: r.latencyMs.sort(),
      lateness: r.latenessMs.sort(),
    });
    last = { sent: r.sent, replies: r.replies, held: r.held, errors };
    const w = windows.at(-1)!;
    const s = samples.at(-1);
    log(
      `window ${index} (${w.from}–${w.to} s): ${sig(w.replies / (w.to - w.from))} replies/s, p50 ${sig(1e3 * percentile(w.latency, 0.5))} µs, p99 ${sig(1e3 * percentile(w.latency, 0.99))} µs,` +
        ` max ${sig(1e3 * percentile(w.latency, 1))} µs, held ${w.held}, errors ${w.errors}; RSS ${s ? mb(s.rss) : "?"} MiB, folder ${s ? mb(s.folderBytes) : "?"} MiB, rounds ${s?.checkpointRounds ?? "?"}`,
    );
  };
  generator.onWindow = (report) => addWindow(report.index, report);
  const startRss = memoryOf(server.pid).rss;
  const result = generator.request({ ...rateSpec(rate, measureMs / 1e3, { warmupMs: 0, drainMs: 15_000, reportEveryMs: WINDOW_MS }), type: "run", startAt }, "result");
  result.catch(() => undefined);
  // the sampler: every SAMPLE_MS from the start, through the end of the run
  for (let k = 0; k * SAMPLE_MS <= measureMs; k++) {
    await sleep(startAt + k * SAMPLE_MS - epochNow());
    server.checkAlive();
    samples.push(await sample(server, generator, startAt, k));
  }
  const r = await result;
  generator.onWindow = undefined;
  addWindow(Math.ceil(measureMs / WINDOW_MS) - 1, r);
  server.checkAlive();
  // one more sample once the drain is over
  samples.push(await sample(server, generator, startAt, -1));
  return { rate, minutes, samples, windows, result: r, startRss };
}

// ------------------------------------------------------------------ report

function machineLine(): string {
  let model = "unknown CPU";
  try {
    model = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? model;
  } catch {
    // not Linux
  }
  const memory = `${sig(os.totalmem() / 2 ** 30, 3)} GiB RAM`;
  return `${model}, ${os.cpus().length} cores (availableParallelism ${os.availableParallelism()}), ${memory}; Linux ${os.release()}; Node ${process.version} (V8 ${process.versions.v8})`;
}

/** The file system holding the data folders (fdatasync's cost depends on it). */
function fileSystemOf(path: string): string {
  try {
    const mounts = readFileSync("/proc/mounts", "utf8").split("\n").map((l) => l.split(" ")).filter((f) => f.length > 3);
    const best = mounts.filter((f) => path === f[1] || path.startsWith(f[1] === "/" ? "/" : `${f[1]}/`)).sort((a, b) => b[1]!.length - a[1]!.length)[0];
    return best ? `${best[2]} on ${best[0]} (mounted at ${best[1]}, ${best[3]})` : "unknown";
  } catch {
    return "unknown";
  }
}

function codeState(): string {
  try {
    const git = (...a: string[]) => execFileSync("git", a, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const changed = git("status", "--porcelain", "--", "host").split("\n").filter(Boolean).map((l) => l.slice(3));
    return `commit \`${git("rev-parse", "--short", "HEAD").trim()}\`${changed.length ? ` + uncommitted changes in ${changed.map((c) => `\`${c}\``).join(", ")}` : ", host/ clean"}`;
  } catch {
    return "unknown (not a git checkout)";
  }
}

const verdict = (ok: boolean): string => (ok ? "**MET**" : "**MISS**");

function outcomeRow(o: Outcome): (string | number)[] {
  const p = percentilesUs(o.latency);
  return [
    o.mode,
    o.round,
    o.offered,
    sig(o.repliesPerS),
    p.p50,
    p.p90,
    p.p99,
    p.p999,
    p.max,
    sig(1e3 * percentile(o.lateness, 0.99)),
    o.held,
    errorText(o.errors) + (o.unanswered ? `, ${o.unanswered} unanswered` : ""),
    o.serverP50,
    o.serverP99,
    o.checkpointRounds,
    sig(o.serverCores, 2),
    sig(o.generatorCores, 2),
    sig(o.machineCores, 2),
    sig(o.otherCores, 2),
    sig(o.steal, 2),
  ];
}

interface BenchReport {
  options: Options;
  command: string;
  started: Date;
  ended: Date;
  loadStart: string;
  loadEnd: string;
  layout: FrameLayout | undefined;
  saturation: Outcome[];
  rate: number;
  rateSource: string;
  compare: Outcome[];
  compareRates: number[];
  soak: Soak | undefined;
  servers: ServerChild[];
  wallSeconds: number;
  /** write + fdatasync latency (ms, sorted) in the data folders' file system, before the servers start: by bytes per write. */
  syncProbes: { bytes: number; ms: Float64Array }[];
  codeAtStart: string;
}

function render(rep: BenchReport): string {
  const out: string[] = [];
  const o = rep.options;
  out.push(`## Soak (\`npm run bench:soak\`)`, "");
  out.push(
    `The server with a data folder under the server bench's workload: (m, n) = (${SHAPE.inputs}, ${SHAPE.outputs}), B = ${SHAPE.rows} rows per \`train\` frame` +
      `${rep.layout ? ` (${rep.layout.bytes} bytes; ack ${rep.layout.replyBytes} bytes)` : ""}, SGD lr 0.01, ${CONNECTIONS} connections with one model each (\`bench-0\` … \`bench-3\`) from one` +
      ` \`bench/loadgen.ts\` process (frames built once, seq patched, corked bursts). Each server is \`${rep.servers[0]?.args ?? "node dist/host/cli.js serve"}\`` +
      ` on a fresh temporary data folder (removed at the end), default checkpoint settings (a round every 60 s, every 100,000 steps of a model or 64 MiB of log).` +
      ` Server, engine workers, generator and this process share the machine's cores.`,
    "",
  );
  out.push(`- Date: ${rep.started.toISOString().slice(0, 16).replace("T", " ")}–${rep.ended.toISOString().slice(11, 16)} UTC (wall ${sig(rep.wallSeconds / 60, 3)} min)`);
  out.push(`- Machine: ${machineLine()}; load average at start ${rep.loadStart}, at end ${rep.loadEnd}`);
  out.push(`- Data folders: \`${os.tmpdir()}\`, ${fileSystemOf(os.tmpdir())}`);
  out.push(
    `- The disk's own sync latency (this process, a fresh file in the same folder, before the servers start): ` +
      rep.syncProbes
        .map((p) => `write ${p.bytes / 1024} KiB + fdatasync × ${p.ms.length}: p50 ${sig(percentile(p.ms, 0.5))} ms, p99 ${sig(percentile(p.ms, 0.99))} ms, max ${sig(percentile(p.ms, 1))} ms`)
        .join("; "),
  );
  out.push(`- Code: at the start ${rep.codeAtStart}; at the end ${codeState()} (the servers run dist/ as built when each starts; this working tree is shared)`);
  out.push(`- Command: \`${rep.command}\``);
  out.push("");

  // phase 1
  out.push(`### 1. Maximum with durability (closed loop, ${SATURATION_WINDOW} unanswered frames per connection, ${WARMUP_MS.saturate / 1e3} s warm-up, ${o.maxSeconds} s measured)`, "");
  out.push(
    markdownTable(
      ["mode", "batches/s", "samples/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "checkpoint rounds", "server cores", "generator cores", "machine cores", "other cores", "steal"],
      rep.saturation.map((s) => [
        s.mode,
        sig(s.repliesPerS),
        sig(s.repliesPerS * SHAPE.rows),
        sig(percentile(s.latency, 0.5)),
        sig(percentile(s.latency, 0.99)),
        sig(percentile(s.latency, 0.999)),
        errorText(s.errors) + (s.unanswered ? `, ${s.unanswered} unanswered` : ""),
        s.checkpointRounds,
        sig(s.serverCores, 2),
        sig(s.generatorCores, 2),
        sig(s.machineCores, 2),
        sig(s.otherCores, 2),
        sig(s.steal, 2),
      ]),
    ),
    "",
  );
  out.push(`Soak and comparison rate: **${rep.rate} batches/s** (${rep.rateSource}).`, "");

  // phase 2
  out.push(
    `### 2. Ack latency, \`wal\` against \`checkpoint\` (open loop, ${WARMUP_MS.rate / 1e3} s warm-up, ${o.compareSeconds} s measured per run, runs alternated: wal, checkpoint in odd rounds, checkpoint, wal in even ones, so a drift of the machine's load falls on both alike)`,
    "",
    `Latency in µs from each frame's scheduled time to its ack (no coordinated omission: includes the generator's own lateness, "late p99"). "held": due frames that waited for a connection below ${MAX_OUTSTANDING} unanswered.` +
      ` "server p50/p99": the server's \`gradline_step_latency_seconds\` (frame arrival → ack queued; in \`wal\` mode after the log's fdatasync) as the bucket bound. CPU in cores over the measured window.`,
    "",
  );
  out.push(
    markdownTable(
      ["mode", "round", "offered/s", "achieved/s", "p50", "p90", "p99", "p99.9", "max", "late p99", "held", "errors", "server p50", "server p99", "ckpt rounds", "server cores", "gen cores", "machine cores", "other cores", "steal"],
      rep.compare.map(outcomeRow),
    ),
    "",
  );
  const medianRows: (string | number)[][] = [];
  for (const rate of rep.compareRates) {
    const per: Partial<Record<Mode, Percentiles>> = {};
    for (const mode of ["wal", "checkpoint"] as const) {
      const runs = rep.compare.filter((c) => c.offered === rate && c.mode === mode);
      if (runs.length === 0) continue;
      const ps = runs.map((r) => percentilesUs(r.latency));
      const m: Percentiles = {
        p50: sig(median(ps.map((p) => p.p50))),
        p90: sig(median(ps.map((p) => p.p90))),
        p99: sig(median(ps.map((p) => p.p99))),
        p999: sig(median(ps.map((p) => p.p999))),
        max: sig(median(ps.map((p) => p.max))),
      };
      per[mode] = m;
      medianRows.push([`${rate}/s`, mode, runs.length, m.p50, m.p90, m.p99, m.p999, m.max, sig(median(runs.map((r) => r.serverCores)), 2)]);
    }
    if (per.wal && per.checkpoint) {
      const w = per.wal;
      const c = per.checkpoint;
      medianRows.push([`${rate}/s`, "wal ÷ checkpoint", "", sig(w.p50 / c.p50), sig(w.p90 / c.p90), sig(w.p99 / c.p99), sig(w.p999 / c.p999), sig(w.max / c.max), ""]);
    }
  }
  out.push("Medians of the runs per mode (µs):", "");
  out.push(markdownTable(["rate", "mode", "runs", "p50", "p90", "p99", "p99.9", "max", "server cores"], medianRows), "");

  // phase 3
  const s = rep.soak;
  const verdicts: (string | number)[][] = [];
  if (s) {
    const warm = o.warmupSeconds;
    out.push(
      `### 3. Soak: ${s.minutes} min at ${s.rate} batches/s, \`wal\`, open loop`,
      "",
      `One open-loop run of ${s.minutes} min (no gap), latency percentiles per ${WINDOW_MS / 1e3} s window by reply time (the last window includes the drain).` +
        ` Every ${SAMPLE_MS / 1e3} s: the server's VmRSS (/proc/<pid>/status), the data folder's size and files, and /metrics. Warm-up: the first ${warm} s.` +
        ` RSS, folder and rounds in the table are the sample at the window's end. CPU in cores over the window.`,
      "",
    );
    const at = (t: number): Sample | undefined => {
      let best: Sample | undefined;
      for (const x of s.samples) if (x.t <= t + 1) best = x;
      return best;
    };
    const rows: (string | number)[][] = [];
    for (const w of s.windows) {
      const end = at(w.to);
      const begin = at(w.from);
      const dt = end && begin ? end.t - begin.t : NaN;
      const cores = (f: (x: Sample) => number, clamp = false) => {
        if (!end || !begin || !(dt > 0)) return "";
        const v = (f(end) - f(begin)) / dt;
        return sig(clamp ? Math.max(0, v) : v, 2);
      };
      const p = percentilesUs(w.latency);
      rows.push([
        `${w.from}–${w.to}${w.to <= warm ? " (warm-up)" : ""}`,
        sig(w.replies / (w.to - w.from)),
        p.p50,
        p.p90,
        p.p99,
        p.p999,
        p.max,
        sig(1e3 * percentile(w.lateness, 0.99)),
        w.held,
        w.errors,
        end?.metrics && begin?.metrics ? serverPercentile(begin.metrics, end.metrics, 0.99) : "",
        end ? mb(end.rss) : "",
        end ? mb(end.anon) : "",
        end ? mb(end.folderBytes) : "",
        end ? `${end.walSegments} / ${end.checkpointFiles}` : "",
        end?.checkpointRounds ?? "",
        end?.degraded ?? "",
        cores((x) => x.serverCpu),
        cores((x) => x.generatorCpu),
        cores((x) => x.machine.busy),
        // per-process times and /proc/stat are sampled differently: a quiet machine can read slightly below 0
        cores((x) => x.machine.busy - x.serverCpu - x.generatorCpu - x.selfCpu, true),
        cores((x) => x.machine.steal),
      ]);
    }
    out.push(
      markdownTable(
        ["window s", "replies/s", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs", "late p99 µs", "held", "errors", "server p99 µs", "RSS MiB", "anon MiB", "folder MiB", "wal segs / ckpt files", "ckpt rounds", "degraded", "server cores", "gen cores", "machine cores", "other cores", "steal"],
        rows,
      ),
      "",
    );

    // RSS
    const ticks = s.samples.filter((x) => x.k >= 0);
    const after = ticks.filter((x) => x.k * SAMPLE_MS >= warm * 1000);
    const base = after[0];
    const endSample = after.at(-1);
    const rssMax = Math.max(...after.map((x) => x.rss));
    const rssMin = Math.min(...after.map((x) => x.rss));
    // least squares slope of RSS over time after the warm-up, MiB per minute
    const slope = (() => {
      const n = after.length;
      if (n < 3) return NaN;
      const mt = after.reduce((a, x) => a + x.t, 0) / n;
      const mr = after.reduce((a, x) => a + x.rss, 0) / n;
      const num = after.reduce((a, x) => a + (x.t - mt) * (x.rss - mr), 0);
      const den = after.reduce((a, x) => a + (x.t - mt) ** 2, 0);
      return ((num / den) * 60) / 2 ** 20;
    })();
    const growth = base && endSample ? endSample.rss / base.rss - 1 : NaN;
    const maxGrowth = base ? rssMax / base.rss - 1 : NaN;
    // robust to the GC sawtooth: the median of the first minute after the warm-up against that of the last minute
    const perMin = 60_000 / SAMPLE_MS;
    const firstMinute = median(after.slice(0, perMin).map((x) => x.rss));
    const lastMinute = median(after.slice(-perMin).map((x) => x.rss));
    out.push(
      `RSS (every ${SAMPLE_MS / 1e3} s, MiB): before the load ${mb(s.startRss)}; at the end of the warm-up (t = ${base ? sig(base.t) : "?"} s) ${base ? mb(base.rss) : "?"};` +
        ` at the end (t = ${endSample ? sig(endSample.t) : "?"} s) ${endSample ? mb(endSample.rss) : "?"}; after the warm-up min ${mb(rssMin)}, max ${mb(rssMax)};` +
        ` least-squares trend after the warm-up ${sig(slope, 2)} MiB/min; after the drain ${mb(s.samples.at(-1)!.rss)}.` +
        ` Threads ${s.samples[0]?.threads ?? "?"} → ${s.samples.at(-1)?.threads ?? "?"}. Generator RSS ${mb(s.samples[0]!.generatorRss)} → ${mb(s.samples.at(-1)!.generatorRss)} MiB.`,
      "",
    );
    const perMinute = ticks.filter((x) => (x.k * SAMPLE_MS) % 60_000 === 0);
    const clock = (seconds: number) => `${Math.floor(seconds / 60)}:${String(Math.round(seconds % 60)).padStart(2, "0")}`;
    out.push(
      `RSS over time (MiB, the sample at each minute, m:ss): ${perMinute.map((x) => `${clock((x.k * SAMPLE_MS) / 1e3)} ${mb(x.rss)}`).join(" · ")}`,
      "",
    );
    verdicts.push([
      `RSS grows ≤ ${LIMITS.rssGrowth * 100}% from the end of the warm-up (${warm} s) to the end`,
      `${base ? mb(base.rss) : "?"} → ${endSample ? mb(endSample.rss) : "?"} MiB (${sig(growth * 100, 2)}%; highest sample ${sig(maxGrowth * 100, 2)}%;` +
        ` median of the first minute after the warm-up ${mb(firstMinute)} → of the last minute ${mb(lastMinute)} MiB, ${sig((lastMinute / firstMinute - 1) * 100, 2)}%)`,
      verdict(growth <= LIMITS.rssGrowth),
    ]);

    // errors
    const clientErrors = sumErrors(s.result.errors);
    const lastMetrics = [...s.samples].reverse().find((x) => x.metrics)?.metrics;
    const firstMetrics = s.samples.find((x) => x.metrics)?.metrics;
    const serverErrors = lastMetrics && firstMetrics ? errorsBetween(firstMetrics, lastMetrics) : {};
    const degradedEver = s.samples.some((x) => x.degraded !== 0);
    const storageErrors = (lastMetrics?.storageErrors ?? 0) - (firstMetrics?.storageErrors ?? 0);
    const errorsOk = clientErrors === 0 && s.result.unanswered === 0 && sumErrors(serverErrors) === 0 && !degradedEver && storageErrors === 0;
    verdicts.push([
      "errors: no error reply, nothing unanswered, storage never degraded",
      `${errorText(s.result.errors)} error replies, ${s.result.unanswered} unanswered of ${s.result.sent} sent, server counted ${errorText(serverErrors)};` +
        ` gradline_storage_degraded ${degradedEver ? "was 1 at some sample" : "0 at every sample"}; storage errors ${storageErrors}` +
        `${s.result.errorExamples.length ? `; e.g. ${s.result.errorExamples.slice(0, 3).join("; ")}` : ""}`,
      verdict(errorsOk),
    ]);

    // p99 stability
    const steady = s.windows.filter((w) => w.from >= warm && w.latency.length > 0);
    const p99s = steady.map((w) => 1e3 * percentile(w.latency, 0.99));
    const half = Math.floor(p99s.length / 2);
    const firstHalf = median(p99s.slice(0, half));
    const secondHalf = median(p99s.slice(half));
    const med = median(p99s);
    const worst = Math.max(...p99s);
    const stable = p99s.length > 0 && worst <= LIMITS.p99Spread * med && (p99s.length < 2 || secondHalf <= LIMITS.p99Drift * firstHalf);
    verdicts.push([
      `p99 stable: worst window ≤ ${LIMITS.p99Spread}× the median window, second half's median ≤ ${LIMITS.p99Drift}× the first half's (windows after the warm-up)`,
      `window p99 min ${sig(Math.min(...p99s))} / median ${sig(med)} / max ${sig(worst)} µs; median first half ${sig(firstHalf)}, second half ${sig(secondHalf)} µs`,
      p99s.length === 0 ? "n/a (no window after the warm-up)" : verdict(stable),
    ]);

    // data folder
    const post = after;
    const h = Math.floor(post.length / 2);
    const folderFirst = Math.max(...post.slice(0, h).map((x) => x.folderBytes));
    const folderSecond = Math.max(...post.slice(h).map((x) => x.folderBytes));
    const roundsFirst = (post[h - 1]?.checkpointRounds ?? NaN) - (post[0]?.checkpointRounds ?? NaN);
    const roundsSecond = (post.at(-1)?.checkpointRounds ?? NaN) - (post[h - 1]?.checkpointRounds ?? NaN);
    const segMax = Math.max(...ticks.map((x) => x.walSegments));
    const folderOk = folderSecond <= LIMITS.folderGrowth * folderFirst && roundsSecond > 0;
    const allFolder = ticks.map((x) => x.folderBytes);
    verdicts.push([
      `data folder bounded: largest size in the second half ≤ ${LIMITS.folderGrowth}× that in the first half (after the warm-up), checkpoint rounds still completing`,
      `max ${mb(folderFirst)} MiB then ${mb(folderSecond)} MiB (overall min ${mb(Math.min(...allFolder))}, median ${mb(median(allFolder))}, max ${mb(Math.max(...allFolder))});` +
        ` WAL segments at most ${segMax}; checkpoint rounds ${s.samples.at(-1)?.checkpointRounds ?? "?"} in all (${roundsFirst} in the first half, ${roundsSecond} in the second)`,
      verdict(folderOk),
    ]);

    // load held
    const all = merged(s.windows.map((w) => w.latency));
    const lateAll = merged(s.windows.map((w) => w.lateness));
    const achieved = s.windows.reduce((a, w) => a + w.replies, 0) / (s.minutes * 60);
    const p = percentilesUs(all);
    out.push(
      `Whole soak: ${s.result.sent} frames sent, ${s.result.replies} replies (${sig(achieved)}/s of ${s.rate} offered); latency p50 ${p.p50}, p90 ${p.p90}, p99 ${p.p99}, p99.9 ${p.p999}, max ${p.max} µs;` +
        ` send lateness p99 ${sig(1e3 * percentile(lateAll, 0.99))} µs, max ${sig(1e3 * percentile(lateAll, 1))} µs; ${s.windows.reduce((a, w) => a + w.held, 0)} frames held back.`,
      "",
    );
    verdicts.push([
      "the offered load was carried (≥ 99% achieved, nothing held back)",
      `${sig((100 * achieved) / s.rate, 3)}% achieved, ${s.windows.reduce((a, w) => a + w.held, 0)} held`,
      verdict(achieved >= 0.99 * s.rate && s.windows.every((w) => w.held === 0)),
    ]);
  }

  // server logs
  out.push("### Server processes", "");
  out.push(
    markdownTable(
      ["server", "exit", "shutdown s", "folder at exit MiB (files)", "log lines (warnings marked ⚠)"],
      rep.servers.map((sv) => [
        sv.name,
        sv.ending?.code ?? "?",
        sv.ending ? sig(sv.ending.shutdownMs / 1e3, 3) : "?",
        sv.ending ? `${mb(sv.ending.folderBytes)} (${sv.ending.files})` : "?",
        sv.lines
          .map((l) => `${/degraded|error|warn|fail|skipped|cut short|internal/i.test(l.text) || l.stream === "stderr" ? "⚠ " : ""}${sig(l.at, 4)} s: ${l.text.replaceAll(sv.folder, "<tmp>").replaceAll("|", "\\|")}`)
          .join("<br>"),
      ]),
    ),
    "",
  );

  if (verdicts.length > 0) {
    out.push("### Verdicts", "");
    out.push(markdownTable(["criterion", "measured", "verdict"], verdicts), "");
  }
  return out.join("\n");
}

// -------------------------------------------------------------------- main

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = parseOptions(argv);
  const wallStart = performance.now();
  const started = new Date();
  const loadStart = loadAverage();
  const codeAtStart = codeState();
  const command = ["node dist/bench/soak.bench.js", ...argv].join(" ");
  const servers: ServerChild[] = [];
  log(`${machineLine()}; load average ${loadStart}; ${command}`);
  const syncProbes: { bytes: number; ms: Float64Array }[] = [];
  {
    const folder = mkdtempSync(join(os.tmpdir(), "gradline-soak-probe-"));
    folders.add(folder);
    for (const [bytes, count] of [[5 * 1024, 200], [128 * 1024, 100]] as const) syncProbes.push({ bytes, ms: syncProbe(folder, bytes, count) });
    rmSync(folder, { recursive: true, force: true });
    folders.delete(folder);
    log(`disk: ${syncProbes.map((p) => `${p.bytes / 1024} KiB + fdatasync p50 ${sig(percentile(p.ms, 0.5))} ms, p99 ${sig(percentile(p.ms, 0.99))} ms`).join("; ")}`);
  }

  // phases 1 and 2: a wal server and a checkpoint server, both up throughout (the idle one costs nothing)
  const saturation: Outcome[] = [];
  const compare: Outcome[] = [];
  let rate: number;
  let rateSource: string;
  let compareRates: number[] = [];
  let layout: FrameLayout | undefined;
  {
    const fleets: Fleet[] = [];
    try {
      fleets.push(await startFleet("wal (phases 1–2)", "wal", options.workers));
      fleets.push(await startFleet("checkpoint (phases 1–2)", "checkpoint", options.workers));
      for (const f of fleets) servers.push(f.server);
      const [wal, checkpoint] = fleets as [Fleet, Fleet];
      layout = wal.layout;
      log(`servers up: wal on port ${wal.server.port} (${wal.server.folder}), checkpoint on port ${checkpoint.server.port} (${checkpoint.server.folder})`);

      for (const fleet of [wal, checkpoint]) {
        const o = await measure(fleet.server, fleet.generator, saturateSpec(options.maxSeconds), 1);
        saturation.push(o);
        note(o);
      }
      const walMax = saturation[0]!.repliesPerS;
      if (options.rate !== undefined) {
        rate = Math.round(options.rate);
        rateSource = `--rate; the measured wal maximum was ${sig(walMax)} batches/s`;
      } else {
        rate = Math.max(100, Math.round(walMax / 2 / 100) * 100);
        rateSource = `half the measured wal maximum of ${sig(walMax)} batches/s, rounded to 100`;
      }
      compareRates = [rate];
      if (10_000 < walMax && rate !== 10_000) compareRates.push(10_000);
      log(`rate ${rate} batches/s (${rateSource}); comparison rates ${compareRates.join(", ")}`);

      for (const r of compareRates) {
        for (let round = 1; round <= options.compareRounds; round++) {
          // alternate, and start each round with the other mode than the last one ended with
          const order = round % 2 === 1 ? [wal, checkpoint] : [checkpoint, wal];
          for (const fleet of order) {
            const o = await measure(fleet.server, fleet.generator, rateSpec(r, options.compareSeconds), round);
            compare.push(o);
            note(o);
          }
        }
      }
    } finally {
      await Promise.all(fleets.map(stopFleet));
    }
  }

  // phase 3: a fresh wal server
  let soakResult: Soak | undefined;
  {
    const fleet = await startFleet("wal (soak)", "wal", options.workers);
    servers.push(fleet.server);
    log(`soak: ${options.minutes} min at ${rate} batches/s against a fresh wal server on port ${fleet.server.port} (${fleet.server.folder})`);
    try {
      soakResult = await soak(fleet, rate, options.minutes);
    } finally {
      await stopFleet(fleet);
    }
  }

  const report = render({
    options,
    command,
    started,
    ended: new Date(),
    loadStart,
    loadEnd: loadAverage(),
    layout,
    saturation,
    rate,
    rateSource,
    compare,
    compareRates,
    soak: soakResult,
    servers,
    wallSeconds: (performance.now() - wallStart) / 1e3,
    syncProbes,
    codeAtStart,
  });
  console.log(report);
}

try {
  await main();
} finally {
  cleanUp();
}
