// The commands that talk to a running server: models, inspect, export, import,
// predict and setpoint. Each connects, asks, prints, and closes; --json prints the
// answer as data for scripts where a table would need parsing.
import { createWriteStream } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { once } from "node:events";
import { parseArgs } from "node:util";
import { MODEL_NAME } from "../base/names.js";
import { connect, type GradlineClient } from "../client/client.js";
import { decodeSnapshot, type ModelState } from "../engine/snapshot.js";
import { createEngine } from "../pool/index.js";
import type { ModelInfo } from "../protocol/messages.js";
import { CommandFailure, connectionFlags, connectionUsage, integer, namesOf, numberOf, serverOf, UsageError, vectorOf } from "./args.js";
import { listBadRows, openCsv, usableRows, type BadRow } from "./csv.js";
import { decodeModelFile, encodeModelFile, type ModelFileFormat } from "./modelFile.js";
import { messageOf } from "../base/errors.js";

type Values = Record<string, string | boolean | undefined>;

async function withClient<T>(values: Values, work: (client: GradlineClient) => Promise<T>): Promise<T> {
  const token = (values.token as string | undefined) ?? process.env.GRADLINE_TOKEN;
  const client = await connect(serverOf(values.server as string | undefined), { token, reconnect: false });
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

function oneName(positionals: string[], what: string): string {
  if (positionals.length === 0) throw new UsageError(`name the model ${what}`);
  const name = positionals[0]!;
  if (!MODEL_NAME.test(name)) throw new UsageError(`${JSON.stringify(name)} is not a model name (1 to 128 letters, digits, ".", "_", "-", starting with a letter or digit)`);
  return name;
}

function noMore(positionals: string[], count: number): void {
  if (positionals.length > count) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[count])}`);
}

const optimizerText = (info: ModelInfo) => {
  const { type, ...rest } = info.config.optimizer;
  return `${type}(${Object.entries(rest).map(([k, v]) => `${k} ${typeof v === "number" ? +v.toPrecision(6) : String(v)}`).join(", ")})`;
};
const lossText = (loss: number | null) => (loss === null ? "-" : loss.toPrecision(6));

/** Columns padded to their widest cell. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  return rows.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  ")).join("\n");
}

// ---- models ---------------------------------------------------------------------

export const modelsUsage = `usage: gradline models [options]

Lists the server's models (those the token covers): shape, step, version, last loss
and optimiser.

  --json           print the list as JSON
${connectionUsage}`;

export async function models(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { ...connectionFlags, json: { type: "boolean" } }, allowPositionals: true, strict: true });
  noMore(positionals, 0);
  const list = await withClient(values, (client) => client.list());
  if (values.json) console.log(JSON.stringify(list, null, 2));
  else if (list.length === 0) console.log("no models");
  else {
    console.log(table([["model", "inputs→outputs", "step", "version", "loss", "optimizer"], ...list.map((info) => [
      info.model, `${info.config.inputs}→${info.config.outputs}`, String(info.step), String(info.version), lossText(info.loss), optimizerText(info),
    ])]));
  }
  return 0;
}

// ---- inspect --------------------------------------------------------------------

export const inspectUsage = `usage: gradline inspect NAME [options]

Shows a model: its shape and options, step, version and loss, W and b (raw units),
feature importance (standardised coefficients), and the state of its anomaly checks
and drift detector (read from its snapshot), with the anomaly flags and drift alarms
the server counted since it started (from /metrics).

  --json           print it as JSON
${connectionUsage}`;

export async function inspect(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { ...connectionFlags, json: { type: "boolean" } }, allowPositionals: true, strict: true });
  const name = oneName(positionals, "to inspect");
  noMore(positionals, 1);
  const url = serverOf(values.server);
  const token = values.token ?? process.env.GRADLINE_TOKEN;
  const { info, params, state } = await withClient(values, async (client) => {
    const [info, params, exported] = await Promise.all([client.open(name), client.params(name), client.export(name)]);
    return { info, params, state: decodeSnapshot(exported.snapshot) };
  });
  const counted = await countedSinceStart(url, token, name);
  const m = info.config.inputs;
  const n = info.config.outputs;
  const rows = (values: Float32Array | null) => (values === null ? null : Array.from({ length: n }, (_, j) => Array.from(values.subarray(j * m, (j + 1) * m))));
  const report = {
    ...info, W: rows(params.W), b: Array.from(params.b), importance: rows(params.importance),
    anomaly: anomalyState(state), drift: driftState(state), counted,
  };
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
    return 0;
  }
  const num = (v: number) => String(+v.toPrecision(6));
  const lines = [
    `model ${name}: ${m} inputs → ${n} outputs, step ${info.step}, version ${info.version}, last loss ${lossText(info.loss)}`,
    `options: loss ${info.config.loss}, optimizer ${optimizerText(info)}, l2 ${info.config.l2}, standardize ${info.config.standardize}, seed ${info.config.seed}`,
    "parameters (raw units; row j: output j, column k: input k):",
    ...report.W!.map((row, j) => `  W[${j}] = ${row.map(num).join(", ")}   b[${j}] = ${num(report.b[j]!)}`),
    report.importance === null ? "importance: not yet (fewer than 2 samples seen)" : "importance (standardised coefficients):",
    ...(report.importance ?? []).map((row, j) => `  output ${j}: ${row.map(num).join(", ")}`),
    report.anomaly === null
      ? "anomaly checks: off"
      : `anomaly checks: ${report.anomaly.seen} samples checked, ${(100 * report.anomaly.flagRate).toFixed(1)}% of recent samples flagged; input ranges ${report.anomaly.inputs.map((k) => `[${num(k.min)}, ${num(k.max)}]`).join(" ")}; longest run of one value ${Math.max(...report.anomaly.inputs.map((k) => k.run))}`,
    report.drift === null
      ? "drift detection: off"
      : `drift detection: ${report.drift.warmingUp ? `warming up (${report.drift.seen} of ${info.config.drift!.warmup} steps)` : `watching: statistic ${num(report.drift.statistic)} of threshold ${info.config.drift!.threshold}, loss level ${num(report.drift.level)}`}${report.drift.boostStepsLeft > 0 ? `, boosted lr for ${report.drift.boostStepsLeft} more steps` : ""}`,
    counted === null ? "since the server started: unknown (/metrics did not answer)" : `since the server started: ${counted.driftAlarms} drift alarm(s), anomaly flags ${Object.entries(counted.anomalies).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}`,
  ];
  console.log(lines.join("\n"));
  return 0;
}

function anomalyState(state: ModelState) {
  if (state.options.anomaly === null) return null;
  const { inputs: m, outputs: n } = state.options;
  const a = state.anomaly;
  return {
    seen: a[4 * m + 2 * n]!, flagRate: a[4 * m + 2 * n + 2]!,
    inputs: Array.from({ length: m }, (_, k) => ({ min: a[k]!, max: a[m + k]!, last: a[2 * m + k]!, run: a[3 * m + k]! })),
  };
}

function driftState(state: ModelState) {
  if (state.options.drift === null) return null;
  const [seen, mean, , cumulative, lowest, boostLeft] = state.drift;
  return { seen: seen!, warmingUp: seen! < state.options.drift.warmup, level: Math.exp(mean!), statistic: cumulative! - lowest!, boostStepsLeft: boostLeft! };
}

/** The model's drift alarms and anomaly flags from the server's /metrics; null where that cannot be read. */
async function countedSinceStart(url: string, token: string | undefined, name: string): Promise<{ driftAlarms: number; anomalies: Record<string, number> } | null> {
  const http = url.replace(/^ws/, "http").replace(/^(https?:\/\/[^/]+).*$/, "$1/metrics");
  try {
    const response = await fetch(http, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    if (!response.ok) return null;
    const text = await response.text();
    const label = `model="${name}"`;
    let driftAlarms = 0;
    const anomalies: Record<string, number> = {};
    for (const line of text.split("\n")) {
      if (!line.includes(label)) continue;
      const value = Number(line.slice(line.lastIndexOf(" ") + 1));
      if (line.startsWith("gradline_drift_events_total{")) driftAlarms = value;
      const kind = /^gradline_anomalies_total\{.*kind="([a-z]+)"/.exec(line)?.[1];
      if (kind !== undefined) anomalies[kind] = value;
    }
    return { driftAlarms, anomalies };
  } catch {
    return null;
  }
}

// ---- export, import ----------------------------------------------------------------

export const exportUsage = `usage: gradline export NAME [options]

Writes the model as a file that gradline import (on this server or another) restores
bit for bit: its snapshot (options, parameters, optimiser state, statistics, anomaly
and drift state, step, version), with its name, resolved options, W and b beside it
for people and other tools.

  --format F       json (default; the snapshot as base64) or msgpack
  --out FILE       write to FILE (default: standard output)
${connectionUsage}`;

export async function exportModel(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { ...connectionFlags, format: { type: "string" }, out: { type: "string" } }, allowPositionals: true, strict: true });
  const name = oneName(positionals, "to export");
  noMore(positionals, 1);
  const format = (values.format ?? "json") as ModelFileFormat;
  if (format !== "json" && format !== "msgpack") throw new UsageError(`--format must be json or msgpack (got ${JSON.stringify(values.format)})`);
  if (format === "msgpack" && values.out === undefined && process.stdout.isTTY) throw new UsageError("--format msgpack is binary: write it with --out FILE (or redirect standard output)");
  const { exported, info } = await withClient(values, async (client) => {
    const exported = await client.export(name);
    return { exported, info: await client.open(name) };
  });
  // W and b in raw units, as params gives them, computed from the snapshot itself so they match it whatever trained since
  const engine = await createEngine({ workers: 0 });
  let bytes: Uint8Array;
  try {
    const model = engine.restoreModel(exported.snapshot);
    const { W, b } = model.params();
    bytes = encodeModelFile({
      model: name, config: model.options, step: exported.step, version: exported.version,
      loss: info.version === exported.version ? info.loss : null, W, b, snapshot: exported.snapshot,
    }, format);
  } finally {
    engine.close();
  }
  if (values.out === undefined) await writeStdout(bytes);
  else await writeFile(values.out, bytes);
  return 0;
}

async function writeStdout(bytes: Uint8Array): Promise<void> {
  if (!process.stdout.write(bytes)) await once(process.stdout, "drain");
}

export const importUsage = `usage: gradline import FILE [options]

Creates a model on the server from a file gradline export (or gradline train --save)
wrote, JSON or MessagePack: the same state bit for bit, under the file's name or
--model's. The name must be free: an import never overwrites a model.

  --model NAME     the new model's name (default: the name in the file)
${connectionUsage}`;

export async function importModel(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { ...connectionFlags, model: { type: "string" } }, allowPositionals: true, strict: true });
  if (positionals.length === 0) throw new UsageError("name the model file to import");
  noMore(positionals, 1);
  const file = positionals[0]!;
  const bytes = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new CommandFailure(`cannot read ${file}: ${error.code === "ENOENT" ? "no such file" : error.message}`);
  });
  let decoded: ReturnType<typeof decodeModelFile>;
  try {
    decoded = decodeModelFile(bytes);
    decodeSnapshot(decoded.snapshot); // refused here with its reason, before anything is sent
  } catch (error) {
    throw new CommandFailure(`${file}: ${messageOf(error)}`);
  }
  const name = values.model ?? decoded.model;
  if (!MODEL_NAME.test(name)) throw new UsageError(`${JSON.stringify(name)} is not a model name: pass --model NAME`);
  const info = await withClient(values, (client) => client.import(name, decoded.snapshot));
  console.log(`imported ${file} as model ${info.model}: ${info.config.inputs} → ${info.config.outputs}, step ${info.step}, version ${info.version}`);
  return 0;
}

// ---- predict ----------------------------------------------------------------------

export const predictUsage = `usage: gradline predict NAME FILE.csv [options]

Predicts the outputs for every row of FILE.csv and writes a CSV: the input columns,
then one column per output. Rows that cannot be used are handled as train does.

  --inputs a,b,c   the input columns, in the model's order (default: the file's
                   columns, when it has exactly as many as the model has inputs)
  --outputs y1,y2  names of the predicted columns (default y0, y1, …)
  --out FILE       write to FILE (default: standard output)
  --on-bad-row A   stop (default) or skip
  --batch N        rows per predict request (default 1024, at most the server's maxRows)
${connectionUsage}`;

export async function predict(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args, options: { ...connectionFlags, inputs: { type: "string" }, outputs: { type: "string" }, out: { type: "string" }, "on-bad-row": { type: "string" }, batch: { type: "string" } },
    allowPositionals: true, strict: true,
  });
  const name = oneName(positionals, "to predict with");
  if (positionals.length < 2) throw new UsageError("name the CSV file of inputs to predict for");
  noMore(positionals, 2);
  const file = positionals[1]!;
  const onBad = values["on-bad-row"] ?? "stop";
  if (onBad !== "stop" && onBad !== "skip") throw new UsageError(`--on-bad-row must be stop or skip (got ${JSON.stringify(onBad)})`);
  const batchAsked = integer(values.batch, "batch", 1024, 1);
  const named = namesOf(values.inputs, "inputs");
  return withClient(values, async (client) => {
    const info = await client.open(name);
    const { inputs: m, outputs: n } = info.config;
    if (named !== undefined && named.length !== m) throw new UsageError(`--inputs names ${named.length} columns; model ${name} has ${m} inputs`);
    const outputs = namesOf(values.outputs, "outputs") ?? Array.from({ length: n }, (_, j) => `y${j}`);
    if (outputs.length !== n) throw new UsageError(`--outputs names ${outputs.length} columns; model ${name} has ${n} outputs`);
    const batch = Math.min(batchAsked, client.limits!.maxRows);
    const out = values.out === undefined ? process.stdout : createWriteStream(values.out);
    const write = async (text: string) => {
      if (!out.write(text)) await once(out, "drain");
    };
    let headerLine = "";
    const csv = await openCsv(file, named, onBad === "skip", (header) => {
      if (named === undefined && header.length !== m) throw new UsageError(`${file} has ${header.length} columns and model ${name} ${m} inputs: name them with --inputs`);
      headerLine = `${[...(named ?? header), ...outputs].map(csvField).join(",")}\n`;
    });
    const x = new Float32Array(batch * m);
    const texts: string[] = [];
    const bad: BadRow[] = [];
    let rows = 0;
    let written = 0;
    const flush = async () => {
      if (rows === 0) return;
      const { y } = await client.predict(name, x.subarray(0, rows * m));
      let chunk = "";
      for (let r = 0; r < rows; r++) chunk += `${texts[r]},${Array.from(y.subarray(r * n, (r + 1) * n)).join(",")}\n`;
      await write(chunk);
      written += rows;
      rows = 0;
    };
    for await (const values of usableRows(csv, bad, onBad === "stop")) {
      if (headerLine !== "") {
        await write(headerLine);
        headerLine = "";
      }
      for (let k = 0; k < m; k++) x[rows * m + k] = values[k]!;
      // the inputs as the model read them (float32), so each line shows what its prediction is for
      texts[rows] = Array.from(x.subarray(rows * m, (rows + 1) * m)).join(",");
      if (++rows === batch) await flush();
    }
    await flush();
    if (headerLine !== "") await write(headerLine); // a file of only a header
    if (out !== process.stdout) {
      out.end();
      await once(out, "finish");
    }
    const stopped = onBad === "stop" ? bad.at(-1) : undefined;
    const report = bad.length === 0 ? "" : `; ${bad.length} bad row(s): ${listBadRows(bad)}`;
    console.error(`predicted ${written} rows with model ${name} (version ${info.version})${report}`);
    if (stopped) throw new CommandFailure(`${file}, line ${stopped.line}: ${stopped.reason}; nothing after it was predicted (--on-bad-row skip goes on without such rows)`);
    return 0;
  });
}

/** A header cell as CSV writes it: quoted where it holds a comma, a quote or a line end. */
const csvField = (text: string): string => (/[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);

// ---- setpoint ---------------------------------------------------------------------

export const setpointUsage = `usage: gradline setpoint NAME --target y1,y2 [options]

Asks the model for the inputs that bring its predictions closest to the target
within the bounds (docs/PROTOCOL.md §7.1), and prints the recommended inputs, the
outputs it predicts for them, which constraints bind and whether the target is
reachable. Vectors are comma-separated, one value per output (target, weights) or
per input (the others); an empty entry in --fixed leaves that input free.

  --target Y       the wanted outputs (required)
  --weights W      weight of each output in the objective (default 1)
  --lower X        lowest value of each input (default unbounded)
  --upper X        highest value of each input
  --current X      the operating point now: the search starts there
  --max-move X     largest change of each input from --current
  --fixed X        inputs held at a value, e.g. ",350," (the others free)
  --lambda L       weight of the move from --current (default 0)
  --json           print the answer as JSON
${connectionUsage}`;

export async function setpoint(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args, options: {
      ...connectionFlags, target: { type: "string" }, weights: { type: "string" }, lower: { type: "string" }, upper: { type: "string" },
      current: { type: "string" }, "max-move": { type: "string" }, fixed: { type: "string" }, lambda: { type: "string" }, json: { type: "boolean" },
    },
    allowPositionals: true, strict: true,
  });
  const name = oneName(positionals, "to ask");
  noMore(positionals, 1);
  if (values.target === undefined) throw new UsageError("--target is required: the outputs wanted, one per output, e.g. --target 0.92,0.98");
  const lambda = numberOf(values.lambda, "lambda");
  return withClient(values, async (client) => {
    const info = await client.open(name);
    const { inputs: m, outputs: n } = info.config;
    const vector = (key: "lower" | "upper" | "current" | "max-move", flag: string) => vectorOf(values[key], flag, m) as number[] | undefined;
    const request = {
      target: vectorOf(values.target, "target", n) as number[],
      weights: vectorOf(values.weights, "weights", n) as number[] | undefined,
      lower: vector("lower", "lower"), upper: vector("upper", "upper"), current: vector("current", "current"), maxMove: vector("max-move", "max-move"),
      fixed: vectorOf(values.fixed, "fixed", m, true), lambda,
    };
    const answer = await client.setpoint(name, request);
    if (values.json) {
      console.log(JSON.stringify(answer, null, 2));
      return 0;
    }
    const num = (v: number) => String(+v.toPrecision(6));
    console.log([
      `model ${name} (version ${answer.version}): target ${answer.reachable ? "reachable" : "not reachable within the bounds"}${answer.converged ? "" : " (the search did not converge)"}`,
      table([["input", "recommended", "binds"], ...answer.x.map((v, k) => [String(k), num(v), answer.active[k] ?? "-"])]),
      table([["output", "target", "predicted"], ...answer.predicted.map((v, j) => [String(j), num(request.target[j]!), num(v)])]),
      `objective ${num(answer.objective)} after ${answer.iterations} iterations`,
    ].join("\n"));
    return 0;
  });
}
