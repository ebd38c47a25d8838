// Model options: the public form, the resolved form and the frozen defaults.
import { driftDefaults, type DriftOptions, type ResolvedDriftOptions } from "./drift.js";
import { errors, quote } from "../base/errors.js";
import { integerOption } from "../base/validate.js";

export type LossName = "mse" | "huber";

export type OptimizerOptions =
  | { type: "sgd"; lr?: number }
  | { type: "momentum"; lr?: number; momentum?: number; nesterov?: boolean }
  | { type: "adam"; lr?: number; beta1?: number; beta2?: number; eps?: number };

export interface ModelOptions {
  /** m: operating parameters per sample. */
  inputs: number;
  /** n: production results per sample. */
  outputs: number;
  /** "mse" (default; PyTorch's F.mse_loss) or "huber". */
  loss?: LossName;
  /** Huber threshold, in the training space (standardised units when standardising). Default 1. */
  huberDelta?: number;
  /** Optimiser name or options. Default SGD with lr 0.01. */
  optimizer?: OptimizerOptions["type"] | OptimizerOptions;
  /** L2 weight decay on W (not b): adds l2·W to the gradient. Default 0. */
  l2?: number;
  /** Online standardisation of inputs and outputs. Default true. */
  standardize?: boolean;
  /** Seed of the deterministic initialisation. Default 1. */
  seed?: number;
  /** Anomaly flags on every training step; false turns them off. Default on, with anomalyDefaults (no exclusion). */
  anomaly?: false | AnomalyOptions;
  /** Drift detection on the loss stream (Page-Hinkley); false turns it off. Default on, with driftDefaults. */
  drift?: false | DriftOptions;
  /** Initial W (n×m row-major) and b (n), in the training space; replaces the seeded initialisation. */
  init?: { W: ArrayLike<number>; b: ArrayLike<number> };
}

/** The optimiser with every field of its type filled in, and no other field. */
export type ResolvedOptimizer =
  | { type: "sgd"; lr: number }
  | { type: "momentum"; lr: number; momentum: number; nesterov: boolean }
  | { type: "adam"; lr: number; beta1: number; beta2: number; eps: number };

export interface ResolvedModelOptions {
  inputs: number;
  outputs: number;
  loss: LossName;
  huberDelta: number;
  optimizer: ResolvedOptimizer;
  l2: number;
  standardize: boolean;
  seed: number;
  drift: ResolvedDriftOptions | null;
  anomaly: ResolvedAnomalyOptions | null;
}

export interface AnomalyOptions {
  /** A residual more than this many running spreads from its running mean is an outlier. Default 5. */
  residual?: number;
  /** A reading beyond its input's running range by more than this fraction of the range is out of range. Default 0.5. */
  margin?: number;
  /**
   * This many identical readings in a row, from an input that has varied and across at least
   * two batches, make a stuck sensor; 0 turns the check off (for inputs that are setpoints
   * rather than measurements, held constant on purpose). Default 32.
   */
  stuck?: number;
  /** Samples seen before anything is flagged. Default 256. */
  warmup?: number;
  /** Leave flagged samples out of the update, except while more than a quarter of the recent samples were flagged (a regime change: docs/API.md). Default false. */
  exclude?: boolean;
}

export type ResolvedAnomalyOptions = Required<AnomalyOptions>;

export const anomalyDefaults: ResolvedAnomalyOptions = Object.freeze({ residual: 5, margin: 0.5, stuck: 32, warmup: 256, exclude: false });

export const MAX_FEATURES = 1 << 16;
export const MAX_PARAMETERS = 1 << 26;

export const modelDefaults = Object.freeze({
  loss: "mse" as LossName,
  huberDelta: 1,
  l2: 0,
  standardize: true,
  seed: 1,
  optimizer: Object.freeze({
    sgd: Object.freeze({ lr: 0.01 }),
    momentum: Object.freeze({ lr: 0.01, momentum: 0.9, nesterov: false }),
    adam: Object.freeze({ lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8 }),
  }),
});

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function count(value: unknown, field: string, max: number): number {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > max) {
    throw errors.config(field, `must be an integer from 1 to ${max} (got ${quote(value)})`);
  }
  return value as number;
}

function real(value: unknown, field: string, fallback: number, test: (v: number) => boolean, range: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || !test(value)) {
    throw errors.config(field, `must be a finite number ${range} (got ${quote(value)})`);
  }
  return value;
}

function flag(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw errors.config(field, `must be true or false (got ${quote(value)})`);
  return value;
}

// The kernels hold hyperparameters as f32: check the value they will actually see.
const F32_MIN_NORMAL = 2 ** -126;
const f32Normal = (v: number) => Math.fround(v) >= F32_MIN_NORMAL && Number.isFinite(Math.fround(v));
const positive = (v: number) => v > 0 && f32Normal(v);
const nonNegative = (v: number) => v === 0 || (v > 0 && f32Normal(v));
const fraction = (v: number) => v >= 0 && Math.fround(v) < 1;

function resolveOptimizer(value: unknown): ResolvedOptimizer {
  const spec: Record<string, unknown> = typeof value === "string" ? { type: value } : value === undefined ? { type: "sgd" } : isRecord(value) ? value : {};
  const type = spec.type;
  if (type !== "sgd" && type !== "momentum" && type !== "adam") {
    throw errors.config(typeof value === "string" ? "optimizer" : "optimizer.type", `must be "sgd", "momentum" or "adam" (got ${quote(type ?? value)})`);
  }
  const known = { sgd: ["type", "lr"], momentum: ["type", "lr", "momentum", "nesterov"], adam: ["type", "lr", "beta1", "beta2", "eps"] }[type];
  for (const key of Object.keys(spec)) {
    if (!known.includes(key)) throw errors.config(`optimizer.${key}`, `is not an option of the ${type} optimiser (known: ${known.join(", ")})`);
  }
  const d = modelDefaults.optimizer;
  const lr = real(spec.lr, "optimizer.lr", d[type].lr, positive, "> 0 that a 32-bit float holds (1.2e-38 to 3.4e38)");
  switch (type) {
    case "sgd":
      return { type, lr };
    case "momentum":
      return {
        type,
        lr,
        momentum: real(spec.momentum, "optimizer.momentum", d.momentum.momentum, fraction, "in [0, 1) that stays below 1 as a 32-bit float"),
        nesterov: flag(spec.nesterov, "optimizer.nesterov", d.momentum.nesterov),
      };
    case "adam":
      return {
        type,
        lr,
        beta1: real(spec.beta1, "optimizer.beta1", d.adam.beta1, fraction, "in [0, 1) that stays below 1 as a 32-bit float"),
        beta2: real(spec.beta2, "optimizer.beta2", d.adam.beta2, fraction, "in [0, 1) that stays below 1 as a 32-bit float"),
        eps: real(spec.eps, "optimizer.eps", d.adam.eps, positive, "> 0 that a 32-bit float holds (1.2e-38 to 3.4e38)"),
      };
  }
}

const knownModelKeys = ["inputs", "outputs", "loss", "huberDelta", "optimizer", "l2", "standardize", "seed", "drift", "anomaly", "init"];

/**
 * A feature's options (drift, anomaly): false or nil turn it off, absent or true
 * give the defaults, else a map of known keys (returned for the caller to check).
 */
function featureOptions<T extends object>(value: unknown, field: string, defaults: T): Record<string, unknown> | T | null {
  if (value === false || value === null) return null;
  if (value === undefined || value === true) return defaults;
  const known = Object.keys(defaults);
  if (!isRecord(value)) throw errors.config(field, `must be false or { ${known.join(", ")} }`);
  for (const key of Object.keys(value)) if (!known.includes(key)) throw errors.config(`${field}.${key}`, `is not a ${field} option (known: ${known.join(", ")})`);
  return value;
}

function resolveAnomaly(options: unknown): ResolvedAnomalyOptions | null {
  const value = featureOptions(options, "anomaly", anomalyDefaults);
  if (value === null || value === anomalyDefaults) return value as ResolvedAnomalyOptions | null;
  const map = value as Record<string, unknown>;
  // the kernels read these as f32
  const whole = (field: string, fallback: number, min: number): number => {
    const v = map[field] ?? fallback;
    if (!Number.isInteger(v) || (v as number) < min || (v as number) > 2 ** 24) throw errors.config(`anomaly.${field}`, `must be an integer from ${min} to 16777216 (got ${quote(v)})`);
    return v as number;
  };
  return {
    residual: real(map.residual, "anomaly.residual", anomalyDefaults.residual, positive, "> 0"),
    margin: real(map.margin, "anomaly.margin", anomalyDefaults.margin, nonNegative, "≥ 0"),
    stuck: whole("stuck", anomalyDefaults.stuck, 0),
    warmup: whole("warmup", anomalyDefaults.warmup, 1),
    exclude: flag(map.exclude, "anomaly.exclude", anomalyDefaults.exclude),
  };
}

function resolveDrift(options: unknown): ResolvedDriftOptions | null {
  const found = featureOptions(options, "drift", driftDefaults);
  if (found === null || found === driftDefaults) return found as ResolvedDriftOptions | null;
  const value = found as Record<string, unknown>;
  const warmup = value.warmup ?? driftDefaults.warmup;
  if (!Number.isInteger(warmup) || (warmup as number) < 2 || (warmup as number) > 1_000_000) {
    throw errors.config("drift.warmup", `must be an integer from 2 to 1000000 (got ${quote(warmup)})`);
  }
  return {
    delta: real(value.delta, "drift.delta", driftDefaults.delta, (v) => v >= 0, "≥ 0"),
    threshold: real(value.threshold, "drift.threshold", driftDefaults.threshold, (v) => v > 0, "> 0"),
    warmup: warmup as number,
    alpha: real(value.alpha, "drift.alpha", driftDefaults.alpha, (v) => v > 0 && v < 1, "in (0, 1)"),
    onDrift: reaction(value.onDrift),
    boost: real(value.boost, "drift.boost", driftDefaults.boost, (v) => v > 0, "> 0"),
    boostSteps: integerOption(value.boostSteps, "drift.boostSteps", 1, driftDefaults.boostSteps, 1_000_000_000),
  };
}

/** A boost must leave a learning rate the kernels can hold as f32. */
function boostable(drift: ResolvedDriftOptions | null, lr: number): ResolvedDriftOptions | null {
  if (drift?.onDrift === "boost" && !f32Normal(lr * drift.boost)) {
    throw errors.config("drift.boost", `× optimizer.lr (${lr}) must stay a finite, normal 32-bit float (got ${lr * drift.boost})`);
  }
  return drift;
}

function reaction(value: unknown): ResolvedDriftOptions["onDrift"] {
  if (value === undefined) return driftDefaults.onDrift;
  if (value !== "report" && value !== "reset" && value !== "boost") throw errors.config("drift.onDrift", `must be "report", "reset" or "boost" (got ${quote(value)})`);
  return value;
}


/** Validates every field (naming the one that is wrong) and fills in defaults. */
export function resolveModelOptions(options: unknown): ResolvedModelOptions {
  if (!isRecord(options)) throw errors.config("", "must be an object with at least { inputs, outputs }");
  for (const key of Object.keys(options)) {
    if (!knownModelKeys.includes(key)) throw errors.config(key, `is not a model option (known: ${knownModelKeys.join(", ")})`);
  }
  const inputs = count(options.inputs, "inputs", MAX_FEATURES);
  const outputs = count(options.outputs, "outputs", MAX_FEATURES);
  if (inputs * outputs + outputs > MAX_PARAMETERS) {
    throw errors.config("inputs", `× outputs gives ${inputs * outputs + outputs} parameters, above the limit of ${MAX_PARAMETERS}`);
  }
  const loss = options.loss ?? modelDefaults.loss;
  if (loss !== "mse" && loss !== "huber") throw errors.config("loss", `must be "mse" or "huber" (got ${quote(loss)})`);
  const seed = options.seed ?? modelDefaults.seed;
  if (!Number.isInteger(seed) || (seed as number) < 0 || (seed as number) > 0xffffffff) {
    throw errors.config("seed", `must be an integer from 0 to 4294967295 (got ${quote(seed)})`);
  }
  const optimizer = resolveOptimizer(options.optimizer);
  return {
    inputs,
    outputs,
    loss,
    huberDelta: real(options.huberDelta, "huberDelta", modelDefaults.huberDelta, positive, "> 0 that a 32-bit float holds (1.2e-38 to 3.4e38)"),
    optimizer,
    l2: real(options.l2, "l2", modelDefaults.l2, nonNegative, "0, or from 1.2e-38 to 3.4e38 (32-bit float)"),
    standardize: flag(options.standardize, "standardize", modelDefaults.standardize),
    seed: seed as number,
    drift: boostable(resolveDrift(options.drift), optimizer.lr),
    anomaly: resolveAnomaly(options.anomaly),
  };
}

/** Checks `init` against the shape; returns it as Float32Arrays. */
export function resolveInit(init: unknown, inputs: number, outputs: number): { W: Float32Array; b: Float32Array } | undefined {
  if (init === undefined) return undefined;
  if (!isRecord(init)) throw errors.config("init", "must be { W, b }");
  const W = numbers(init.W, "init.W", inputs * outputs, `${outputs}×${inputs} (outputs × inputs, row-major)`);
  const b = numbers(init.b, "init.b", outputs, `${outputs} (one per output)`);
  return { W, b };
}

function numbers(value: unknown, field: string, length: number, shape: string): Float32Array {
  const arr = value as ArrayLike<number> | undefined;
  if (arr === null || typeof arr !== "object" || typeof arr.length !== "number") throw errors.config(field, `must be an array of ${shape} numbers`);
  if (arr.length !== length) throw errors.config(field, `must hold ${shape} = ${length} numbers (got ${arr.length})`);
  const out = Float32Array.from(arr);
  const bad = out.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw errors.config(`${field}[${bad}]`, `must be finite (got ${quote(arr[bad])})`);
  return out;
}
