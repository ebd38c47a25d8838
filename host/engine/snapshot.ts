// Snapshot bytes: a self-describing MessagePack map with the resolved options,
// counters and every state array (θ, optimiser state, statistics) as
// little-endian bin. Deterministic: the same model state gives the same bytes.
import { Packr } from "msgpackr";
import { errors, quote, messageOf } from "../base/errors.js";
import { resolveModelOptions, type ResolvedModelOptions } from "./options.js";
import { anomalyStateLength } from "../kernel/layout.js";
import { DRIFT_STATE_LENGTH } from "./drift.js";

export const SNAPSHOT_FORMAT = "gradline.model";
export const SNAPSHOT_VERSION = 1;

export interface ModelState {
  options: ResolvedModelOptions;
  step: number;
  version: number;
  count: number;
  /** W (n×m) then b (n), training space. */
  theta: Float32Array;
  /** Momentum velocity or Adam first moment, θ layout. */
  s1: Float32Array;
  /** Adam second moment, θ layout. */
  s2: Float32Array;
  /** f64 mean_x[m], m2_x[m], mean_y[n], m2_y[n]. */
  stats: Float64Array;
  /** f64 anomaly state (docs/ABI.md): min, max, last, run per input; residual mean, m2 per output; seen; residual count; flag rate; 0. */
  anomaly: Float64Array;
  /** f64 drift detector state: seen, mean, variance, cumulative, lowest, boost steps left. */
  drift: Float64Array;
}

const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

const bytesOf = (a: Float32Array | Float64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A plain Uint8Array (not a Node Buffer, and not a view of msgpackr's shared buffer). */
export function encodeSnapshot(state: ModelState): Uint8Array {
  const packed = packr.pack({
    format: SNAPSHOT_FORMAT,
    formatVersion: SNAPSHOT_VERSION,
    options: state.options,
    step: state.step,
    version: state.version,
    count: state.count,
    theta: bytesOf(state.theta),
    s1: bytesOf(state.s1),
    s2: bytesOf(state.s2),
    stats: bytesOf(state.stats),
    anomaly: bytesOf(state.anomaly),
    drift: bytesOf(state.drift),
  });
  return new Uint8Array(packed);
}

export function decodeSnapshot(bytes: unknown): ModelState {
  if (!(bytes instanceof Uint8Array)) throw errors.snapshot("expected a Uint8Array");
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (cause) {
    throw errors.snapshot("not valid MessagePack", cause);
  }
  if (typeof raw !== "object" || raw === null) throw errors.snapshot("not a map");
  const s = raw as Record<string, unknown>;
  if (s.format !== SNAPSHOT_FORMAT) throw errors.snapshot(`format is ${JSON.stringify(s.format)}, expected "${SNAPSHOT_FORMAT}"`);
  if (s.formatVersion !== SNAPSHOT_VERSION) throw errors.snapshot(`format version ${quote(s.formatVersion)} is not supported (this build reads ${SNAPSHOT_VERSION})`);
  let options: ResolvedModelOptions;
  try {
    options = resolveModelOptions(s.options);
  } catch (cause) {
    throw errors.snapshot(`options are invalid: ${messageOf(cause)}`, cause);
  }
  const m = options.inputs;
  const n = options.outputs;
  const p = n * m + n;
  const state: ModelState = {
    options,
    step: counter(s.step, "step"),
    version: counter(s.version, "version"),
    count: counter(s.count, "count"),
    theta: floats(s.theta, "theta", p, Float32Array),
    s1: floats(s.s1, "s1", p, Float32Array),
    s2: floats(s.s2, "s2", p, Float32Array),
    stats: floats(s.stats, "stats", 2 * (m + n), Float64Array),
    anomaly: anomalyState(s.anomaly, m, n),
    // snapshots written before the detector's state was kept restart its warm-up
    drift: s.drift === undefined ? new Float64Array(DRIFT_STATE_LENGTH) : floats(s.drift, "drift", DRIFT_STATE_LENGTH, Float64Array),
  };
  checkConsistent(state, m, n);
  return state;
}

/** Values of the anomaly state before the flag rate (and its pad) were added (ABI version 1). */
const anomalyStateLengthV1 = (m: number, n: number) => anomalyStateLength(m, n) - 2;

/**
 * Snapshots written before anomaly tracking have no state: it starts afresh. Those
 * written before the flag rate have its 4m + 2n + 2 values: they go on with a rate of 0
 * (nothing flagged lately), their range forgetting from where it was.
 */
function anomalyState(v: unknown, m: number, n: number): Float64Array {
  const out = new Float64Array(anomalyStateLength(m, n));
  if (v === undefined) return out;
  const old = anomalyStateLengthV1(m, n);
  if (!(v instanceof Uint8Array) || (v.byteLength !== 8 * old && v.byteLength !== out.byteLength)) {
    throw errors.snapshot(`anomaly must be ${out.byteLength} bytes of little-endian floats (or ${8 * old}, as written before the flag rate)`);
  }
  out.set(floats(v, "anomaly", v.byteLength / 8, Float64Array));
  if (v.byteLength === 8 * old) return out;
  const rate = out[old]!;
  if (rate < 0 || rate > 1 || out[old + 1] !== 0) throw errors.snapshot(`anomaly holds a flag rate of ${rate} (must be from 0 to 1) or a pad that is not 0`);
  return out;
}

/** State the kernels could not go on from: a negative second moment or M2, statistics without samples. */
function checkConsistent(state: ModelState, m: number, n: number): void {
  if (state.s2.some((v) => v < 0)) throw errors.snapshot("s2 (Adam's second moment) holds a negative value");
  const m2 = [...state.stats.subarray(m, 2 * m), ...state.stats.subarray(2 * m + n)];
  if (m2.some((v) => v < 0)) throw errors.snapshot("stats holds a negative M2 (sum of squared deviations)");
  if (state.count === 0 && state.stats.some((v) => v !== 0)) throw errors.snapshot("stats are not zero although count is 0");
  const [seen, , variance, , , boostLeft] = state.drift;
  if (!Number.isInteger(seen) || seen! < 0 || variance! < 0 || !Number.isInteger(boostLeft) || boostLeft! < 0) {
    throw errors.snapshot("drift holds an impossible detector state (negative or fractional count, negative variance)");
  }
}

/** Counters stay far below 2^53 so that a restored model can keep counting exactly. */
const MAX_COUNTER = 2 ** 50;

function counter(v: unknown, field: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) > MAX_COUNTER) {
    throw errors.snapshot(`${field} must be an integer from 0 to 2^50`);
  }
  return v as number;
}

function floats<T extends Float32Array | Float64Array>(
  v: unknown, field: string, length: number, Kind: { new (n: number): T; BYTES_PER_ELEMENT: number },
): T {
  if (!(v instanceof Uint8Array) || v.byteLength !== length * Kind.BYTES_PER_ELEMENT) {
    throw errors.snapshot(`${field} must be ${length * Kind.BYTES_PER_ELEMENT} bytes of little-endian floats`);
  }
  const out = new Kind(length);
  new Uint8Array(out.buffer).set(v);
  for (let i = 0; i < length; i++) {
    if (!Number.isFinite(out[i]!)) throw errors.snapshot(`${field}[${i}] is not finite`);
  }
  return out;
}
