// The WebSocket server under load, in one run: samples/s ingested at saturation
// and ack latency at fixed offered loads, for (m, n) = (16, 4) and B = 64 rows
// per batch, against gradline's server with 1 and 2 engine workers and, as the
// transport's own ceiling, a minimal uWebSockets.js echo server
// (bench/echo-server.ts). Every server and every load generator
// (bench/loadgen.ts) is a child process; all of them share this machine's
// cores, and all traffic stays on 127.0.0.1.
//
// Run: npm run bench:server
//      node dist/bench/server.bench.js [--servers=echo,1,2] [--no-cork] [--cpu-prof[=dir]]
//      (--cpu-prof writes V8 CPU profiles of the server and generator children; the figures are then not comparable)
// Child entry: node dist/bench/server.bench.js --serve <workers> (a gradline server on 127.0.0.1, port 0)
import os from "node:os";
import { execFileSync, fork, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { startServer } from "../host/server/index.js";
import type { Command, FrameLayout, Report, RunCommand, RunResult, Shape } from "./loadgen.js";
import { merged, percentile } from "./stats.js";

const SHAPE: Shape = { inputs: 16, outputs: 4, rows: 64 };
/** Connections in all, one model each (`bench-0` …), spread evenly over the generator processes. */
const CONNECTIONS = 4;

/** Closed loop: every connection keeps `window` frames unanswered. */
const SATURATION = { window: 128, warmupMs: 1000, measureMs: 5000, drainMs: 5000, generators: [1, 2] } as const;

/** Open loop at fixed rates (batches/s in all), from one generator process. */
const FIXED = {
  rates: [2_000, 5_000, 10_000, 20_000, 47_000],
  warmupMs: 500,
  measureMs: 4000,
  drainMs: 5000,
  generators: 1,
  /** Unanswered frames a connection may have (below the server's maxInflight 4096 and the pool's 1024 per model). */
  maxOutstanding: 512,
  /** Shortest ticker period: frames due closer together leave in small bursts. */
  minTickMs: 0.1,
} as const;

const TARGETS = { samplesPerS: 3_000_000, p99Ms: 1, p99AtRate: 10_000, sustainedRate: 47_000 } as const;

/** Time from a run command to the run's start: the generators start their ticker threads meanwhile. */
const LEAD_MS = 300;
const SEED = 4242;

/** What the command line chose. */
interface BenchOptions {
  /** Where --cpu-prof writes the children's profiles. */
  profileDir: string | undefined;
  /** Generators cork their sockets per burst (default; --no-cork: one write per frame). */
  cork: boolean;
}

interface ServerSpec {
  /** Row label. */
  name: string;
  /** What --servers= selects: "echo", "1", "2". */
  id: string;
  kind: "echo" | "gradline";
  workers: number;
}

const SERVERS: readonly ServerSpec[] = [
  { name: "uWS echo", id: "echo", kind: "echo", workers: 0 },
  { name: "gradline 1 worker", id: "1", kind: "gradline", workers: 1 },
  { name: "gradline 2 workers", id: "2", kind: "gradline", workers: 2 },
];

const here = fileURLToPath(import.meta.url);
const script = (name: string) => join(fileURLToPath(new URL(".", import.meta.url)), name);

/** `v` rounded to `digits` significant digits. */
const sig = (v: number, digits = 3) => (Number.isFinite(v) ? Number(v.toPrecision(digits)) : v);
const verdict = (ok: boolean) => (ok ? "MET" : "MISS");
const loadAverage = () => os.loadavg().map((l) => l.toFixed(2)).join(" ");
const epochNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

// ---------------------------------------------------------------- children

/** Every child this process started: killed on the way out, whatever the way. */
const children = new Set<ChildProcess>();

function killChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  children.clear();
}

process.on("exit", killChildren);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killChildren();
    process.exit(130);
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Asks a child to stop (SIGTERM: a gradline server drains and closes; a profiled one writes its profile), then kills it. */
async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  await Promise.race([exited(child), sleep(graceMs)]);
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await exited(child);
  children.delete(child);
}

interface ServerChild {
  spec: ServerSpec;
  child: ChildProcess;
  port: number;
}

async function startServerChild(spec: ServerSpec, { profileDir }: BenchOptions): Promise<ServerChild> {
  const profile = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${join(profileDir, spec.kind === "echo" ? "echo" : `gradline-${spec.workers}w`)}`] : [];
  const args = spec.kind === "echo" ? [...profile, script("echo-server.js")] : [...profile, here, "--serve", String(spec.workers)];
  const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "inherit"] });
  children.add(child);
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      const match = /^PORT (\d+)$/.exec(line);
      if (match) resolve(Number(match[1]));
      else console.log(`[${spec.name}] ${line}`);
    });
    child.once("exit", (code, signal) => reject(new Error(`${spec.name} exited before listening (${code ?? signal})`)));
  });
  return { spec, child, port };
}

/** A load generator process (bench/loadgen.ts): one command at a time, one report each. */
class GeneratorChild {
  readonly child: ChildProcess;
  private waiting: { resolve(report: Report): void; reject(error: Error): void } | undefined;

  constructor({ profileDir }: BenchOptions) {
    const execArgv = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${join(profileDir, "generators")}`] : [];
    this.child = fork(script("loadgen.js"), [], { execArgv, serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] });
    children.add(this.child);
    this.child.on("message", (report: Report) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      if (!waiting) return;
      if (report.type === "failed") waiting.reject(new Error(`load generator: ${report.message}`));
      else waiting.resolve(report);
    });
    this.child.on("exit", (code, signal) => this.waiting?.reject(new Error(`load generator exited (${code ?? signal})`)));
  }

  request<T extends Report["type"]>(command: Command, expect: T): Promise<Extract<Report, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.waiting = {
        resolve: (report) => (report.type === expect ? resolve(report as Extract<Report, { type: T }>) : reject(new Error(`load generator answered ${report.type}, not ${expect}`))),
        reject,
      };
      this.child.send(command);
    });
  }

  async close(): Promise<void> {
    if (this.child.connected) await this.request({ type: "close" }, "closed").catch(() => undefined);
    await stopChild(this.child, 2000);
  }
}

// ------------------------------------------------------------------ probes

/** CPU time (ns) of a process's main thread and of all its other threads, from /proc/<pid>/task/<tid>/schedstat. */
function threadTimes(pid: number): { main: number; others: number } {
  let main = 0;
  let others = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let ns = 0;
    try {
      ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ", 1)[0]);
    } catch {
      continue; // the thread ended meanwhile
    }
    if (Number(tid) === pid) main = ns;
    else others += ns;
  }
  return { main, others };
}

/** The machine's busy and steal time in clock ticks (1/100 s), from the first line of /proc/stat. */
function machineTimes(): { busy: number; steal: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return { busy: user + nice + system + irq + softirq, steal };
}

interface CpuSample {
  at: number;
  server: { main: number; others: number };
  machine: { busy: number; steal: number };
}

const sampleCpu = (pid: number): CpuSample => ({ at: performance.now(), server: threadTimes(pid), machine: machineTimes() });

/** Cores busy between two samples. */
function coresBetween(a: CpuSample, b: CpuSample): { serverMain: number; serverOthers: number; machine: number; steal: number } {
  const ms = b.at - a.at;
  return {
    serverMain: (b.server.main - a.server.main) / 1e6 / ms,
    serverOthers: (b.server.others - a.server.others) / 1e6 / ms,
    machine: ((b.machine.busy - a.machine.busy) * 10) / ms,
    steal: ((b.machine.steal - a.machine.steal) * 10) / ms,
  };
}

/** The gradline server's own counters, read from its GET /metrics. */
interface ServerCounters {
  batches: number;
  errors: Record<string, number>;
  /** Cumulative step-latency histogram (frame arrival → ack queued): upper bound in s → count. */
  latency: Map<number, number>;
}

async function serverCounters(port: number): Promise<ServerCounters> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const counters: ServerCounters = { batches: 0, errors: {}, latency: new Map() };
  for (const line of text.split("\n")) {
    let m: RegExpExecArray | null;
    if ((m = /^gradline_batches_total (\S+)$/.exec(line))) counters.batches = Number(m[1]);
    else if ((m = /^gradline_errors_total\{code="([^"]+)"\} (\S+)$/.exec(line))) counters.errors[m[1]!] = Number(m[2]);
    else if ((m = /^gradline_step_latency_seconds_bucket\{le="([^"]+)"\} (\S+)$/.exec(line))) counters.latency.set(m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2]));
  }
  return counters;
}

/** The smallest histogram bound holding fraction p of the steps between two readings, as "≤ N µs". */
function serverPercentile(a: ServerCounters, b: ServerCounters, p: number): string {
  const total = (b.latency.get(Infinity) ?? 0) - (a.latency.get(Infinity) ?? 0);
  if (total <= 0) return "";
  for (const [bound, count] of b.latency) {
    if (count - (a.latency.get(bound) ?? 0) >= p * total) return bound === Infinity ? "> 1 s" : `≤ ${sig(bound * 1e6)}`;
  }
  return "";
}

// -------------------------------------------------------------------- runs

interface Outcome {
  server: ServerSpec;
  mode: "saturate" | "rate";
  generators: number;
  /** rate: batches/s offered in all. */
  offered: number;
  measureMs: number;
  repliesPerS: number;
  latency: Float64Array;
  lateness: Float64Array;
  sent: number;
  replies: number;
  held: number;
  unanswered: number;
  errors: Record<string, number>;
  errorExamples: string[];
  cores: ReturnType<typeof coresBetween> & { generators: number };
  /** gradline: the server's own view of the run. */
  serverSide?: { batches: number; p50: string; p99: string; errors: Record<string, number> };
}

/** A server child that died mid-bench ends the bench: its later figures would be nonsense. */
function checkAlive(server: ServerChild): void {
  const { exitCode, signalCode } = server.child;
  if (exitCode !== null || signalCode !== null) throw new Error(`${server.spec.name} exited during the bench (${exitCode ?? signalCode})`);
}

async function run(server: ServerChild, generators: readonly GeneratorChild[], spec: Omit<RunCommand, "type" | "startAt">): Promise<Outcome> {
  checkAlive(server);
  const before = server.spec.kind === "gradline" ? await serverCounters(server.port) : undefined;
  const startAt = epochNow() + LEAD_MS;
  const results = Promise.all(
    generators.map((g) => g.request({ ...spec, type: "run", startAt, rate: spec.rate / generators.length }, "result")),
  );
  // awaited below; a server dying meanwhile throws first, and this rejection must not go unhandled
  results.catch(() => undefined);
  // the measured window, as the generators see it
  await sleep(startAt + spec.warmupMs - epochNow());
  checkAlive(server);
  const a = sampleCpu(server.child.pid!);
  await sleep(startAt + spec.warmupMs + spec.measureMs - epochNow());
  checkAlive(server);
  const b = sampleCpu(server.child.pid!);
  const reports: RunResult[] = await results;
  checkAlive(server);
  const after = before ? await serverCounters(server.port) : undefined;
  const errors: Record<string, number> = {};
  for (const r of reports) for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
  const sum = (f: (r: RunResult) => number) => reports.reduce((s, r) => s + f(r), 0);
  const outcome: Outcome = {
    server: server.spec,
    mode: spec.mode,
    generators: generators.length,
    offered: spec.rate,
    measureMs: spec.measureMs,
    repliesPerS: (1e3 * sum((r) => r.repliesInWindow)) / spec.measureMs,
    latency: merged(reports.map((r) => r.latencyMs)),
    lateness: merged(reports.map((r) => r.latenessMs)),
    sent: sum((r) => r.sent),
    replies: sum((r) => r.replies),
    held: sum((r) => r.held),
    unanswered: sum((r) => r.unanswered),
    errors,
    errorExamples: reports.flatMap((r) => r.errorExamples),
    cores: { ...coresBetween(a, b), generators: sum((r) => r.cpuMs) / spec.measureMs },
  };
  if (before && after) {
    const errorsSeen: Record<string, number> = {};
    for (const [code, n] of Object.entries(after.errors)) if (n - (before.errors[code] ?? 0) > 0) errorsSeen[code] = n - (before.errors[code] ?? 0);
    outcome.serverSide = { batches: after.batches - before.batches, p50: serverPercentile(before, after, 0.5), p99: serverPercentile(before, after, 0.99), errors: errorsSeen };
  }
  return outcome;
}

async function startGenerators(server: ServerChild, count: number, options: BenchOptions): Promise<{ generators: GeneratorChild[]; layout: FrameLayout }> {
  const generators = Array.from({ length: count }, () => new GeneratorChild(options));
  const perGenerator = CONNECTIONS / count;
  const layouts = await Promise.all(
    generators.map((g, i) =>
      g.request(
        {
          type: "connect",
          url: `ws://127.0.0.1:${server.port}/`,
          connections: perGenerator,
          firstModel: i * perGenerator,
          create: server.spec.kind === "gradline",
          matchBy: server.spec.kind === "gradline" ? "seq" : "order",
          shape: SHAPE,
          seed: SEED,
          cork: options.cork,
        },
        "ready",
      ),
    ),
  );
  return { generators, layout: layouts[0]!.layout };
}

/** The order round `r` visits the servers in: each load starts one server further on. */
const rotated = <T>(items: readonly T[], r: number) => items.map((_, i) => items[(i + r) % items.length]!);

type Load = Omit<RunCommand, "type" | "startAt">;

/**
 * Every run: all servers are up at once (an idle one costs nothing) and each
 * load visits them in turn, seconds apart, so a burst of load from outside
 * this bench spoils comparable runs alike rather than one server's whole
 * column. With 1 generator process per server: saturation, then the fixed
 * loads; with 2 per server: saturation.
 */
async function measureAll(specs: readonly ServerSpec[], options: BenchOptions): Promise<{ outcomes: Outcome[]; layouts: Map<ServerSpec, FrameLayout> }> {
  const servers: ServerChild[] = [];
  const outcomes: Outcome[] = [];
  const layouts = new Map<ServerSpec, FrameLayout>();
  try {
    for (const spec of specs) servers.push(await startServerChild(spec, options));
    for (const count of SATURATION.generators) {
      const fleets: { server: ServerChild; generators: GeneratorChild[] }[] = [];
      try {
        for (const server of servers) {
          const started = await startGenerators(server, count, options);
          fleets.push({ server, generators: started.generators });
          if (!layouts.has(server.spec)) layouts.set(server.spec, started.layout);
        }
        const loads: Load[] = [{ mode: "saturate", ...SATURATION, rate: 0, maxOutstanding: SATURATION.window, minTickMs: 0 }];
        if (count === FIXED.generators) loads.push(...FIXED.rates.map((rate): Load => ({ mode: "rate", ...FIXED, rate, window: 0 })));
        for (const [i, load] of loads.entries()) {
          for (const fleet of rotated(fleets, i)) {
            outcomes.push(await run(fleet.server, fleet.generators, load));
            note(outcomes.at(-1)!);
          }
        }
      } finally {
        await Promise.all(fleets.flatMap((f) => f.generators.map((g) => g.close())));
      }
    }
  } finally {
    await Promise.all(servers.map((s) => stopChild(s.child, 15_000)));
  }
  // tables list each server's runs together, in SERVERS order
  outcomes.sort((a, b) => specs.indexOf(a.server) - specs.indexOf(b.server));
  return { outcomes, layouts };
}

/** One progress line per run on stderr, so a long run shows it is alive. */
function note(o: Outcome): void {
  const what = o.mode === "saturate" ? `saturation, ${o.generators} generator(s)` : `${o.offered}/s offered`;
  const errors = Object.keys(o.errors).length ? ` ERRORS ${JSON.stringify(o.errors)}` : "";
  process.stderr.write(`  ${o.server.name}: ${what}: ${sig(o.repliesPerS)} replies/s, p99 ${sig(percentile(o.latency, 0.99) * 1e3)} µs${errors}\n`);
}

// ------------------------------------------------------------------ tables

/** Cores the rest of the machine kept busy in the window: machine busy − server − generators (this process idles meanwhile). */
const othersOf = (o: Outcome) => Math.max(0, o.cores.machine - o.cores.serverMain - o.cores.serverOthers - o.cores.generators);

const errorText = (o: Outcome) => {
  const total = Object.values(o.errors).reduce((s, n) => s + n, 0);
  return total === 0 ? 0 : `${total} (${Object.entries(o.errors).map(([c, n]) => `${c} ${n}`).join(", ")})`;
};

function saturationTable(outcomes: readonly Outcome[]): Record<string, Record<string, string | number>> {
  const rows = outcomes.filter((o) => o.mode === "saturate");
  const echo = (g: number) => rows.find((o) => o.server.kind === "echo" && o.generators === g);
  return Object.fromEntries(
    rows.map((o) => {
      const ms = (p: number) => sig(percentile(o.latency, p));
      const reference = echo(o.generators);
      return [
        `${o.server.name} · ${o.generators} gen × ${CONNECTIONS / o.generators} conn`,
        {
          "batches/s": sig(o.repliesPerS),
          "samples/s": sig(o.repliesPerS * SHAPE.rows),
          "÷ echo": reference ? sig(o.repliesPerS / reference.repliesPerS) : "",
          "p50 ms": ms(0.5),
          "p99 ms": ms(0.99),
          "p99.9 ms": ms(0.999),
          errors: errorText(o),
          "server main cores": sig(o.cores.serverMain, 2),
          "server other threads": sig(o.cores.serverOthers, 2),
          "server main µs/batch": sig((1e6 * o.cores.serverMain) / o.repliesPerS),
          "generator cores": sig(o.cores.generators, 2),
          "generator µs/batch": sig((1e6 * o.cores.generators) / o.repliesPerS),
          "other processes": sig(othersOf(o), 2),
          steal: sig(o.cores.steal, 2),
        },
      ];
    }),
  );
}

function fixedTable(outcomes: readonly Outcome[]): Record<string, Record<string, string | number>> {
  const rows = outcomes.filter((o) => o.mode === "rate");
  const echo = (rate: number) => rows.find((o) => o.server.kind === "echo" && o.offered === rate);
  return Object.fromEntries(
    rows.map((o) => {
      const us = (p: number) => sig(1e3 * percentile(o.latency, p));
      const reference = echo(o.offered);
      return [
        `${o.server.name} @ ${o.offered}/s`,
        {
          "offered/s": o.offered,
          "achieved/s": sig(o.repliesPerS),
          "samples/s": sig(o.repliesPerS * SHAPE.rows),
          "p50 µs": us(0.5),
          "p99 µs": us(0.99),
          "p99.9 µs": us(0.999),
          "max µs": us(1),
          "p99 ÷ echo": reference ? sig(percentile(o.latency, 0.99) / percentile(reference.latency, 0.99)) : "",
          "send lateness p99 µs": sig(1e3 * percentile(o.lateness, 0.99)),
          "server-side p50 µs": o.serverSide?.p50 ?? "",
          "server-side p99 µs": o.serverSide?.p99 ?? "",
          errors: errorText(o),
          held: o.held,
          "server main cores": sig(o.cores.serverMain, 2),
          "server other threads": sig(o.cores.serverOthers, 2),
          "generator cores": sig(o.cores.generators, 2),
          "other processes": sig(othersOf(o), 2),
          steal: sig(o.cores.steal, 2),
        },
      ];
    }),
  );
}

function targetRows(outcomes: readonly Outcome[]): Record<string, string>[] {
  const rows: Record<string, string>[] = [];
  for (const spec of SERVERS.filter((s) => s.kind === "gradline")) {
    const mine = outcomes.filter((o) => o.server === spec);
    if (mine.length === 0) continue;
    const clean = (o: Outcome) => Object.keys(o.errors).length === 0 && o.unanswered === 0;
    const best = mine.filter((o) => o.mode === "saturate").sort((a, b) => b.repliesPerS - a.repliesPerS)[0];
    if (best) {
      const samples = best.repliesPerS * SHAPE.rows;
      rows.push({
        server: spec.name,
        target: `≥ ${TARGETS.samplesPerS / 1e6} M samples/s at saturation (best generator setup)`,
        measured: `${sig(samples / 1e6)} M samples/s (${sig(best.repliesPerS)} batches/s, ${best.generators} gen)${clean(best) ? "" : ", WITH ERRORS"}`,
        verdict: verdict(samples >= TARGETS.samplesPerS && clean(best)),
      });
    }
    const sustained = mine.find((o) => o.mode === "rate" && o.offered === TARGETS.sustainedRate);
    if (sustained) {
      const ratio = sustained.repliesPerS / sustained.offered;
      rows.push({
        server: spec.name,
        // replies in the window can include a backlog from the warm-up: a frame held back means the server fell behind
        target: `${TARGETS.sustainedRate} batches/s offered (open loop): ≥ 99% achieved, no frame held back, no errors`,
        measured:
          `${sig(sustained.repliesPerS)} batches/s (${Math.round(ratio * 100)}%), ${sustained.held} held, p99 ${sig(percentile(sustained.latency, 0.99))} ms` +
          `${clean(sustained) ? "" : ", WITH ERRORS"}`,
        verdict: verdict(ratio >= 0.99 && sustained.held === 0 && clean(sustained)),
      });
    }
    const atRate = mine.find((o) => o.mode === "rate" && o.offered === TARGETS.p99AtRate);
    if (atRate) {
      const p99 = percentile(atRate.latency, 0.99);
      rows.push({
        server: spec.name,
        target: `p99 ack latency < ${TARGETS.p99Ms} ms at ${TARGETS.p99AtRate} batches/s`,
        measured: `${sig(p99 * 1e3)} µs (p50 ${sig(percentile(atRate.latency, 0.5) * 1e3)}, p99.9 ${sig(percentile(atRate.latency, 0.999) * 1e3)})${clean(atRate) ? "" : ", WITH ERRORS"}`,
        verdict: verdict(p99 < TARGETS.p99Ms && clean(atRate)),
      });
    }
  }
  return rows;
}

// -------------------------------------------------------------------- main

function wsVersion(): string {
  try {
    return (createRequire(import.meta.url)("ws/package.json") as { version: string }).version;
  } catch {
    return "?";
  }
}

/** The code measured: the commit, and any uncommitted change under host/ (this working tree is shared). */
function codeState(): string {
  try {
    const git = (...a: string[]) => execFileSync("git", a, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    // porcelain lines are "XY path": the status letters may start with a space
    const changed = git("status", "--porcelain", "--", "host").split("\n").filter(Boolean).map((l) => l.slice(3));
    return `commit ${git("rev-parse", "--short", "HEAD").trim()}${changed.length ? ` + uncommitted changes in ${changed.join(", ")}` : ", host/ clean"}`;
  } catch {
    return "unknown (not a git checkout)";
  }
}

async function main(): Promise<void> {
  const wallStart = performance.now();
  const args = process.argv.slice(2);
  const only = args.find((a) => a.startsWith("--servers="))?.slice("--servers=".length).split(",");
  const profileArg = args.find((a) => a.startsWith("--cpu-prof"));
  const profileDir = profileArg ? (profileArg.includes("=") ? profileArg.slice(profileArg.indexOf("=") + 1) : join(os.tmpdir(), `gradline-server-prof-${Date.now()}`)) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const options: BenchOptions = { profileDir, cork: !args.includes("--no-cork") };
  const servers = SERVERS.filter((s) => !only || only.includes(s.id));

  const cpus = os.cpus();
  console.log("gradline server bench: the uWebSockets.js server under load over 127.0.0.1, against a minimal uWS echo server on the same transport");
  console.log(
    `date ${new Date().toISOString()}; node ${process.version} (V8 ${process.versions.v8}); ${cpus[0]?.model ?? "unknown CPU"} × ${cpus.length} cores` +
      ` (availableParallelism ${os.availableParallelism()}); load average ${loadAverage()}; clients: ws ${wsVersion()}`,
  );
  console.log(`Code: ${codeState()}`);
  console.log(
    `Workload: (m, n) = (${SHAPE.inputs}, ${SHAPE.outputs}), B = ${SHAPE.rows} rows per train frame, SGD lr 0.01; ${CONNECTIONS} connections, one model each.` +
      ` Server, engine workers, generators and this process all share the machine's ${cpus.length} cores.` +
      ` All servers run at once (idle when not measured); each load visits them in turn, seconds apart, each load starting one server further on.`,
  );
  if (profileDir) console.log(`CPU profiles of the server and generator children go to ${profileDir} (profiling slows them: these figures are not comparable)`);

  const { outcomes, layouts } = await measureAll(servers, options);
  const layout = [...layouts].find(([spec]) => spec.kind === "gradline")?.[1];
  const echoReply = [...layouts].find(([spec]) => spec.kind === "echo")?.[1].replyBytes ?? 0;
  if (layout) {
    // host/protocol/codec.ts floatsOf: a view of a bin at a multiple of 4 bytes into the frame, else an aligned copy
    const bin = (offset: number) => `${offset} (${offset % 4 === 0 ? "aligned: the server takes a view" : "unaligned: the server copies it"})`;
    console.log(
      `Frames: train ${layout.bytes} bytes, x's floats at byte ${bin(layout.xOffset)}, y's at ${bin(layout.yOffset)}; ack ${layout.replyBytes} bytes; echo reply ${echoReply} bytes.` +
        ` Seq is encoded as uint32 and patched in place; ws masks every frame into a new buffer (as any client). Generators ${options.cork ? "cork their socket per burst of frames" : "write each frame on its own (--no-cork)"}.`,
    );
  }

  console.log(
    `\nSaturation: closed loop, ${SATURATION.window} unanswered frames per connection; ${SATURATION.warmupMs} ms warm-up, then ${SATURATION.measureMs} ms measured.` +
      ` Rates count replies received in the measured window; latency is send → reply of frames sent in it (closed loop: it is queueing, by Little's law ≈ window ÷ rate).` +
      ` "÷ echo": against the echo server with the same generators. CPU from /proc: server main thread, its other threads (engine workers, GC, I/O), the generators' processes (ticker included), the whole machine, and steal.`,
  );
  console.table(saturationTable(outcomes));
  console.log(
    `\nFixed offered load: open loop from ${FIXED.generators} generator process over ${CONNECTIONS} connections, frames in turn over them; ${FIXED.warmupMs} ms warm-up, then ${FIXED.measureMs} ms measured.` +
      ` Latency runs from each frame's scheduled time to its reply (no coordinated omission), so it includes the generator's own lateness ("send lateness": scheduled → sent).` +
      ` A connection with ${FIXED.maxOutstanding} unanswered frames holds further due frames back ("held"; their wait counts).` +
      ` "server-side": gradline's own step-latency histogram (frame arrival → ack queued), as the bucket bound that holds the percentile.`,
  );
  console.table(fixedTable(outcomes));

  const failed = outcomes.filter((o) => Object.keys(o.errors).length > 0 || o.unanswered > 0);
  if (failed.length > 0) {
    console.log("\nRUNS WITH ERRORS OR UNANSWERED FRAMES:");
    for (const o of failed) {
      const what = o.mode === "saturate" ? `saturation, ${o.generators} gen` : `${o.offered}/s`;
      console.log(`  ${o.server.name}, ${what}: errors ${JSON.stringify(o.errors)}, unanswered ${o.unanswered}; server counted ${JSON.stringify(o.serverSide?.errors ?? {})}`);
      for (const example of o.errorExamples) console.log(`    ${example}`);
    }
  } else {
    console.log("\nNo error replies and no unanswered frames in any run.");
  }
  for (const o of outcomes) {
    if (o.serverSide && o.serverSide.batches < o.replies) console.log(`  note: ${o.server.name} counted ${o.serverSide.batches} batches for ${o.replies} replies`);
  }

  console.log("\nTargets:");
  console.table(targetRows(outcomes));
  console.log(`load average at end ${loadAverage()}; wall time ${sig((performance.now() - wallStart) / 1e3)} s`);
}

/** Child entry: a gradline server with `workers` engine workers on 127.0.0.1, a free port; stops on SIGTERM or when stdin closes. */
async function serve(workers: number): Promise<void> {
  const server = await startServer({ host: "127.0.0.1", port: 0, workers, logger: false });
  process.stdout.write(`PORT ${server.port}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void server.close().finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.stdin.on("end", stop);
  process.stdin.resume();
}

const serveAt = process.argv.indexOf("--serve");
if (serveAt >= 0) {
  await serve(Number(process.argv[serveAt + 1] ?? 1));
} else {
  try {
    await main();
  } finally {
    killChildren();
  }
}
