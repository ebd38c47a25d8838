// Every server option from the places an operator sets it: the command line
// (--max-rows 1000), the environment (GRADLINE_MAX_ROWS=1000) and a config file
// (--config F, GRADLINE_CONFIG: JSON with startServer's option names). A flag wins
// over its variable, a variable over the file, the file over the defaults. Values
// are validated once, by resolveServerOptions; a refusal names where the value came
// from ("GRADLINE_PORT=abc: …"), so the operator knows what to fix.
import { readFile } from "node:fs/promises";
import { GradlineError, messageOf } from "../base/errors.js";
import type { ServerOptions, TokenGrant } from "./options.js";
import { resolveServerOptions } from "./options.js";

type Kind = "string" | "integer" | "boolean";

interface Setting {
  /** Option path in ServerOptions: "maxRows", or "engine.shardRows". */
  key: string;
  kind: Kind;
  /** For the usage text. */
  help: string;
  /** The flag's argument name in the usage text. */
  arg?: string;
}

/** Every option but tokens (below) and log, in the order the usage lists them. */
export const settings: readonly Setting[] = [
  { key: "config", kind: "string", arg: "F", help: "JSON file of options, with startServer's names ({ \"port\": 9000, \"engine\": { … } })" },
  { key: "host", kind: "string", arg: "H", help: "interface (default 127.0.0.1; without a token, loopback only)" },
  { key: "port", kind: "integer", arg: "N", help: "port, 0 for any free one (default 8080)" },
  { key: "reusePort", kind: "boolean", help: "share the port with other servers started so (SO_REUSEPORT); default: a port in use is refused" },
  { key: "data", kind: "string", arg: "DIR", help: "data folder: the log and the checkpoints, restored at start; \"\" for none (default ./data)" },
  { key: "durability", kind: "string", arg: "M", help: "wal: every batch on disk before its ack (default); checkpoint: a crash loses what came after the last checkpoint" },
  { key: "checkpointEverySteps", kind: "integer", arg: "N", help: "a model's steps between checkpoints (default 100000)" },
  { key: "checkpointEverySeconds", kind: "integer", arg: "S", help: "seconds between checkpoint rounds (default 60)" },
  { key: "checkpointLogBytes", kind: "integer", arg: "N", help: "log bytes that start a checkpoint round (default 67108864)" },
  { key: "dedupeWindow", kind: "integer", arg: "N", help: "trains remembered per client id and model, to recognise resends (default 4096)" },
  { key: "dedupeClients", kind: "integer", arg: "N", help: "client ids remembered per model (default 64)" },
  { key: "workers", kind: "integer", arg: "N", help: "engine worker threads, 0 for none (default: the cores)" },
  { key: "maxModels", kind: "integer", arg: "N", help: "most models the server holds (default 10000)" },
  { key: "maxModelBytes", kind: "integer", arg: "N", help: "most memory one model may take, bytes (default 268435456)" },
  { key: "maxMemory", kind: "integer", arg: "N", help: "most memory all models together may take, bytes (default 3221225472)" },
  { key: "maxRows", kind: "integer", arg: "N", help: "most rows per train or predict (default 65536)" },
  { key: "maxPayload", kind: "integer", arg: "N", help: "largest frame, bytes (default 16777216)" },
  { key: "maxInflight", kind: "integer", arg: "N", help: "most requests of one connection awaiting their reply (default 4096)" },
  { key: "idleTimeout", kind: "integer", arg: "S", help: "seconds without traffic before a connection is closed: 0 (never) or 8 to 960 (default 120)" },
  { key: "updateBackpressure", kind: "integer", arg: "N", help: "unsent bytes at which a connection's updates wait (default 262144)" },
  { key: "maxBackpressure", kind: "integer", arg: "N", help: "unsent bytes at which a connection is closed as not reading (default 67108864)" },
  { key: "allowFallback", kind: "boolean", help: "start even on uWebSockets.js's slow pure-JS fallback" },
  { key: "logLevel", kind: "string", arg: "L", help: "debug, info (default), warn, error or silent" },
  { key: "logFormat", kind: "string", arg: "F", help: "pretty (default: one readable line per event) or json" },
  { key: "engine.kernel", kind: "string", arg: "K", help: "simd (default) or scalar" },
  { key: "engine.maxBatch", kind: "integer", arg: "N", help: "largest batch the engine accepts, rows (default 1048576)" },
  { key: "engine.maximumMemoryPages", kind: "integer", arg: "N", help: "the engine's memory limit in 64 KiB pages (default 65536)" },
  { key: "engine.shardRows", kind: "integer", arg: "N", help: "rows per shard of a data-parallel step (default 1024)" },
  { key: "engine.maxQueuedPerModel", kind: "integer", arg: "N", help: "steps one model may have queued (default 1024)" },
  { key: "engine.maxQueuedSteps", kind: "integer", arg: "N", help: "steps all models may have queued (default 65536)" },
  { key: "engine.maxQueuedBytes", kind: "integer", arg: "N", help: "batch bytes all queued steps may hold (default 268435456)" },
];

const last = (key: string) => key.split(".").at(-1)!;
/** reusePort → --reuse-port; engine.shardRows → --shard-rows. */
export const flagOf = (key: string): string => last(key).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
/** reusePort → GRADLINE_REUSE_PORT. */
export const variableOf = (key: string): string => `GRADLINE_${flagOf(key).replace(/-/g, "_").toUpperCase()}`;

const TRUE = new Set(["1", "true", "yes", "on"]);
const FALSE = new Set(["0", "false", "no", "off"]);

/** A refusal that names where the value came from; the CLI prints it and exits 2. */
export class SettingError extends Error {
  override readonly name = "SettingError";
}

/** Where a value came from, for messages. */
type Source = { flag: string } | { variable: string } | { file: string };
const describe = (key: string, source: Source, raw: unknown): string =>
  "flag" in source ? `--${source.flag} ${JSON.stringify(raw)}` : "variable" in source ? `${source.variable}=${JSON.stringify(raw)}` : `${source.file}: ${key}`;

function parse(setting: Setting, raw: string, source: Source): unknown {
  if (setting.kind === "string") return raw;
  if (setting.kind === "boolean") {
    const word = raw.trim().toLowerCase();
    if (TRUE.has(word)) return true;
    if (FALSE.has(word)) return false;
    throw new SettingError(`${describe(setting.key, source, raw)}: must be one of 1, true, yes, on or 0, false, no, off`);
  }
  // Number("") is 0 and Number("0x10") is 16: only plain decimal integers
  if (!/^-?\d+$/.test(raw.trim())) throw new SettingError(`${describe(setting.key, source, raw)}: must be an integer`);
  return Number(raw);
}

export interface RawSettings {
  /** Values of the flags, by flag name (as parseArgs gives them). */
  flags: Record<string, string | boolean | (string | boolean)[] | undefined>;
  env: Record<string, string | undefined>;
}

export interface Settings {
  options: ServerOptions;
  /** An E_CONFIG of startServer (an engine option, say) restated with where the value came from; other errors as they are. */
  explain(error: unknown): unknown;
}

/** The options the flags, the variables and the config file give, validated; tokens from --token, GRADLINE_TOKENS, --tokens-file and the file. */
export async function serverOptionsFrom({ flags, env }: RawSettings): Promise<Settings> {
  const sources = new Map<string, Source>();
  const variable = (name: string) => (env[name] === "" ? undefined : env[name]);
  const configPath = (flags.config as string | undefined) ?? variable("GRADLINE_CONFIG");
  const options: Record<string, unknown> = configPath === undefined ? {} : await configFile(configPath, sources);

  const set = (key: string, value: unknown, source: Source) => {
    const [head, tail] = key.split(".") as [string, string | undefined];
    if (tail === undefined) options[head] = value;
    else options[head] = { ...(options[head] as object | undefined), [tail]: value };
    sources.set(key, source);
  };
  for (const setting of settings) {
    if (setting.key === "config") continue;
    const flag = flagOf(setting.key);
    const name = variableOf(setting.key);
    const given = flags[flag];
    if (given !== undefined) set(setting.key, setting.kind === "boolean" ? given : parse(setting, given as string, { flag }), { flag });
    // GRADLINE_DATA="" is meaningful: no data folder
    else if (setting.key === "data" ? env[name] !== undefined : variable(name) !== undefined) set(setting.key, parse(setting, env[name]!, { variable: name }), { variable: name });
  }
  if (options.data === undefined) options.data = "data";

  // each token with where it came from, so that a refusal names the right one
  const tokens: (string | TokenGrant)[] = [];
  /** Index among all tokens → index among its own place's. */
  const tokenIndex = new Map<number, number>();
  const add = (list: (string | TokenGrant)[], source: Source) => {
    for (const [i, token] of list.entries()) {
      sources.set(`tokens[${tokens.length}]`, source);
      tokenIndex.set(tokens.length, i);
      tokens.push(token);
    }
  };
  const configTokens = sources.get("tokens");
  sources.delete("tokens");
  const listed = flags.token as string[] | undefined;
  if (listed) add(listed, { flag: "token" });
  else if (variable("GRADLINE_TOKENS") !== undefined) add(env.GRADLINE_TOKENS!.split(",").map((t) => t.trim()).filter((t) => t !== ""), { variable: "GRADLINE_TOKENS" });
  else if (options.tokens !== undefined) {
    if (!Array.isArray(options.tokens)) throw new SettingError(`${configPath}: tokens: must be a list of tokens or { token, prefixes, readOnly, maxModels }`);
    add(options.tokens as (string | TokenGrant)[], configTokens ?? { file: configPath ?? "config" });
  }
  const tokensFile = (flags["tokens-file"] as string | undefined) ?? variable("GRADLINE_TOKENS_FILE");
  if (tokensFile !== undefined) add(await tokenFile(tokensFile), { file: tokensFile });
  options.tokens = tokens;
  const renamedWith = (error: unknown) => renamed(error, sources, tokenIndex);

  try {
    // checked only (level and format included): the server makes its own logger
    resolveServerOptions({ ...(options as ServerOptions), logger: false });
  } catch (error) {
    throw renamedWith(error);
  }
  return { options: options as ServerOptions, explain: renamedWith };
}

/** resolveServerOptions' E_CONFIG, with "options.port" replaced by where the value came from. */
function renamed(error: unknown, sources: ReadonlyMap<string, Source>, tokenIndex: ReadonlyMap<number, number>): unknown {
  if (!(error instanceof GradlineError) || error.code !== "E_CONFIG") return error;
  let field = String(error.details.field ?? "");
  // tokens[i]: the i-th of all tokens, which came from several places; restated as the n-th of its own place
  const token = /^tokens\[(\d+)\](.*)$/.exec(field);
  const key = token ? `tokens[${token[1]}]` : field.replace(/\[\d+\].*$/, "");
  const source = sources.get(key) ?? sources.get(`engine.${key}`);
  if (!source) return error;
  if (token) field = `token ${tokenIndex.get(Number(token[1]))! + 1}${token[2] && token[2] !== ".token" ? ` (${token[2].replace(/^\./, "")})` : ""}`;
  const why = error.message.replace(/^options\.\S+ /, "");
  return new SettingError(`${"file" in source ? `${source.file}: ${field}` : "flag" in source ? `--${source.flag}${token ? `, ${field}` : ""}` : `${source.variable}${token ? `, ${field}` : ""}`}: ${why}`);
}

/** A JSON file's value; one that cannot be read or parsed is a SettingError starting with `what`. */
async function jsonFile(path: string, what: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new SettingError(`${what}: ${messageOf(error)}`);
  }
}

async function configFile(path: string, sources: Map<string, Source>): Promise<Record<string, unknown>> {
  const parsed = await jsonFile(path, `config file ${path}`);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new SettingError(`config file ${path}: must hold a JSON object of options`);
  const known = new Set(settings.map((s) => s.key).filter((k) => k !== "config"));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (key === "engine" && typeof value === "object" && value !== null && !Array.isArray(value)) {
      for (const inner of Object.keys(value)) {
        if (!known.has(`engine.${inner}`)) throw new SettingError(`config file ${path}: unknown option engine.${inner}`);
        sources.set(`engine.${inner}`, { file: path });
      }
    } else if (key !== "tokens" && !known.has(key)) {
      throw new SettingError(`config file ${path}: unknown option ${key} (the options are startServer's: ${[...known].filter((k) => !k.includes(".")).join(", ")}, tokens, engine)`);
    }
    sources.set(key, { file: path });
    out[key] = value;
  }
  return out;
}

async function tokenFile(path: string): Promise<(string | TokenGrant)[]> {
  const granted = await jsonFile(path, `--tokens-file ${path}`);
  if (!Array.isArray(granted)) throw new SettingError(`--tokens-file ${path}: must hold a JSON list`);
  return granted as (string | TokenGrant)[];
}

/** The usage lines of serve's options. */
export function settingsUsage(): string {
  const lines = settings.map((s) => {
    const left = `--${flagOf(s.key)}${s.arg ? ` ${s.arg}` : ""}`;
    return `  ${left.padEnd(28)} ${s.help}\n  ${"".padEnd(28)} env ${variableOf(s.key)}${s.kind === "boolean" ? "=1" : ""}`;
  });
  lines.push(`  ${"--token T".padEnd(28)} bearer token clients must present; repeat for more\n  ${"".padEnd(28)} env GRADLINE_TOKENS (comma-separated); without one, loopback only`);
  lines.push(`  ${"--tokens-file F".padEnd(28)} JSON list of tokens: strings (full access) or\n  ${"".padEnd(28)} { "token", "prefixes", "readOnly", "maxModels" }; env GRADLINE_TOKENS_FILE`);
  return lines.join("\n");
}

/** parseArgs' option table for serve. */
export function settingsFlags(): Record<string, { type: "string" | "boolean"; multiple?: boolean }> {
  const table: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {
    token: { type: "string", multiple: true },
    "tokens-file": { type: "string" },
  };
  for (const s of settings) table[flagOf(s.key)] = { type: s.kind === "boolean" ? "boolean" : "string" };
  return table;
}
