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
  | "E_WORKER";

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

  nonFinite: (array: "x" | "y", index: number, width: number, value: number) => {
    const sample = Math.floor(index / width);
    const column = index % width;
    const role = array === "x" ? "input" : "output";
    return new GradlineError(
      "E_NONFINITE",
      `${array}[${index}] (sample ${sample}, ${role} ${column}) is ${value}; every value must be a finite number. The model was not changed.`,
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

  worker: (cause: unknown) =>
    new GradlineError(
      "E_WORKER",
      `the worker running this step failed (${cause instanceof Error ? cause.message : String(cause)}); the step was not applied and the model is as it was before it. It is safe to resend.`,
      {},
      { cause },
    ),

  wasm: (why: string, cause?: unknown) =>
    new GradlineError("E_WASM", `cannot load the gradline kernels: ${why}`, {}, cause === undefined ? undefined : { cause }),
};
