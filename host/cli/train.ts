// `gradline train`: streams a CSV file into a model, in the library (in-process, the
// default) or on a server (--server). Each batch is first predicted with the model as
// it was, then trained on: the running error over the whole file is progressive
// validation, an honest estimate of how the model does on data it has not seen.
import { writeFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import { parseArgs } from "node:util";
import { GradlineError } from "../base/errors.js";
import { MODEL_NAME } from "../base/names.js";
import { connect } from "../client/client.js";
import type { Engine } from "../engine/engine.js";
import type { Model } from "../engine/model.js";
import { createEngine } from "../pool/index.js";
import type { WireModelConfig } from "../protocol/messages.js";
import { CommandFailure, connectionFlags, integer, namesOf, serverOf, UsageError } from "./args.js";
import { LISTED_BAD_ROWS, listBadRows, openCsv, usableRows, type BadRow } from "./csv.js";
import { encodeModelFile } from "./modelFile.js";
import { modelConfigOf, modelFlags, modelUsage } from "./modelOptions.js";
import { progressOn } from "./progress.js";

export const trainUsage = `usage: gradline train FILE.csv --inputs a,b,c --outputs y1,y2 [options]

Streams FILE.csv (a header line naming the columns, then one reading per line; any
size: it is read as it goes) into a model, batch by batch. Each batch is predicted
before the model trains on it, and the summary's MAE and RMSE per output are over
those predictions (progressive validation). In-process by default; with --server
the model lives on that server (created, or trained further if it exists).

  --inputs a,b,c   the input columns, in the model's order (required)
  --outputs y1,y2  the output columns (required)
  --model NAME     the model (default: the file's name)
  --batch N        rows per optimiser step (default 256)
  --on-bad-row A   stop (default) or skip: what a row that cannot be used does
                   (a missing or non-numeric value, a wrong field count, a broken
                   quote); skipped rows are counted and their lines listed
  --save FILE      in-process: write the trained model to FILE (.json: JSON, else
                   MessagePack), for gradline import
  --no-validate    no progressive validation: with --server, trains are pipelined
  --debug          print the process's peak memory at the end
  --server URL     train the model on this server (ws:// or wss://), not in-process
  --token T        bearer token (env GRADLINE_TOKEN)

${modelUsage}`;

const flags = {
  ...connectionFlags, ...modelFlags,
  inputs: { type: "string" }, outputs: { type: "string" }, model: { type: "string" }, batch: { type: "string" },
  "on-bad-row": { type: "string" }, save: { type: "string" }, "no-validate": { type: "boolean" }, debug: { type: "boolean" },
} as const;

/** Where the model lives and trains: the library, or a server. */
interface Target {
  /** Rows a batch may have, and trains that may be in flight at once. */
  maxRows: number;
  window: number;
  predict(x: Float32Array): Promise<Float32Array>;
  train(x: Float32Array, y: Float32Array): Promise<{ loss: number; step: number; anomalies: number; drift: boolean }>;
  /** Says where the trained model is, once every train is done. */
  finish(): Promise<string>;
  close(): void;
}


export async function train(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: flags, allowPositionals: true, strict: true });
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "name the CSV file to train on" : `one CSV file at a time (got ${positionals.length}: ${positionals.join(" ")})`);
  const file = positionals[0]!;
  const inputs = namesOf(values.inputs, "inputs");
  const outputs = namesOf(values.outputs, "outputs");
  if (!inputs || !outputs) throw new UsageError(`--inputs and --outputs are required: the columns of ${file} the model reads and predicts`);
  const both = inputs.find((name) => outputs.includes(name));
  if (both !== undefined) throw new UsageError(`column ${JSON.stringify(both)} is both an input and an output`);
  const name = values.model ?? basename(file, extname(file));
  if (!MODEL_NAME.test(name)) throw new UsageError(`${JSON.stringify(name)} is not a model name (1 to 128 letters, digits, ".", "_", "-", starting with a letter or digit): pass --model NAME`);
  const batch = integer(values.batch, "batch", 256, 1);
  const onBad = values["on-bad-row"] ?? "stop";
  if (onBad !== "stop" && onBad !== "skip") throw new UsageError(`--on-bad-row must be stop or skip (got ${JSON.stringify(onBad)})`);
  const remote = values.server !== undefined;
  if (remote && values.save !== undefined) throw new UsageError("--save is for in-process training; a model on a server is saved with gradline export");
  const config = modelConfigOf(values, inputs.length, outputs.length);
  const validate = !values["no-validate"];

  const csv = await openCsv(file, [...inputs, ...outputs], onBad === "skip");
  const target = remote
    ? await serverTarget(serverOf(values.server), values.token ?? process.env.GRADLINE_TOKEN, name, config, validate)
    : await libraryTarget(name, config, values.save);
  try {
    if (batch > target.maxRows) throw new UsageError(`--batch ${batch} is more rows than the server takes in one train (maxRows ${target.maxRows})`);
    const m = inputs.length;
    const n = outputs.length;
    const x = new Float32Array(batch * m);
    const y = new Float32Array(batch * n);
    const absolute = new Float64Array(n);
    const squared = new Float64Array(n);
    const bad: BadRow[] = [];
    let rows = 0;
    let trained = 0;
    let batches = 0;
    let loss: number | undefined;
    let step = 0;
    let anomalies = 0;
    const drifts: number[] = [];
    const inflight: Promise<void>[] = [];
    const progress = progressOn(process.stderr, csv.size, `gradline train ${file}`);
    const flush = async (): Promise<void> => {
      if (rows === 0) return;
      const xs = x.subarray(0, rows * m);
      const ys = y.subarray(0, rows * n);
      if (validate) {
        // the prediction must see every earlier batch and none of this one
        await Promise.all(inflight.splice(0));
        const predicted = await target.predict(xs);
        for (let i = 0; i < ys.length; i++) {
          const error = predicted[i]! - ys[i]!;
          absolute[i % n]! += Math.abs(error);
          squared[i % n]! += error * error;
        }
      }
      if (inflight.length >= target.window) await inflight.shift();
      const count = rows;
      inflight.push(target.train(xs, ys).then((result) => {
        trained += count;
        batches++;
        loss = result.loss;
        step = result.step;
        anomalies += result.anomalies;
        if (result.drift) drifts.push(result.step);
        progress.update(csv.bytes, trained, loss);
      }));
      rows = 0;
      // a train encodes (or copies) its batch before it returns, so the buffers can be refilled at once
    };
    let stopped: BadRow | undefined;
    try {
      for await (const v of usableRows(csv, bad, onBad === "stop")) {
        for (let i = 0; i < m; i++) x[rows * m + i] = v[i]!;
        for (let j = 0; j < n; j++) y[rows * n + j] = v[m + j]!;
        if (++rows === batch) await flush();
      }
      await flush();
      await Promise.all(inflight.splice(0));
      if (onBad === "stop") stopped = bad.at(-1);
    } finally {
      progress.stop();
    }
    const where = await target.finish();
    const lines = [
      `trained ${trained} rows in ${batches} batch${batches === 1 ? "" : "es"} of up to ${batch} rows: model ${name} ${where}, step ${step}, last loss ${loss === undefined ? "-" : loss.toPrecision(6)}`,
    ];
    if (bad.length > 0) {
      bad.sort((a, b) => a.line - b.line);
      lines.push(`bad rows: ${bad.length} ${stopped ? "(stopped at the first)" : "skipped"}: ${listBadRows(bad)}${bad.length > LISTED_BAD_ROWS ? "; …" : ""}`);
    }
    if (anomalies > 0 || drifts.length > 0) lines.push(`anomaly flags: ${anomalies}; drift alarms: ${drifts.length}${drifts.length > 0 ? ` (at steps ${drifts.slice(0, 10).join(", ")})` : ""}`);
    if (validate && trained > 0) {
      lines.push(`progressive validation on ${trained} rows (each batch predicted before the model trained on it):`);
      const width = Math.max(6, ...outputs.map((o) => o.length));
      lines.push(`  ${"output".padEnd(width)}  ${"MAE".padEnd(12)}  RMSE`);
      outputs.forEach((output, j) => {
        lines.push(`  ${output.padEnd(width)}  ${(absolute[j]! / trained).toPrecision(6).padEnd(12)}  ${Math.sqrt(squared[j]! / trained).toPrecision(6)}`);
      });
    }
    console.log(lines.join("\n"));
    if (values.debug) console.error(`debug: peak RSS ${process.resourceUsage().maxRSS} KiB`);
    if (stopped) {
      throw new CommandFailure(`${file}, line ${stopped.line}: ${stopped.reason}; nothing after it was trained (--on-bad-row skip trains on without such rows)`);
    }
    return 0;
  } finally {
    target.close();
  }
}

/** The model in this process: the in-process engine, synchronous. */
async function libraryTarget(name: string, config: WireModelConfig, save: string | undefined): Promise<Target> {
  const engine: Engine = await createEngine({ workers: 0 });
  let model: Model;
  try {
    model = engine.createModel(config);
  } catch (error) {
    engine.close();
    // a model option out of range is the command line's mistake
    throw error instanceof GradlineError && error.code === "E_CONFIG" ? new UsageError(error.message) : error;
  }
  return {
    maxRows: Infinity,
    window: 1,
    predict: async (x) => model.predict(x),
    train: async (x, y) => {
      const result = model.train(x, y);
      return { loss: result.loss, step: result.step, anomalies: result.anomalies.length, drift: result.drift !== null };
    },
    finish: async () => {
      if (save === undefined) return "(in-process, not saved: --save FILE keeps it)";
      const { W, b, step, version } = model.params();
      const bytes = encodeModelFile({ model: name, config: model.options, step, version, loss: null, W, b, snapshot: model.snapshot() }, save.endsWith(".json") ? "json" : "msgpack");
      await writeFile(save, bytes);
      return `(in-process) saved to ${save}`;
    },
    close: () => engine.close(),
  };
}

/** The model on a server, through the client: created (or opened, when it exists with the same options). */
async function serverTarget(url: string, token: string | undefined, name: string, config: WireModelConfig, validate: boolean): Promise<Target> {
  const client = await connect(url, { token, reconnect: { maxAttempts: 5 } });
  try {
    await client.create(name, config);
  } catch (error) {
    client.close();
    throw error;
  }
  const limits = client.limits!;
  return {
    maxRows: limits.maxRows,
    // one request slot stays free for the next batch's predict
    window: validate ? 1 : Math.max(1, Math.min(limits.maxInflight - 1, 64)),
    predict: async (x) => (await client.predict(name, x)).y,
    train: async (x, y) => {
      const ack = await client.train(name, x, y);
      return { loss: ack.loss, step: ack.step, anomalies: ack.anomalies.length + ack.anomaliesDropped, drift: ack.drift !== undefined };
    },
    finish: async () => `on ${url}`,
    close: () => client.close(),
  };
}
