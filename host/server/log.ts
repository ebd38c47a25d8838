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

/**
 * At most `perWindow` lines of each event kind every `windowMs`: whoever can reach the
 * port (no token needed to be refused) must not be able to fill the disk with lines.
 * What is held back is counted, and said in one line when the next window opens.
 */
export class LineBudget {
  private windowStart = 0;
  private readonly used = new Map<string, number>();
  private readonly held = new Map<string, number>();

  constructor(private readonly logger: Logger, private readonly perWindow = 200, private readonly windowMs = 10_000, private readonly now = () => Date.now()) {}

  /** Whether a line of `event` may be written now. */
  allow(event: string): boolean {
    const now = this.now();
    if (now - this.windowStart >= this.windowMs) {
      for (const [kind, count] of this.held) this.logger.warn({ event: "lines-held", kind, count }, `${count} ${kind} line(s) held back in ${this.windowMs / 1000} s (more than ${this.perWindow}); the metrics count them all`);
      this.used.clear();
      this.held.clear();
      this.windowStart = now;
    }
    const used = (this.used.get(event) ?? 0) + 1;
    this.used.set(event, used);
    if (used <= this.perWindow) return true;
    this.held.set(event, (this.held.get(event) ?? 0) + 1);
    return false;
  }
}
