#!/usr/bin/env node
// gradline's command line: `serve` (the server), `seed` (the source document's
// example through the SIMD kernels).
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { createEngine, linearInit, mulberry32, normalFrom, GradlineError, type KernelName } from "./index.js";
import { createLogger, startServer } from "./server/index.js";
import { serverOptionsFrom, settingsFlags, settingsUsage, SettingError } from "./server/settings.js";
import { runDemo } from "./demo/demo.js";

const overview = `usage: gradline <command> [options]

commands:
  serve    run the server: WebSocket protocol on /, GET /healthz, GET /metrics
  demo     stream a simulated chemical line into a server and print the model converging
  seed     train the source document's PyTorch example and print its loss curve
  help     print this text (gradline <command> --help: that command's options)

gradline --version prints the version.`;

/** Each command's usage, printed by `gradline <command> --help` and above a usage error. */
const usages: Record<string, string> = {
  serve: `usage: gradline serve [options]

Runs the server until SIGINT or SIGTERM: WebSocket protocol on /, GET /healthz,
GET /metrics. Every option is also an environment variable and a key of the config
file (--config); a flag wins over its variable, a variable over the file.

${settingsUsage()}`,
  demo: `usage: gradline demo [options]

Streams a simulated chemical line (temperature, pressure, flow → yield, purity;
sensor noise, slow drift, faulty sensors) into a server and prints the model
converging. Exit 0 when it converged.

  --url U          server, a ws:// or wss:// URL (default ws://127.0.0.1:8080/; if
                   nothing answers there, one is started in-process; env GRADLINE_URL)
  --token T        bearer token (env GRADLINE_TOKEN)
  --batches N      batches to send (default 3000)
  --rows N         readings per batch (default 32)
  --rate N         batches per second, 0 for as fast as acks allow (default 100)
  --model NAME     model name (default demo-line)
  --seed N         seed of the simulation (default 1)`,
  seed: `usage: gradline seed [options]

Trains the source document's example (nn.Linear(3, 5), SGD lr 0.01, F.mse_loss,
100 full-batch iterations on 100 random samples) and prints its loss curve.

  --iterations N   optimiser steps (default 100)
  --lr X           learning rate (default 0.01)
  --seed N         seed of the data and the initial parameters (default 1)
  --kernel K       simd (default) or scalar`,
};

class UsageError extends Error {}

function integer(value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min} (got ${JSON.stringify(value)})`);
  return n;
}

async function seedExample(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { iterations: { type: "string" }, lr: { type: "string" }, seed: { type: "string" }, kernel: { type: "string" } },
    strict: true,
  });
  const iterations = integer(values.iterations, "iterations", 100, 1);
  const seed = integer(values.seed, "seed", 1, 0);
  const lr = values.lr === undefined ? 0.01 : Number(values.lr);
  if (!(lr > 0) || !Number.isFinite(lr)) throw new UsageError(`--lr must be a positive number (got ${JSON.stringify(values.lr)})`);
  const kernel = (values.kernel ?? "simd") as KernelName;
  if (kernel !== "simd" && kernel !== "scalar") throw new UsageError(`--kernel must be simd or scalar (got ${JSON.stringify(kernel)})`);

  const m = 3;
  const n = 5;
  const samples = 100;
  const normal = normalFrom(mulberry32(seed));
  const data = Float32Array.from({ length: samples * m }, normal);
  const labels = Float32Array.from({ length: samples * n }, normal);
  const engine = await createEngine({ workers: 0, kernel });
  const model = engine.createModel({
    inputs: m, outputs: n, standardize: false, optimizer: { type: "sgd", lr }, init: linearInit(m, n, seed),
  });
  console.log(`gradline seed example: nn.Linear(${m}, ${n}), SGD lr ${lr}, MSE, ${iterations} full-batch iterations on ${samples} samples (${kernel} kernel)`);
  const started = process.hrtime.bigint();
  let last = 0;
  for (let i = 0; i < iterations; i++) {
    last = model.train(data, labels).loss;
    if (i % 10 === 0) console.log(`Iter ${i}, loss: ${last.toFixed(4)}`);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(`final loss ${last.toFixed(4)}; ${iterations} steps in ${(seconds * 1e3).toFixed(2)} ms (${((iterations * samples) / seconds / 1e6).toFixed(2)} M samples/s, including printing)`);
  const { W, b } = model.params();
  console.log("W =", Array.from(W, (v) => +v.toFixed(4)));
  console.log("b =", Array.from(b, (v) => +v.toFixed(4)));
  engine.close();
}

async function demo(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      url: { type: "string" }, token: { type: "string" }, batches: { type: "string" }, rows: { type: "string" },
      rate: { type: "string" }, model: { type: "string" }, seed: { type: "string" },
    },
    strict: true,
  });
  const url = values.url ?? (process.env.GRADLINE_URL || undefined);
  if (url !== undefined && !/^wss?:\/\/[^/\s]+/.test(url)) {
    throw new UsageError(`--url must be a ws:// or wss:// URL, such as ws://127.0.0.1:8080/ (got ${JSON.stringify(url)}${values.url === undefined ? " from GRADLINE_URL" : ""})`);
  }
  const result = await runDemo({
    url,
    token: values.token ?? process.env.GRADLINE_TOKEN,
    batches: integer(values.batches, "batches", 3000, 1),
    rows: integer(values.rows, "rows", 32, 1),
    rate: integer(values.rate, "rate", 100, 0),
    model: values.model ?? "demo-line",
    seed: integer(values.seed, "seed", 1, 0),
    log: (line) => console.log(line),
  });
  return result.worstRelativeError < 0.1 ? 0 : 1;
}

/** Runs the server until SIGINT or SIGTERM, then shuts it down gracefully. */
async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: settingsFlags(), strict: true });
  const { options, explain } = await serverOptionsFrom({ flags: values, env: process.env });
  // listen for the signals before starting: one that arrives while the server starts (a long
  // replay, or just after "listening" is printed) must shut it down gracefully, not kill it
  let signalled: string | undefined;
  let stop = (signal: string) => {
    // a second one while the start is still under way (a long replay, a hang): give up at once
    if (signalled) {
      console.error(`gradline: ${signal} again while starting: exiting without a clean shutdown`);
      process.exit(1);
    }
    signalled = signal;
  };
  const onSignal = (signal: string) => stop(signal);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // the server's logger, and the command's own lines through it
  const logger = createLogger(options.logLevel, options.logFormat);
  const server = await startServer({ ...options, logger }).catch((error: unknown) => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    return Promise.reject(explain(error));
  });
  await new Promise<void>((resolve) => {
    stop = (signal: string) => {
      logger.info({ event: "stopping", signal }, `${signal}: finishing accepted work, then closing`);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      server.close().then(resolve, (error: unknown) => {
        // e.g. the data folder became unwritable: the last checkpoints were not written
        logger.error({ event: "shutdown-failed" }, `shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exitCode = 1;
        resolve();
      });
    };
    if (signalled) stop(signalled);
  });
  logger.info({ event: "closed" }, "closed");
  // an idle HTTP keep-alive connection (a health checker's) would hold the process for uWS's idle timeout
  setTimeout(() => process.exit(), 1000).unref();
  return process.exitCode === 1 ? 1 : 0;
}

/**
 * `--port -1` as `--port=-1`: parseArgs takes an argument that starts with "-" for an
 * option of its own, and would answer with its puzzling "ambiguous" error.
 */
function joinNegativeValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    if (/^--[a-z-]+$/.test(arg) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

async function version(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...given] = argv;
  const rest = joinNegativeValues(given);
  const usage = command !== undefined && command in usages ? usages[command]! : overview;
  if (command === "--version" || command === "-v" || command === "version") {
    console.log(`gradline ${await version()} (Node ${process.version})`);
    return 0;
  }
  if (command !== undefined && command in usages && (rest.includes("--help") || rest.includes("-h"))) {
    console.log(usage);
    return 0;
  }
  try {
    switch (command) {
      case "serve":
        return await serve(rest);
      case "demo":
        return await demo(rest);
      case "seed":
        await seedExample(rest);
        return 0;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        console.log(overview);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}: the commands are serve, demo, seed and help`);
    }
  } catch (error) {
    if (error instanceof UsageError || error instanceof SettingError || (error instanceof TypeError && "code" in error)) {
      // the usage first, the error last: where the eye lands after the output stops
      const short = usage === overview ? overview : `${usage.split("\n")[0]}  (gradline ${command} --help lists the options)`;
      console.error(`${short}\n\ngradline: ${error.message}`);
      return 2;
    }
    if (error instanceof GradlineError) {
      console.error(`gradline: ${error.code}: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
