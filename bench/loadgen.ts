// The load generator of bench/server.bench.ts: a child process (forked with an
// IPC channel) holding several `ws` connections to a server on 127.0.0.1. It
// sends train frames built once with the protocol codec, patching only their
// seq, and times every reply. Two modes:
//
//   saturate  each connection keeps `window` frames unanswered (closed loop);
//   rate      open loop at a fixed rate: frame j is due at start + j / rate and
//             its latency runs from that scheduled time, not from when it left,
//             so a stalled server or a late generator cannot hide its delay
//             (no coordinated omission).
//
// Frames sent in one burst (those due at one tick, or those refilling the
// window after one read of replies) leave in one write: the generator corks its
// socket for the burst (--no-cork: one write per frame, as ws does alone).
//
// Open-loop sends are woken by a ticker thread that sleeps with Atomics.wait
// (sub-millisecond, unlike setTimeout) and wakes the main thread by a message;
// how late each frame left compared with its schedule is reported as well.
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import WebSocket from "ws";
import { mulberry32 } from "../host/engine/init.js";
import { decode, encode } from "../host/protocol/codec.js";

// ---- the IPC protocol between bench/server.bench.ts and this process ------

export interface Shape {
  inputs: number;
  outputs: number;
  rows: number;
}

export interface ConnectCommand {
  type: "connect";
  url: string;
  connections: number;
  /** Connection i trains the model `bench-${firstModel + i}`. */
  firstModel: number;
  /** Send `create` for each connection's model first (the gradline server; not the echo server). */
  create: boolean;
  /** "seq": a reply answers the request whose seq it carries; "order": replies come in request order (the echo server's fixed frame). */
  matchBy: "seq" | "order";
  shape: Shape;
  seed: number;
  /** Cork each connection's socket while a burst of frames is sent (one write per burst). */
  cork: boolean;
}

export interface RunCommand {
  type: "run";
  mode: "saturate" | "rate";
  /** When the run starts, in ms since the epoch (performance.timeOrigin + performance.now()). */
  startAt: number;
  warmupMs: number;
  measureMs: number;
  /** Longest wait for the replies still owed once sending has stopped. */
  drainMs: number;
  /** saturate: unanswered frames per connection. */
  window: number;
  /** rate: batches per second offered by this process, spread over its connections in turn. */
  rate: number;
  /** rate: unanswered frames a connection may have; a due frame beyond it waits (and its wait counts in its latency). */
  maxOutstanding: number;
  /** rate: the ticker wakes at most this often (ms); frames due between wakes leave together. */
  minTickMs: number;
  /**
   * Optional (bench/soak.bench.ts): every this many ms from the window's start, report a
   * WindowReport with the latencies recorded since the last one (by reply time) and let
   * them go, so a long run holds only one window of them. The final RunResult then holds
   * only the last window's (up to the window's end, and the drain).
   */
  reportEveryMs?: number;
}

export interface CloseCommand {
  type: "close";
}

export type Command = ConnectCommand | RunCommand | CloseCommand;

export interface FrameLayout {
  bytes: number;
  /** Offsets of the x and y float data inside the frame (the server copies a bin whose offset is not a multiple of 4). */
  xOffset: number;
  yOffset: number;
  replyBytes: number;
}

export interface RunResult {
  type: "result";
  sent: number;
  replies: number;
  /** Replies received inside the measured window. */
  repliesInWindow: number;
  /** Ms from the scheduled time (rate) or the send (saturate) to the reply, of frames due or sent inside the window. */
  latencyMs: Float64Array;
  /** rate: ms between a frame's scheduled time and its send, same frames. */
  latenessMs: Float64Array;
  /** rate: frames that had to wait for a connection below maxOutstanding. */
  held: number;
  /** Replies still owed when the drain gave up. */
  unanswered: number;
  errors: Record<string, number>;
  errorExamples: string[];
  /** This process's CPU time (all threads, ticker included) and its main thread's event-loop busy time, inside the window. */
  cpuMs: number;
  mainBusyMs: number;
}

/** A run's interim report (RunCommand.reportEveryMs): the latencies recorded since the last one; counters since the run's start. */
export interface WindowReport {
  type: "window";
  /** 0, 1, …: the window that ended at startAt + warmupMs + (index + 1) · reportEveryMs. */
  index: number;
  sent: number;
  replies: number;
  held: number;
  errors: Record<string, number>;
  errorExamples: string[];
  /** As RunResult's, of the replies received in this window. */
  latencyMs: Float64Array;
  latenessMs: Float64Array;
}

export type Report =
  | { type: "ready"; layout: FrameLayout }
  | RunResult
  | WindowReport
  | { type: "closed" }
  | { type: "failed"; message: string };

// ---- the ticker thread ------------------------------------------------------

/** Int32 slots of the ticker's shared words. */
const kStop = 0;
const kPending = 1;

interface TickerData {
  words: SharedArrayBuffer;
  /** Epoch ms of tick 0 and of the last tick. */
  startAt: number;
  endAt: number;
  periodMs: number;
  /** Atomics.wait oversleeps by the kernel's timer slack (≈50 µs): wake this much early and spin the rest. */
  earlyMs: number;
}

/** Sleeps until each tick and wakes the main thread unless a wake is still pending. */
function runTicker(data: TickerData): void {
  const words = new Int32Array(data.words);
  const toLocal = -performance.timeOrigin;
  const start = data.startAt + toLocal;
  const end = data.endAt + toLocal;
  let k = 0;
  while (Atomics.load(words, kStop) === 0) {
    const tick = start + k * data.periodMs;
    if (tick > end) break;
    const wait = tick - data.earlyMs - performance.now();
    if (wait > 0) Atomics.wait(words, kStop, 0, wait);
    while (performance.now() < tick && Atomics.load(words, kStop) === 0);
    if (Atomics.compareExchange(words, kPending, 0, 1) === 0) parentPort!.postMessage(0);
    // ticks missed while descheduled are not replayed: the next wake sends everything due
    k = Math.max(k + 1, Math.ceil((performance.now() - start) / data.periodMs));
  }
}

// ---- connections ------------------------------------------------------------

/** Seq values live in a ring of this many slots per connection (more than any number of unanswered frames). */
const RING = 1 << 14;
/** Distinct batches per connection, sent in turn. */
const BATCHES = 4;

interface Connection {
  ws: WebSocket;
  /** The TCP socket under ws (from its upgrade response), for cork(). */
  socket: Socket;
  corked: boolean;
  model: string;
  frames: Uint8Array[];
  /** Where each frame's uint32 seq sits. */
  seqViews: DataView[];
  seqOffset: number;
  nextSeq: number;
  /** matchBy "order": the seq the next reply answers. */
  nextInOrder: number;
  outstanding: number;
  /** Per seq slot: scheduled (rate) or send (saturate) time, send time, the run it belongs to. */
  due: Float64Array;
  sentAt: Float64Array;
  runOf: Int32Array;
}

/** The uint32 placeholder seq is encoded as, so it can be patched in place. */
const SEQ_PLACEHOLDER = 0xffffffff;
const SEQ_KEY = [0xa3, 0x73, 0x65, 0x71, 0xce]; // fixstr "seq", then uint32

function offsetOf(bytes: Uint8Array, pattern: readonly number[]): number {
  outer: for (let i = 0; i + pattern.length <= bytes.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (bytes[i + j] !== pattern[j]) continue outer;
    return i + pattern.length;
  }
  throw new Error("loadgen: pattern not found in the encoded frame");
}

/** Finite random batches of a noisy linear process, encoded once per connection. */
function buildFrames(model: string, shape: Shape, seed: number): { frames: Uint8Array[]; seqOffset: number; xOffset: number; yOffset: number } {
  const next = mulberry32(seed);
  const { inputs: m, outputs: n, rows } = shape;
  const W = Float32Array.from({ length: m * n }, () => 2 * next() - 1);
  const frames: Uint8Array[] = [];
  let seqOffset = -1;
  let xOffset = -1;
  let yOffset = -1;
  for (let b = 0; b < BATCHES; b++) {
    const x = Float32Array.from({ length: rows * m }, () => 2 * next() - 1);
    const y = new Float32Array(rows * n);
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < n; o++) {
        let v = 0.1 * (2 * next() - 1);
        for (let i = 0; i < m; i++) v += W[o * m + i]! * x[r * m + i]!;
        y[r * n + o] = v;
      }
    }
    // an own copy: msgpackr returns a view of its shared output buffer, and the frame is patched in place
    const frame = Uint8Array.from(encode({ type: "train", seq: SEQ_PLACEHOLDER, model, x, y }));
    const at = offsetOf(frame, SEQ_KEY);
    if (seqOffset >= 0 && at !== seqOffset) throw new Error("loadgen: frames of one connection differ in layout");
    seqOffset = at;
    // x's bin: key "x" (0xa1 0x78), bin16 header (0xc5 + 2 bytes); y likewise
    xOffset = offsetOf(frame, [0xa1, 0x78, 0xc5, (4 * rows * m) >> 8, (4 * rows * m) & 0xff]);
    yOffset = offsetOf(frame, [0xa1, 0x79, 0xc5, (4 * rows * n) >> 8, (4 * rows * n) & 0xff]);
    frames.push(frame);
  }
  return { frames, seqOffset, xOffset, yOffset };
}

function connect(url: string): Promise<{ ws: WebSocket; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let socket: Socket | undefined;
    ws.once("upgrade", (response) => (socket = response.socket));
    ws.once("open", () => (socket ? resolve({ ws, socket }) : reject(new Error("loadgen: no socket after the upgrade"))));
    ws.once("error", reject);
  });
}

/** Sends one request outside a run and waits for its reply (create). */
function ask(ws: WebSocket, message: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    ws.once("message", (data: WebSocket.RawData) => {
      const reply = decode(data as Buffer) as Record<string, unknown>;
      if (reply.type === "error") reject(new Error(`loadgen: ${String(reply.code)}: ${String(reply.message)}`));
      else resolve(reply);
    });
    ws.send(encode(message));
  });
}

// ---- a run ------------------------------------------------------------------

class Generator {
  private connections: Connection[] = [];
  private matchBy: "seq" | "order" = "seq";
  private run = 0;
  private layout: FrameLayout | undefined;
  private cork = true;
  private readonly corked: Connection[] = [];
  private readonly uncorkAll = () => {
    for (const conn of this.corked) {
      conn.corked = false;
      conn.socket.uncork();
    }
    this.corked.length = 0;
  };
  /** The run in progress: set by start(), read by the reply handler. */
  private active: ActiveRun | undefined;

  async connect(cmd: ConnectCommand): Promise<FrameLayout> {
    this.matchBy = cmd.matchBy;
    this.cork = cmd.cork;
    for (let i = 0; i < cmd.connections; i++) {
      const model = `bench-${cmd.firstModel + i}`;
      const { ws, socket } = await connect(cmd.url);
      if (cmd.create) {
        const config = { inputs: cmd.shape.inputs, outputs: cmd.shape.outputs, optimizer: { type: "sgd", lr: 0.01 } };
        const reply = await ask(ws, { type: "create", seq: 0, model, config });
        if (reply.type !== "model") throw new Error(`loadgen: create ${model} answered ${String(reply.type)}`);
      }
      const built = buildFrames(model, cmd.shape, cmd.seed + 7919 * (cmd.firstModel + i));
      const conn: Connection = {
        ws,
        socket,
        corked: false,
        model,
        frames: built.frames,
        seqViews: built.frames.map((f) => new DataView(f.buffer, f.byteOffset, f.byteLength)),
        seqOffset: built.seqOffset,
        nextSeq: 1,
        nextInOrder: 1,
        outstanding: 0,
        due: new Float64Array(RING),
        sentAt: new Float64Array(RING),
        runOf: new Int32Array(RING).fill(-1),
      };
      ws.on("message", (data: WebSocket.RawData) => this.onReply(conn, data as Buffer));
      ws.on("error", (error) => this.active?.fail(`connection ${model}: ${error.message}`));
      ws.on("close", (code, reason) => {
        if (this.active) this.active.fail(`connection ${model} closed during a run (${code} ${reason.toString()})`);
      });
      this.connections.push(conn);
      const frame = built.frames[0]!;
      this.layout ??= { bytes: frame.byteLength, xOffset: built.xOffset, yOffset: built.yOffset, replyBytes: 0 };
    }
    // one probe frame per connection outside any run: learns the reply size and checks the path end to end
    for (const conn of this.connections) {
      const bytes = await new Promise<number>((resolve) => {
        conn.ws.once("message", (data: WebSocket.RawData) => resolve((data as Buffer).byteLength));
        this.send(conn, performance.now());
      });
      this.layout!.replyBytes = bytes;
    }
    return this.layout!;
  }

  /** Sends a connection's next frame, due at `due` (performance.now() time). */
  private send(conn: Connection, due: number): void {
    const seq = conn.nextSeq++;
    const which = seq % BATCHES;
    conn.seqViews[which]!.setUint32(conn.seqOffset, seq);
    const slot = seq & (RING - 1);
    conn.due[slot] = due;
    conn.runOf[slot] = this.run;
    conn.outstanding++;
    conn.sentAt[slot] = performance.now();
    if (this.cork && !conn.corked) {
      // uncorked once the current callback (a tick, or one read's replies) has run
      if (this.corked.length === 0) process.nextTick(this.uncorkAll);
      conn.corked = true;
      conn.socket.cork();
      this.corked.push(conn);
    }
    // ws masks the payload into a new buffer before send() returns: the frame may be patched again at once
    conn.ws.send(conn.frames[which]!);
    if (this.active) this.active.sent++;
  }

  private onReply(conn: Connection, data: Buffer): void {
    const now = performance.now();
    const reply = decode(data) as { type?: unknown; seq?: unknown; code?: unknown; message?: unknown };
    const seq = this.matchBy === "seq" && typeof reply.seq === "number" ? reply.seq : conn.nextInOrder++;
    const slot = seq & (RING - 1);
    conn.outstanding--;
    const run = this.active;
    if (!run || conn.runOf[slot] !== this.run) return;
    conn.runOf[slot] = -1;
    run.replies++;
    if (reply.type === "error") {
      const code = String(reply.code);
      run.errors[code] = (run.errors[code] ?? 0) + 1;
      if (run.errorExamples.length < 5) run.errorExamples.push(`${code}: ${String(reply.message)}`);
    }
    run.onReply(conn, now, conn.due[slot]!, conn.sentAt[slot]!);
  }

  start(cmd: RunCommand): Promise<RunResult> {
    this.run++;
    return new Promise((resolve) => {
      this.active = new ActiveRun(cmd, this.connections, (c, due) => this.send(c, due), (result) => {
        this.active = undefined;
        resolve(result);
      });
    });
  }

  async close(): Promise<void> {
    await Promise.all(
      this.connections.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.ws.readyState === WebSocket.CLOSED) return resolve();
            c.ws.once("close", () => resolve());
            c.ws.close(1000, "bench done");
            setTimeout(() => (c.ws.terminate(), resolve()), 2000).unref();
          }),
      ),
    );
  }
}

class ActiveRun {
  sent = 0;
  replies = 0;
  repliesInWindow = 0;
  readonly errors: Record<string, number> = {};
  readonly errorExamples: string[] = [];
  private readonly latency: number[] = [];
  private readonly lateness: number[] = [];
  private readonly start: number;
  private readonly windowStart: number;
  private readonly windowEnd: number;
  private readonly intervalMs: number;
  /** rate: the next frame to schedule. */
  private nextFrame = 0;
  private held = 0;
  private heldFrame = -1;
  private stopped = false;
  private finished = false;
  private ticker: Worker | undefined;
  private tickerWords: Int32Array | undefined;
  private cpuAtWindow: NodeJS.CpuUsage | undefined;
  private eluAtWindow: ReturnType<typeof performance.eventLoopUtilization> | undefined;
  private cpuMs = 0;
  private mainBusyMs = 0;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly cmd: RunCommand,
    private readonly connections: readonly Connection[],
    private readonly sendFrame: (conn: Connection, due: number) => void,
    private readonly done: (result: RunResult) => void,
  ) {
    const local = cmd.startAt - performance.timeOrigin;
    this.start = local;
    this.windowStart = local + cmd.warmupMs;
    this.windowEnd = this.windowStart + cmd.measureMs;
    this.intervalMs = cmd.mode === "rate" ? 1000 / cmd.rate : 0;
    const at = (t: number, fn: () => void) => this.timers.push(setTimeout(fn, Math.max(0, t - performance.now())));
    at(this.windowStart, () => {
      this.cpuAtWindow = process.cpuUsage();
      this.eluAtWindow = performance.eventLoopUtilization();
    });
    at(this.windowEnd, () => {
      const cpu = process.cpuUsage(this.cpuAtWindow);
      this.cpuMs = (cpu.user + cpu.system) / 1e3;
      this.mainBusyMs = performance.eventLoopUtilization(this.eluAtWindow).active;
      this.stop();
    });
    if (cmd.reportEveryMs !== undefined && cmd.reportEveryMs > 0) {
      // interim windows strictly inside the measured window: the last one is the final result
      for (let k = 1; k * cmd.reportEveryMs < cmd.measureMs; k++) at(this.windowStart + k * cmd.reportEveryMs, () => this.reportWindow(k - 1));
    }
    if (cmd.mode === "saturate") {
      at(this.start, () => {
        for (const conn of connections) for (let i = 0; i < cmd.window; i++) this.sendFrame(conn, performance.now());
      });
    } else {
      this.startTicker();
    }
  }

  private startTicker(): void {
    const words = new SharedArrayBuffer(8);
    this.tickerWords = new Int32Array(words);
    // ticks fall on frame times: a whole number of frame intervals, at least minTickMs apart
    const periodMs = this.intervalMs * Math.max(1, Math.ceil(this.cmd.minTickMs / this.intervalMs));
    const data: TickerData = {
      words,
      startAt: this.cmd.startAt,
      endAt: this.cmd.startAt + this.cmd.warmupMs + this.cmd.measureMs,
      periodMs,
      earlyMs: 0.06,
    };
    this.ticker = new Worker(new URL(import.meta.url), { workerData: data });
    this.ticker.on("message", () => {
      Atomics.store(this.tickerWords!, kPending, 0);
      this.pump();
    });
    this.ticker.on("error", (error) => this.fail(`ticker: ${error.message}`));
  }

  /** Reports the latencies recorded since the last window and lets them go (reportEveryMs). */
  private reportWindow(index: number): void {
    if (this.finished) return;
    report({
      type: "window",
      index,
      sent: this.sent,
      replies: this.replies,
      held: this.held,
      errors: { ...this.errors },
      errorExamples: [...this.errorExamples],
      latencyMs: Float64Array.from(this.latency),
      latenessMs: Float64Array.from(this.lateness),
    });
    this.latency.length = 0;
    this.lateness.length = 0;
  }

  /** rate: sends every frame due by now, in turn over the connections, unless a connection is at maxOutstanding. */
  private pump(): void {
    if (this.finished) return;
    const now = performance.now();
    const connections = this.connections;
    const last = Math.ceil((this.windowEnd - this.start) / this.intervalMs);
    while (this.nextFrame < last) {
      const due = this.start + this.nextFrame * this.intervalMs;
      if (due > now) break;
      const conn = connections[this.nextFrame % connections.length]!;
      if (conn.outstanding >= this.cmd.maxOutstanding) {
        if (this.heldFrame !== this.nextFrame) {
          this.held++;
          this.heldFrame = this.nextFrame;
        }
        break;
      }
      this.sendFrame(conn, due);
      this.nextFrame++;
    }
    if (this.stopped) this.checkDrained();
  }

  onReply(conn: Connection, now: number, due: number, sentAt: number): void {
    if (now >= this.windowStart && now < this.windowEnd) this.repliesInWindow++;
    if (this.cmd.mode === "saturate") {
      if (sentAt >= this.windowStart && sentAt < this.windowEnd) this.latency.push(now - sentAt);
      if (!this.stopped) this.sendFrame(conn, performance.now());
      else this.checkDrained();
    } else {
      if (due >= this.windowStart && due < this.windowEnd) {
        this.latency.push(now - due);
        this.lateness.push(sentAt - due);
      }
      this.pump();
    }
  }

  /** Stops scheduling new frames (rate: frames due before the window's end still go) and waits for the replies owed. */
  private stop(): void {
    this.stopped = true;
    this.timers.push(setTimeout(() => this.finish(), this.cmd.drainMs));
    if (this.cmd.mode === "rate") this.pump();
    else this.checkDrained();
  }

  private checkDrained(): void {
    const unsent = this.cmd.mode === "rate" && this.nextFrame < Math.ceil((this.windowEnd - this.start) / this.intervalMs);
    if (!unsent && this.connections.every((c) => c.outstanding === 0)) this.finish();
  }

  fail(message: string): void {
    if (this.finished) return;
    this.errorExamples.push(`generator: ${message}`);
    this.errors.E_GENERATOR = (this.errors.E_GENERATOR ?? 0) + 1;
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    for (const t of this.timers) clearTimeout(t);
    if (this.ticker) {
      Atomics.store(this.tickerWords!, kStop, 1);
      Atomics.notify(this.tickerWords!, kStop);
      void this.ticker.terminate();
    }
    const unanswered = this.connections.reduce((sum, c) => sum + c.outstanding, 0);
    this.done({
      type: "result",
      sent: this.sent,
      replies: this.replies,
      repliesInWindow: this.repliesInWindow,
      latencyMs: Float64Array.from(this.latency),
      latenessMs: Float64Array.from(this.lateness),
      held: this.held,
      unanswered,
      errors: this.errors,
      errorExamples: this.errorExamples,
      cpuMs: this.cpuMs,
      mainBusyMs: this.mainBusyMs,
    });
  }
}

// ---- entry ------------------------------------------------------------------

function report(message: Report): void {
  process.send!(message);
}

async function main(): Promise<void> {
  if (!process.send) throw new Error("loadgen: run me through bench/server.bench.ts (needs an IPC channel)");
  const generator = new Generator();
  // the bench went away, or asks us to stop: exit (normally, so a --cpu-prof profile is written)
  process.on("disconnect", () => process.exit(0));
  process.on("SIGTERM", () => process.exit(0));
  process.on("message", (cmd: Command) => {
    const task = async (): Promise<Report> => {
      switch (cmd.type) {
        case "connect":
          return { type: "ready", layout: await generator.connect(cmd) };
        case "run":
          return generator.start(cmd);
        case "close":
          await generator.close();
          return { type: "closed" };
      }
    };
    task().then(report, (error: unknown) => report({ type: "failed", message: error instanceof Error ? error.message : String(error) }));
  });
}

if (!isMainThread) runTicker(workerData as TickerData);
else if (process.argv[1] === fileURLToPath(import.meta.url)) void main();
