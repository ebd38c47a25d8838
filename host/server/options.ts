// Server options: the public interface, the resolved form and the frozen defaults.
import { errors, quote } from "../base/errors.js";
import { integerOption } from "../base/validate.js";
import type { EngineOptions } from "../engine/engine.js";
import type { PoolOptions } from "../pool/options.js";
import type { DurabilityMode, DurabilitySettings } from "./durability.js";
import { createLogger, LOG_FORMATS, LOG_LEVELS, silentLogger, type LogFormat, type LogLevel, type Logger } from "./log.js";

export interface ServerOptions {
  /** Interface to listen on. Default 127.0.0.1; without tokens it is always loopback. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Bearer tokens a client must present: a string grants everything, a TokenGrant less. None: loopback only. */
  tokens?: readonly (string | TokenGrant)[];
  /** Most models the server holds; a create beyond is E_LIMIT. Default 10,000. */
  maxModels?: number;
  /** Data folder: the log and the checkpoints, restored at start. Default none (memory only). */
  data?: string;
  /**
   * With a data folder: "wal" (default) logs and syncs every create, train and delete
   * before applying and answering it, so an ack survives any crash; "checkpoint" only
   * writes checkpoints, so a crash loses what came after the last one.
   */
  durability?: DurabilityMode;
  /** A model's steps since its last checkpoint that start a checkpoint round. Default 100,000. */
  checkpointEverySteps?: number;
  /** Seconds between checkpoint rounds (a round writes only the models that changed). Default 60. */
  checkpointEverySeconds?: number;
  /** Log bytes since the last round that start one (and let the log be truncated). Default 64 MiB. */
  checkpointLogBytes?: number;
  /** Trains remembered per client id and model, to recognise resends. Default 4096. */
  dedupeWindow?: number;
  /** Client ids remembered per model (the least recently seen are forgotten). Default 64. */
  dedupeClients?: number;
  /** Most memory one model may take (bytes); a bigger create is E_LIMIT. Default 256 MiB. */
  maxModelBytes?: number;
  /** Most memory all models together may take (bytes). Default 3 GiB (the engine's memory holds 4). */
  maxMemory?: number;
  /** Engine worker threads; 0 trains on the server's own thread. Default: the number of cores. */
  workers?: number;
  /** Largest frame accepted, in bytes; a larger one drops the connection. Default 16 MiB. */
  maxPayload?: number;
  /** Most rows in one train or predict. Default 65536. */
  maxRows?: number;
  /** Most requests of one connection awaiting their reply; more are refused with E_LIMIT. Default 4096. */
  maxInflight?: number;
  /** Seconds without traffic before a connection is closed (pings keep live clients open): 0 (never) or 8 to 960. Default 120. */
  idleTimeout?: number;
  /** Bytes a connection may have unsent before its subscription updates wait for it to drain. Default 256 KiB. */
  updateBackpressure?: number;
  /** Bytes a connection may have unsent before it is closed as not reading its replies. Default 64 MiB. */
  maxBackpressure?: number;
  /** Start on uWebSockets.js's pure-JS fallback instead of refusing. Default false. */
  allowFallback?: boolean;
  /**
   * Share the port with other servers that ask for the same (SO_REUSEPORT: the kernel spreads
   * connections over them). Default false: a port in use is refused.
   */
  reusePort?: boolean;
  /** Engine options passed through (kernel, memory, pool limits). */
  engine?: Omit<EngineOptions & PoolOptions, "workers">;
  /**
   * Where the server says what it does: a pino-shaped logger (a pino instance fits), or
   * false for nothing. Default: a pino logger to stdout at logLevel, in logFormat.
   */
  logger?: Logger | false;
  /** Level of the default logger: "debug", "info" (default), "warn", "error" or "silent". */
  logLevel?: LogLevel;
  /** Format of the default logger: "pretty" (default; one readable line per event) or "json". */
  logFormat?: LogFormat;
}

/** What one token may do. */
export interface TokenGrant {
  token: string;
  /** Model-name prefixes it may address. Default [""]: every model. */
  prefixes?: readonly string[];
  /** Only open, predict, params, subscribe, unsubscribe, list and setpoint: no create, train or delete. Default false. */
  readOnly?: boolean;
  /** Most models its prefixes may cover; a create beyond is E_LIMIT. Default: only the server's maxModels. */
  maxModels?: number;
}

export type ResolvedGrant = Required<TokenGrant>;

/** No token configured (loopback only): everything is allowed. */
export const FULL_GRANT: ResolvedGrant = Object.freeze({ token: "", prefixes: Object.freeze([""]), readOnly: false, maxModels: Infinity });

export interface ResolvedServerOptions {
  host: string;
  port: number;
  tokens: readonly ResolvedGrant[];
  maxModels: number;
  data: string | undefined;
  durability: Omit<DurabilitySettings, "folder">;
  maxModelBytes: number;
  maxMemory: number;
  workers: number | undefined;
  maxPayload: number;
  maxRows: number;
  maxInflight: number;
  idleTimeout: number;
  updateBackpressure: number;
  maxBackpressure: number;
  allowFallback: boolean;
  reusePort: boolean;
  engine: Omit<EngineOptions & PoolOptions, "workers">;
  logger: Logger;
}

export const serverDefaults = Object.freeze({
  host: "127.0.0.1",
  port: 8080,
  maxPayload: 16 * 1024 * 1024,
  maxRows: 65_536,
  maxInflight: 4096,
  idleTimeout: 120,
  updateBackpressure: 256 * 1024,
  maxBackpressure: 64 * 1024 * 1024,
});

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export const isLoopback = (host: string): boolean => LOOPBACK.test(host);


function logger(options: ServerOptions): Logger {
  const level = options.logLevel ?? "info";
  const format = options.logFormat ?? "pretty";
  if (!LOG_LEVELS.includes(level)) throw errors.config("logLevel", `must be one of ${LOG_LEVELS.join(", ")} (got ${quote(level)})`);
  if (!LOG_FORMATS.includes(format)) throw errors.config("logFormat", `must be one of ${LOG_FORMATS.join(", ")} (got ${quote(format)})`);
  if (options.logger === false) return silentLogger;
  if (options.logger !== undefined) {
    const given = options.logger as unknown as Record<string, unknown>;
    if (!["debug", "info", "warn", "error"].every((m) => typeof given?.[m] === "function")) throw errors.config("logger", "must be false or a logger with debug, info, warn and error methods (a pino logger fits)");
    return options.logger;
  }
  return createLogger(level, format);
}

function flag(value: unknown, field: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw errors.config(field, `must be true or false (got ${quote(value)})`);
  return value;
}

function resolveGrant(value: unknown, field: string): ResolvedGrant {
  const grant = typeof value === "string" ? { token: value } : value;
  if (typeof grant !== "object" || grant === null) throw errors.config(field, "must be a token or { token, prefixes, readOnly, maxModels }");
  const { token, prefixes = [""], readOnly = false, maxModels = Infinity } = grant as TokenGrant;
  if (typeof token !== "string" || token.length < 16 || /\s/.test(token)) throw errors.config(`${field}.token`, "must be at least 16 characters without spaces");
  if (!Array.isArray(prefixes) || prefixes.length === 0 || prefixes.some((p) => typeof p !== "string")) throw errors.config(`${field}.prefixes`, "must be a non-empty list of model-name prefixes");
  if (typeof readOnly !== "boolean") throw errors.config(`${field}.readOnly`, "must be true or false");
  if (maxModels !== Infinity && (!Number.isInteger(maxModels) || maxModels < 0)) throw errors.config(`${field}.maxModels`, "must be an integer ≥ 0");
  return { token, prefixes, readOnly, maxModels };
}

function durabilityMode(value: unknown): DurabilityMode {
  if (value === undefined) return "wal";
  if (value !== "wal" && value !== "checkpoint") throw errors.config("durability", `must be "wal" or "checkpoint" (got ${quote(value)})`);
  return value;
}

/** uWS aborts the process on 1 to 7, so those are refused here. */
function idleTimeout(value: unknown): number {
  const seconds = integerOption(value, "idleTimeout", 0, serverDefaults.idleTimeout, 960);
  if (seconds > 0 && seconds < 8) throw errors.config("idleTimeout", `must be 0 (never) or from 8 to 960 seconds (got ${seconds})`);
  return seconds;
}

export function resolveServerOptions(options: ServerOptions = {}): ResolvedServerOptions {
  const listed: unknown = options.tokens ?? [];
  if (!Array.isArray(listed)) throw errors.config("tokens", "must be a list of tokens or { token, prefixes, readOnly, maxModels }");
  const tokens = listed.map((t: unknown, i): ResolvedGrant => resolveGrant(t, `tokens[${i}]`));
  const host = options.host ?? serverDefaults.host;
  if (typeof host !== "string" || host === "") throw errors.config("host", "must be a host name or IP address");
  const maxPayload = integerOption(options.maxPayload, "maxPayload", 1024, serverDefaults.maxPayload, 2 ** 30);
  return {
    host,
    port: integerOption(options.port, "port", 0, serverDefaults.port, 65_535),
    tokens,
    maxModels: integerOption(options.maxModels, "maxModels", 1, 10_000, 1_000_000),
    data: options.data === undefined || options.data === "" ? undefined : options.data,
    durability: {
      mode: durabilityMode(options.durability),
      checkpointSteps: integerOption(options.checkpointEverySteps, "checkpointEverySteps", 1, 100_000, 2 ** 40),
      checkpointInterval: integerOption(options.checkpointEverySeconds, "checkpointEverySeconds", 1, 60, 86_400),
      checkpointLogBytes: integerOption(options.checkpointLogBytes, "checkpointLogBytes", 1024, 64 * 2 ** 20, 2 ** 40),
      dedupeWindow: integerOption(options.dedupeWindow, "dedupeWindow", 1, 4096, 1 << 20),
      dedupeClients: integerOption(options.dedupeClients, "dedupeClients", 1, 64, 1 << 16),
    },
    maxModelBytes: integerOption(options.maxModelBytes, "maxModelBytes", 1024, 256 * 2 ** 20, 2 ** 32),
    maxMemory: integerOption(options.maxMemory, "maxMemory", 1024, 3 * 2 ** 30, 2 ** 32),
    workers: options.workers,
    maxPayload,
    maxRows: integerOption(options.maxRows, "maxRows", 1, serverDefaults.maxRows, 1 << 24),
    maxInflight: integerOption(options.maxInflight, "maxInflight", 1, serverDefaults.maxInflight, 1 << 20),
    idleTimeout: idleTimeout(options.idleTimeout),
    updateBackpressure: integerOption(options.updateBackpressure, "updateBackpressure", 0, serverDefaults.updateBackpressure, 2 ** 30),
    maxBackpressure: integerOption(options.maxBackpressure, "maxBackpressure", maxPayload, Math.max(maxPayload, serverDefaults.maxBackpressure), 2 ** 31 - 1),
    allowFallback: flag(options.allowFallback, "allowFallback"),
    reusePort: flag(options.reusePort, "reusePort"),
    engine: options.engine ?? {},
    logger: logger(options),
  };
}
