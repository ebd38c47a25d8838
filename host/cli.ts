#!/usr/bin/env node
// gradline's command line: reads the command, hands its arguments to its module in
// cli/, and turns what goes wrong into the exit code and the message last: a usage
// error under the command's usage line (exit 2), a failure of the work (exit 1).
import { readFile } from "node:fs/promises";
import { GradlineError } from "./base/errors.js";
import { SettingError } from "./server/settings.js";
import { CommandFailure, UsageError } from "./cli/args.js";
import { demo, demoUsage } from "./cli/demo.js";
import { exportModel, exportUsage, importModel, importUsage, inspect, inspectUsage, models, modelsUsage, predict, predictUsage, setpoint, setpointUsage } from "./cli/remote.js";
import { seedExample, seedUsage } from "./cli/seed.js";
import { serve, serveUsage } from "./cli/serve.js";
import { train, trainUsage } from "./cli/train.js";

const overview = `usage: gradline <command> [options]

commands:
  serve     run the server: WebSocket protocol on /, GET /healthz, GET /metrics
  train     train a model on a CSV file, in-process or on a server, with progressive validation
  models    list a server's models
  inspect   show a model: options, step, loss, W and b, importance, anomaly and drift state
  export    write a model to a file (JSON or MessagePack) that import restores bit for bit
  import    create a model on a server from an exported file
  predict   write a CSV of a model's predictions for a CSV of inputs
  setpoint  recommend the inputs that bring a model's predictions to a target
  demo      stream a simulated chemical line into a server and print the model converging
  seed      train the source document's PyTorch example and print its loss curve
  help      print this text (gradline <command> --help: that command's options)

gradline --version prints the version.`;

/** Each command: what runs it, and its usage, printed by `gradline <command> --help` and above a usage error. */
const commands: Record<string, { run: (args: string[]) => Promise<number>; usage: string }> = {
  serve: { run: serve, usage: serveUsage },
  train: { run: train, usage: trainUsage },
  models: { run: models, usage: modelsUsage },
  inspect: { run: inspect, usage: inspectUsage },
  export: { run: exportModel, usage: exportUsage },
  import: { run: importModel, usage: importUsage },
  predict: { run: predict, usage: predictUsage },
  setpoint: { run: setpoint, usage: setpointUsage },
  demo: { run: demo, usage: demoUsage },
  seed: { run: async (args) => (await seedExample(args), 0), usage: seedUsage },
};

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
  const known = command !== undefined && Object.hasOwn(commands, command) ? commands[command]! : undefined;
  const usage = known?.usage ?? overview;
  if (command === "--version" || command === "-v" || command === "version") {
    console.log(`gradline ${await version()} (Node ${process.version})`);
    return 0;
  }
  if (known && (rest.includes("--help") || rest.includes("-h"))) {
    console.log(usage);
    return 0;
  }
  try {
    if (known) return await known.run(rest);
    switch (command) {
      case undefined:
      case "help":
      case "--help":
      case "-h":
        console.log(overview);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}: the commands are ${Object.keys(commands).join(", ")} and help`);
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
    if (error instanceof CommandFailure) {
      console.error(`gradline: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
