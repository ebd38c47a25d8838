// Every error gradline raises: a stable `code` (clients branch on it), a message
// a person can act on, optional details and `cause`. Call sites use the
// factories below and never spell messages inline.

export type ErrorCode =
  | "E_CONFIG"
  | "E_SHAPE"
  | "E_NONFINITE"
  | "E_DIVERGED"
  | "E_SNAPSHOT"
  | "E_DISPOSED"
  | "E_MEMORY"
  | "E_WASM"
  | "E_BUSY"
  | "E_WORKER"
  | "E_SETPOINT"
  // raised by the protocol, the server and the client (docs/PROTOCOL.md)
  | "E_DECODE"
  | "E_FRAME"
  | "E_MESSAGE"
  | "E_TYPE"
  | "E_FIELD"
  | "E_VERSION"
  | "E_NOT_FOUND"
  | "E_CONFLICT"
  | "E_LIMIT"
  | "E_SHUTDOWN"
  | "E_FORBIDDEN"
  | "E_STORAGE"
  | "E_CLOSED"
  | "E_INTERNAL";

/**
 * Why a client's connection could not be opened, in `details.reason` of its E_CLOSED:
 * nothing listening, a host that cannot be reached, a 401 without or with a token,
 * another HTTP answer, a close before the server's welcome, or (in a browser, whose
 * WebSocket hides the HTTP answer) no telling which.
 */
export type ConnectFailure = "refused" | "unreachable" | "token-required" | "token-refused" | "rejected" | "closed" | "unknown";

/** The sentence naming a connection failure; `detail` is the network error code, HTTP status or close code. */
export function connectFailure(url: string, reason: ConnectFailure, detail: string, withToken: boolean): string {
  switch (reason) {
    case "refused":
      return `connection refused at ${url}: is the server running?`;
    case "unreachable":
      return `cannot reach ${url} (${detail}): check the host name and the network`;
    case "token-required":
      return `401 from ${url}: this server needs a token (connect(url, { token }))`;
    case "token-refused":
      return `401 from ${url}: the server refused the token`;
    case "rejected":
      return `${url} answered the WebSocket upgrade with HTTP ${detail}`;
    case "closed":
      return `the connection to ${url} closed before the server's welcome (${detail})`;
    case "unknown":
      return `cannot connect to ${url} (${detail}): nothing is listening there, or the server refused the upgrade${withToken ? " (a wrong token?)" : " (does it need a token? connect(url, { token }))"}; a browser's WebSocket does not tell which`;
  }
}

/**
 * A value as an error message may show it: never throws (String() does on a map
 * with a non-function toString), never long.
 */
/** What went wrong, in words: an Error's message, anything else as a string. */
export const messageOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause));

export function quote(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "bigint") return `${value}n`;
  if (value === null || value === undefined || typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (ArrayBuffer.isView(value)) return `binary data of ${value.byteLength} bytes`;
  return typeof value === "object" ? "a map" : typeof value;
}

export class GradlineError extends Error {
  override readonly name = "GradlineError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const errors = {
  config: (field: string, why: string) => new GradlineError("E_CONFIG", `${field ? `options.${field}` : "options"} ${why}`, { field }),

  shape: (what: string, details: Record<string, unknown> = {}) => new GradlineError("E_SHAPE", what, details),

  /** `width` is the row length where known (the library always knows it; a client given flat values does not). */
  nonFinite: (array: "x" | "y", index: number, width: number | undefined, value: unknown) => {
    const what = typeof value === "number" ? String(value) : quote(value);
    if (width === undefined) {
      return new GradlineError("E_NONFINITE", `${array}[${index}] is ${what}; every value must be a finite number. The model was not changed.`, { array, index });
    }
    const sample = Math.floor(index / width);
    const column = index % width;
    const role = array === "x" ? "input" : "output";
    return new GradlineError(
      "E_NONFINITE",
      `${array}[${index}] (sample ${sample}, ${role} ${column}) is ${what}; every value must be a finite number. The model was not changed.`,
      { array, index, sample, column },
    );
  },

  diverged: (step: number, loss: number) =>
    new GradlineError(
      "E_DIVERGED",
      `step ${step} would make the parameters non-finite (loss ${loss}); it was rolled back and the model is as it was. Lower the learning rate, enable standardisation, or use the Huber loss.`,
      { step, loss },
    ),

  snapshot: (why: string, cause?: unknown) =>
    new GradlineError("E_SNAPSHOT", `snapshot rejected: ${why}`, {}, cause === undefined ? undefined : { cause }),

  disposed: () => new GradlineError("E_DISPOSED", "the model was disposed; create or restore a model to continue"),

  engineClosed: () => new GradlineError("E_DISPOSED", "the engine was closed; create a new engine to continue"),

  /** A kernel that did what its contract rules out (an abort, a status it never returns): a bug, not bad input. */
  kernel: (why: string) => new GradlineError("E_INTERNAL", `the gradline kernels failed: ${why}; please report it`),

  memoryGrow: (bytes: number, cause: unknown) =>
    new GradlineError("E_MEMORY", `cannot grow the WebAssembly memory to ${bytes} bytes (${messageOf(cause)}): its maximum, or the machine, allows no more`, { bytes }, { cause }),

  memory: (bytes: number, limitBytes: number, cause?: unknown) =>
    new GradlineError(
      "E_MEMORY",
      `cannot allocate ${bytes} bytes of WebAssembly memory (limit ${limitBytes} bytes); dispose unused models or use smaller batches`,
      { bytes, limitBytes },
      cause === undefined ? undefined : { cause },
    ),

  /** A queue limit was reached: per model (steps), or in the whole engine (steps or bytes of batch data). */
  busy: (limit: "model steps" | "engine steps" | "engine bytes", depth: number, max: number) =>
    new GradlineError(
      "E_BUSY",
      `${limit} queued: ${depth}, limit ${max}; the batch was not accepted. Wait for acknowledgements before sending more.`,
      { limit, depth, max },
    ),

  /** A setpoint request that cannot be solved as asked. */
  setpoint: (field: string, why: string, details: Record<string, unknown> = {}) =>
    new GradlineError("E_SETPOINT", `setpoint request: ${field} ${why}; nothing was solved`, { field, ...details }),

  worker: (cause: unknown) =>
    new GradlineError(
      "E_WORKER",
      `the worker running this step failed (${messageOf(cause)}); the step was not applied and the model is as it was before it. It is safe to resend.`,
      {},
      { cause },
    ),

  decode: (cause: unknown) =>
    new GradlineError(
      "E_DECODE",
      `the frame is not one well-formed MessagePack value (${messageOf(cause)}); nothing was done`,
      {},
      { cause },
    ),

  frame: () => new GradlineError("E_FRAME", "text frames are not accepted; send each message as one binary frame holding a MessagePack map"),

  message: (why: string) => new GradlineError("E_MESSAGE", `${why}; every frame must be a MessagePack map with a string field "type"`),

  unknownType: (type: string, known: readonly string[]) =>
    new GradlineError("E_TYPE", `unknown message type "${type}" (known: ${known.join(", ")})`, { type }),

  field: (field: string, why: string) => new GradlineError("E_FIELD", `field "${field}" ${why}; nothing was done`, { field }),

  version: (asked: unknown, supported: number) =>
    new GradlineError("E_VERSION", `protocol version ${String(asked)} is not supported; this server speaks version ${supported}`, { asked, supported }),

  notFound: (model: string) =>
    new GradlineError("E_NOT_FOUND", `no model named "${model}"; create it first (list shows the models there are)`, { model }),

  conflict: (model: string, field: string, existing: unknown, asked: unknown) =>
    new GradlineError(
      "E_CONFLICT",
      `model "${model}" already exists with ${field} = ${JSON.stringify(existing)}, not ${JSON.stringify(asked)}; open it, delete it first, or use another name`,
      { model, field },
    ),

  /** An import names a model that exists: an import never overwrites. */
  taken: (model: string) =>
    new GradlineError("E_CONFLICT", `model "${model}" already exists; an import creates a new model: delete it first, or import under another name`, { model }),

  /** A size or count limit; `advice` says what to do instead. */
  limit: (what: string, value: number, max: number, advice: string) =>
    new GradlineError("E_LIMIT", `${what} is ${value}, over the limit of ${max}; nothing was done. ${advice}`, { what, value, max }),

  forbidden: (what: string) => new GradlineError("E_FORBIDDEN", `this token may not ${what}; nothing was done. Ask for a token that grants it.`, { what }),

  /** The data folder cannot take a write: the request was not applied (a durable server never acks what it could not keep). */
  storage: (what: string, cause: unknown) =>
    new GradlineError(
      "E_STORAGE",
      `${what}: the data folder cannot be written (${messageOf(cause)}); nothing was applied. Resend once the server reports itself healthy again (GET /healthz).`,
      { what },
      { cause },
    ),

  shutdown: () => new GradlineError("E_SHUTDOWN", "the server is shutting down and accepts no new work; reconnect to it (or another) and resend"),

  /** The client lost a request: `sent` says whether the server may have seen it; `reason` why the last connection failed, if it did. */
  closed: (why: string, sent = true, reason?: ConnectFailure) =>
    new GradlineError(
      "E_CLOSED",
      sent
        ? `the connection closed before the reply arrived (${why}); the request may or may not have been applied`
        : `the request was not sent (${why}); nothing was applied`,
      reason === undefined ? { sent } : { sent, reason },
    ),

  /** The client's connection could not be opened: nothing went out on it. */
  notConnected: (url: string, reason: ConnectFailure, detail: string, withToken: boolean) =>
    new GradlineError("E_CLOSED", `${connectFailure(url, reason, detail, withToken)}; nothing was sent`, { sent: false, reason, url }),

  internal: (cause: unknown) =>
    new GradlineError("E_INTERNAL", `internal server error (${messageOf(cause)}); please report it`, {}, { cause }),

  wasm: (why: string, cause?: unknown) =>
    new GradlineError("E_WASM", `cannot load the gradline kernels: ${why}`, {}, cause === undefined ? undefined : { cause }),
};
