// `gradline demo`: streams the simulated chemical line into a server and prints the
// model converging on the line's true response, from the parameter updates the
// server pushes. With no server at the default address it starts one in-process.
import { connect, type GradlineClient, type RemoteParams } from "../client/client.js";
import { GradlineError } from "../base/errors.js";
import { startServer, type GradlineServer } from "../server/server.js";
import { lineLogger } from "../server/log.js";
import { CENTRE, ChemicalLine, type Truth } from "./line.js";

export interface DemoOptions {
  /** Server to stream into; when absent, ws://127.0.0.1:8080/ or else an in-process server. */
  url?: string;
  token?: string;
  model: string;
  batches: number;
  rows: number;
  /** Batches per second; 0 sends as fast as acks allow. */
  rate: number;
  seed: number;
  /** Batch of the line's history at which the catalyst is replaced (an abrupt change). Default 1800, whatever the run's length. */
  changeAt?: number;
  /** Yield and purity to ask a setpoint for at the end. Default 75 %, 95.5 %. */
  target?: [number, number];
  log: (line: string) => void;
}

export interface DemoResult {
  truth: Truth;
  learned: RemoteParams;
  /** Largest |learned − true| over W, relative to the largest true coefficient of that output. */
  worstRelativeError: number;
  rejected: number;
  /** Batches with an injected fault (other than NaN), and how many of them had flags. */
  faulty: number;
  caught: number;
  /** Steps at which drift was reported. */
  drift: number[];
  changeAt: number;
  /** The setpoint asked at the end, with what the true line gives there. */
  setpoint: { x: number[]; predicted: number[]; actual: number[]; reachable: boolean; active: (string | null)[] };
}

const DEFAULT_URL = "ws://127.0.0.1:8080/";
/** The batch at which the simulated line's catalyst is replaced (60 % into the default 3000). */
const DEFAULT_CHANGE_AT = 1800;
/** Trains in flight at once: pipelining without unbounded queues. */
const WINDOW = 64;

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { log } = options;
  let embedded: GradlineServer | undefined;
  let client: GradlineClient;
  try {
    client = await connect(options.url ?? DEFAULT_URL, { token: options.token, reconnect: false });
  } catch (error) {
    if (options.url !== undefined) throw error;
    log(`no server at ${DEFAULT_URL}; starting one in this process (run \`npm start\` in another terminal to use a real one)`);
    embedded = await startServer({ port: 0, logger: lineLogger(log) });
    client = await connect(embedded.url, { reconnect: false });
  }
  try {
    return await stream(client, options);
  } finally {
    client.close();
    await embedded?.close();
  }
}

/**
 * Moves a fresh simulation past the batches a continued model has already taken, so a
 * second run goes on in time instead of replaying the start (which would look like a
 * drift). The line is deterministic for its seed; version counts the batches accepted,
 * and a batch with a dead (NaN) sensor is refused, so those are skipped uncounted.
 * Returns the index of the next batch.
 */
function resume(line: ChemicalLine, version: number, rows: number): number {
  let batch = 0;
  for (let accepted = 0; accepted < version; batch++) if (line.next(rows).fault.kind !== "nan") accepted++;
  return batch;
}

async function stream(client: GradlineClient, options: DemoOptions): Promise<DemoResult> {
  const { log, model } = options;
  // a fixed point of the line's history, not of this run: a continued model sees the same line
  const changeAt = options.changeAt ?? DEFAULT_CHANGE_AT;
  const line = new ChemicalLine(options.seed, 2e-4, 0.01, changeAt);
  const info = await client.create(model, {
    inputs: 3, outputs: 2, loss: "huber", optimizer: { type: "adam", lr: 0.02 }, standardize: true, seed: options.seed,
    anomaly: { exclude: true },
  });
  log(`${info.created ? "created" : "continuing"} model "${model}" on ${client.url}: temperature, pressure, flow → yield, purity (Huber loss, Adam, standardised, anomalous readings left out)`);
  const first = resume(line, info.version, options.rows);
  const last = first + options.batches;
  if (first > 0) log(`the model has taken ${info.version} batches of this line: the simulation goes on from batch ${first}`);
  const change = changeAt < first ? `the catalyst was replaced at batch ${changeAt}` : changeAt < last ? `the catalyst is replaced at batch ${changeAt}` : "no catalyst change in this run";
  log(`streaming batches ${first} to ${last - 1} of ${options.rows} readings${options.rate > 0 ? ` at ${options.rate}/s` : ""}; ${change}; updates arrive at most once a second`);
  const drift: number[] = [];
  await client.subscribe(model, { everySteps: 1, minIntervalMs: 1000 }, (update) => {
    log(`step ${String(update.step).padStart(6)}  loss ${update.loss?.toFixed(4) ?? "-"}  ${describe(update.W, update.b)}`);
    log(`${" ".repeat(31)}true ${describe(line.truth().W, line.truth().b)}`);
  }, {
    onDrift: (event) => {
      drift.push(event.step);
      log(`drift at step ${event.step}: the loss rose from about ${event.before.toPrecision(3)} (Page-Hinkley ${event.statistic.toFixed(1)} ≥ ${event.threshold}); the model is tracking the new process`);
    },
  });

  let rejected = 0;
  let flagged = 0;
  let faulty = 0;
  let caught = 0;
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  for (let i = first; i < last; i++) {
    if (options.rate > 0) {
      const due = started + ((i - first) * 1000) / options.rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    if (inFlight.size >= WINDOW) await Promise.race(inFlight);
    const batch = line.next(options.rows);
    const fault = batch.fault;
    if (fault.kind !== "none" && fault.kind !== "nan") faulty++;
    const sent = client.train(model, batch.x, batch.y).then(
      (ack) => {
        if (ack.anomalies.length === 0) return;
        flagged += ack.anomalies.length;
        if (fault.kind !== "none") caught++;
        const first = ack.anomalies[0]!;
        const field = first.field === "x" ? ["temperature", "pressure", "flow"][first.column] : ["yield", "purity"][first.column];
        const cause = { none: "no injected fault", nan: "", spike: "a botched purity reading", glitch: "a glitching sensor", stuck: "a frozen sensor" }[fault.kind];
        log(`batch ${i}: ${ack.anomalies.length} reading(s) flagged, first ${first.kind} on ${field} (score ${first.score.toFixed(1)}) — ${cause}; ${ack.excluded} sample(s) left out`);
      },
      (error: unknown) => {
        if (!(error instanceof GradlineError) || error.code !== "E_NONFINITE") throw error;
        rejected++;
        log(`batch ${i}: ${error.code} (a dead ${["temperature", "pressure", "flow"][batch.fault.kind === "nan" ? batch.fault.input : 0]} sensor): ${error.message}`);
      },
    );
    const tracked = sent.finally(() => inFlight.delete(tracked));
    tracked.catch(() => {}); // a failure surfaces through Promise.race / Promise.all below, once
    inFlight.add(tracked);
  }
  await Promise.all(inFlight);

  const learned = await client.params(model);
  const truth = line.truth();
  const worstRelativeError = Math.max(
    ...[0, 1].map((j) => {
      const row = truth.W.slice(j * 3, j * 3 + 3);
      const scale = Math.max(...row.map(Math.abs));
      return Math.max(...row.map((w, k) => Math.abs(learned.W[j * 3 + k]! - w) / scale));
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  log(`done: ${learned.step} steps in ${seconds.toFixed(1)} s, ${rejected} batch(es) rejected, ${flagged} reading(s) flagged; ${caught} of ${faulty} faulty batches caught`);
  log(`learned ${describe(learned.W, learned.b)}`);
  log(`true    ${describe(truth.W, truth.b)}`);
  log(`largest coefficient error: ${(worstRelativeError * 100).toFixed(1)}% of the output's largest coefficient`);
  if (learned.importance) {
    const names = ["T", "P", "F"];
    const row = (j: number) => names.map((s, k) => `${s} ${learned.importance![j * 3 + k]!.toFixed(2)}`).join(", ");
    log(`importance (output spreads per input spread): yield ${row(0)} | purity ${row(1)}`);
  }

  // close the loop: the settings that should give the target, within the line's limits
  const target = options.target ?? [75, 95.5];
  const answer = await client.setpoint(model, {
    target, lower: [165, 10, 32], upper: [195, 14, 48], current: CENTRE, maxMove: [12, 1.5, 6], lambda: 1e-4,
  });
  const actual = line.respond(answer.x);
  const fmt = (v: number[]) => v.map((x) => x.toFixed(2));
  log(`setpoint for yield ${target[0]} %, purity ${target[1]} %: T ${answer.x[0]!.toFixed(1)} °C, P ${answer.x[1]!.toFixed(2)} bar, F ${answer.x[2]!.toFixed(1)} m³/h` +
    ` (limits: ${answer.active.map((a, k) => `${["T", "P", "F"][k]} ${a ?? "free"}`).join(", ")})`);
  log(`  the model predicts yield, purity ${fmt(answer.predicted).join(", ")}; the line would give ${fmt(actual).join(", ")}${answer.reachable ? "" : " — the target is out of reach within the limits; this is the closest"}`);
  await drained(client, model);
  return { truth, learned, worstRelativeError, rejected, faulty, caught, drift, changeAt, setpoint: { x: answer.x, predicted: answer.predicted, actual, reachable: answer.reachable, active: answer.active } };
}

/** Lets the last pushes (drift events) arrive before the caller closes the client. */
async function drained(client: GradlineClient, model: string): Promise<void> {
  await client.open(model);
}

/** "yield = 0.45·T + 2.10·P − 0.32·F + 16.3 | purity = …" */
function describe(W: ArrayLike<number>, b: ArrayLike<number>): string {
  const names = ["yield", "purity"];
  return names
    .map((name, j) => {
      const terms = ["T", "P", "F"].map((symbol, k) => {
        const w = W[j * 3 + k]!;
        return `${k === 0 ? (w < 0 ? "−" : "") : w < 0 ? " − " : " + "}${Math.abs(w).toFixed(3)}·${symbol}`;
      });
      const c = b[j]!;
      return `${name} = ${terms.join("")}${c < 0 ? " − " : " + "}${Math.abs(c).toFixed(2)}`;
    })
    .join(" | ");
}
