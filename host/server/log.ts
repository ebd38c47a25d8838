// What the server says, for a person or a log shipper: one line per event (a
// connection, a refused upgrade, a create or delete, an error reply, a checkpoint
// round, a storage fault), at a level, never one per train at the default level.
// Written through pino: readable lines ("pretty") or JSON, synchronously, so nothing
// is lost when the process exits.
import pino from "pino";
import pretty from "pino-pretty";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
export type LogFormat = "pretty" | "json";
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];
export const LOG_FORMATS: readonly LogFormat[] = ["pretty", "json"];

/** The calls the server makes: pino's shape, so an embedder's pino logger (or a child of it) fits as it is. */
export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** A pino logger to stdout: "pretty" is one readable line per event (time, level, message, fields), "json" one JSON object. */
export function createLogger(level: LogLevel = "info", format: LogFormat = "pretty"): Logger {
  const options: pino.LoggerOptions = { level, base: undefined, formatters: { level: (label) => ({ level: label }) } };
  if (format === "json") return pino({ ...options, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 1, sync: true }));
  return pino(options, pretty({ sync: true, destination: 1, colorize: false, singleLine: true, translateTime: "SYS:yyyy-mm-dd HH:MM:ss.l", ignore: "pid,hostname" }));
}

const nothing = () => {};
export const silentLogger: Logger = Object.freeze({ debug: nothing, info: nothing, warn: nothing, error: nothing });

/** The messages alone, one line each, at `level` and above: for tests, and the demo's own output. */
export function lineLogger(write: (line: string) => void, level: Exclude<LogLevel, "silent"> = "info"): Logger {
  const from = LOG_LEVELS.indexOf(level);
  const at = (which: LogLevel) => (LOG_LEVELS.indexOf(which) >= from ? (_: object, message: string) => write(message) : nothing);
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
