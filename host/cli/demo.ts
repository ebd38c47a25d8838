// `gradline demo`: a simulated chemical line streamed into a server.
import { parseArgs } from "node:util";
import { runDemo } from "../demo/demo.js";
import { integer, UsageError } from "./args.js";

export const demoUsage = `usage: gradline demo [options]

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
  --seed N         seed of the simulation (default 1)`;

export async function demo(args: string[]): Promise<number> {
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
