// Setpoint recommendation on a live model: validates the request, folds bounds,
// move limits and held inputs into one box per input, runs the kernel
// (assembly/setpoint.ts) and reports the answer in raw units with the active
// constraints and whether the target can be reached at all.
import { errors, quote } from "../base/errors.js";
import type { KernelExports } from "../kernel/loader.js";
import type { SharedArena } from "./memory.js";
import { SETPOINT_OPTIMALITY, SetpointResultField, SetpointSlot as SP } from "../kernel/layout.js";

export interface SetpointRequest {
  /** y*: the target of every output, raw units. */
  target: ArrayLike<number>;
  /** w_j ≥ 0 per output (0 ignores an output). Default 1 each. */
  weights?: ArrayLike<number>;
  /** Bounds of every input, raw units. Default unbounded. */
  lower?: ArrayLike<number>;
  upper?: ArrayLike<number>;
  /** Inputs that are measured but not controllable, held at the given value; null (or absent) for free inputs. */
  fixed?: ArrayLike<number | null | undefined>;
  /** x0, the current setpoint: where the search starts, what move limits and λ are measured from, and, among equally good answers, the one the answer is nearest to (0 without it). */
  current?: ArrayLike<number>;
  /** Largest |x_k − x0_k| per input (needs `current`); Infinity for none. */
  maxMove?: ArrayLike<number>;
  /** λ ≥ 0: weight of ‖x − x0‖² (needs `current` when > 0). Default 0. */
  lambda?: number;
  /** Default 20 000. */
  maxIterations?: number;
  /** FISTA: look for convergence once no input moves more than this, relative to 1 + |x|, in an iteration. Default 1e-12. Newton ignores it. */
  tolerance?: number;
  /** Counts the target as reached when every weighted output is within this of it (raw units). Default 1e-6·max(1, |y*_j|). */
  reachTolerance?: number;
  /** "newton" (active-set least squares, exact), "fista", or "auto" (default): Newton up to NEWTON_MAX_INPUTS inputs. */
  method?: "auto" | "newton" | "fista";
}

/** Which constraint holds an input where it is. */
export type ActiveConstraint = "lower" | "upper" | "move-down" | "move-up" | "fixed" | null;

export interface SetpointResult {
  /** The recommended inputs, raw units. */
  x: Float64Array;
  /** ŷ(x), raw units. */
  predicted: Float64Array;
  /** Σ w_j (ŷ_j − y*_j)² + λ‖x − x0‖² at x. */
  objective: number;
  /** FISTA: gradient steps; Newton: least-squares solves. */
  iterations: number;
  /**
   * The KKT residual at x: the largest projected-gradient component (the gradient, less what
   * a bound at x holds back), relative to the size of the terms it sums. 0 at an exact
   * minimiser; rounding leaves about 1e-16.
   */
  optimality: number;
  /** The optimality conditions hold at x: optimality ≤ SETPOINT_OPTIMALITY (1e-10). */
  converged: boolean;
  active: ActiveConstraint[];
  /** Some x within the constraints brings every weighted output within reachTolerance of its target. */
  reachable: boolean;
  /** Parameter version of the model the answer comes from. */
  version: number;
}

export const setpointDefaults = Object.freeze({ maxIterations: 20_000, tolerance: 1e-12, lambda: 0 });

/**
 * Up to this many inputs the kernel solves by the active-set method (its m×m matrices,
 * 32·m² bytes, stay small; each least-squares solve costs O(m³)); above, by FISTA.
 */
export const NEWTON_MAX_INPUTS = 512;

/** Whether "auto" solves by Newton: few inputs, and building H (m²·n) stays cheap. */
export function newtonFor(m: number, n: number): boolean {
  return m <= NEWTON_MAX_INPUTS && m * m * n <= 2 ** 30;
}

/** Workspace Newton may take (its four m×m matrices): 256 MiB, about 2896 inputs. */
const NEWTON_MAX_BYTES = 256 * 2 ** 20;
const newtonBytes = (m: number) => 32 * m * m;

/** Rough operations of one solver iteration (a Newton least-squares solve: pivoted QR of up to m×m): for budgeting a server's main thread. */
export function setpointIterationCost(m: number, n: number, method: SetpointRequest["method"]): number {
  const newton = method === "newton" || ((method ?? "auto") === "auto" && newtonFor(m, n));
  return newton ? 2 * m * m * m + 4 * m * m : 3 * n * m;
}

// Workspace vectors (assembly/util/layout.ts SP_*).

interface Box {
  lo: Float64Array;
  hi: Float64Array;
  /** What each bound comes from. */
  loIs: ActiveConstraint[];
  hiIs: ActiveConstraint[];
}

function vector(value: ArrayLike<number> | undefined, field: string, length: number, fill: number, check: (v: number) => boolean, rule: string): Float64Array {
  if (value === undefined) return new Float64Array(length).fill(fill);
  if (typeof value !== "object" || value === null || typeof value.length !== "number") throw errors.setpoint(field, "must be an array of numbers");
  if (value.length !== length) throw errors.setpoint(field, `has ${value.length} entries; the model needs ${length}`);
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    const v = value[i];
    if (typeof v !== "number" || !check(v)) throw errors.setpoint(`${field}[${i}]`, `must be ${rule} (got ${quote(v)})`);
    out[i] = v;
  }
  return out;
}

const finite = (v: number) => Number.isFinite(v);

const bits = new Float64Array(1);
const word = new BigInt64Array(bits.buffer);
/** The double next to v towards `to` (v finite). */
function nextTowards(v: number, to: number): number {
  if (v === to) return v;
  if (v === 0) return to > 0 ? Number.MIN_VALUE : -Number.MIN_VALUE;
  bits[0] = v;
  word[0]! += (v < to) === (v > 0) ? 1n : -1n;
  return bits[0]!;
}

/** x0 ± maxMove, rounded towards x0 so that no point of the box moves further than maxMove. */
function moveLimit(x0: number, maxMove: number, sign: 1 | -1): number {
  let end = x0 + sign * maxMove;
  while (Math.abs(end - x0) > maxMove) end = nextTowards(end, x0);
  return end;
}
const notNaN = (v: number) => !Number.isNaN(v);

/** Bounds, move limits and held inputs as one box per input; an empty box is an error naming the input. */
function foldBox(request: SetpointRequest, m: number, x0: Float64Array | undefined): Box {
  const lower = vector(request.lower, "lower", m, -Infinity, (v) => v < Infinity && notNaN(v), "a number below +Infinity");
  const upper = vector(request.upper, "upper", m, Infinity, (v) => v > -Infinity && notNaN(v), "a number above −Infinity");
  const maxMove = vector(request.maxMove, "maxMove", m, Infinity, (v) => v >= 0, "≥ 0 (Infinity for no limit)");
  if (request.maxMove !== undefined && !x0) throw errors.setpoint("maxMove", "needs `current`, the setpoint the moves start from");
  const fixed = request.fixed;
  if (fixed !== undefined && (typeof fixed !== "object" || fixed === null || fixed.length !== m)) {
    throw errors.setpoint("fixed", `must be an array of ${m} entries: a value for each held input, null for the free ones`);
  }
  const box: Box = { lo: new Float64Array(m), hi: new Float64Array(m), loIs: [], hiIs: [] };
  for (let k = 0; k < m; k++) {
    const held = fixed?.[k];
    if (held !== null && held !== undefined) {
      if (typeof held !== "number" || !Number.isFinite(held)) throw errors.setpoint(`fixed[${k}]`, `must be a finite number or null (got ${quote(held)})`);
      // a measured input is what it is, whatever the bounds of controllable ones
      box.lo[k] = box.hi[k] = held;
      box.loIs[k] = box.hiIs[k] = "fixed";
      continue;
    }
    let lo = lower[k]!;
    let hi = upper[k]!;
    box.loIs[k] = "lower";
    box.hiIs[k] = "upper";
    if (x0 && maxMove[k]! < Infinity) {
      const down = moveLimit(x0[k]!, maxMove[k]!, -1);
      const up = moveLimit(x0[k]!, maxMove[k]!, 1);
      if (down > lo) [lo, box.loIs[k]] = [down, "move-down"];
      if (up < hi) [hi, box.hiIs[k]] = [up, "move-up"];
    }
    if (!(lo <= hi)) {
      throw errors.setpoint(`input ${k}`, `has no feasible value: bounds and move limits leave [${lo}, ${hi}]`, { input: k, lo, hi });
    }
    box.lo[k] = lo;
    box.hi[k] = hi;
  }
  return box;
}

/** Solves a setpoint request against the model at `ptr` (inputs m, outputs n). */
export function solveSetpoint(
  kernels: KernelExports, arena: SharedArena, ptr: number, m: number, n: number, version: number, request: SetpointRequest,
): SetpointResult {
  if (typeof request !== "object" || request === null) throw errors.setpoint("request", "must be an object with at least { target }");
  const target = vector(request.target, "target", n, 0, finite, "a finite number");
  const weights = vector(request.weights, "weights", n, 1, (v) => v >= 0 && Number.isFinite(v), "a finite number ≥ 0");
  const x0 = request.current === undefined ? undefined : vector(request.current, "current", m, 0, finite, "a finite number");
  const lambda = request.lambda ?? setpointDefaults.lambda;
  if (typeof lambda !== "number" || !(lambda >= 0) || !Number.isFinite(lambda)) throw errors.setpoint("lambda", `must be a finite number ≥ 0 (got ${quote(lambda)})`);
  if (lambda > 0 && !x0) throw errors.setpoint("lambda", "> 0 needs `current`, the setpoint x is pulled towards");
  const maxIterations = request.maxIterations ?? setpointDefaults.maxIterations;
  if (!Number.isInteger(maxIterations) || maxIterations < 1 || maxIterations > 2 ** 31 - 1) throw errors.setpoint("maxIterations", "must be a positive integer");
  const tolerance = request.tolerance ?? setpointDefaults.tolerance;
  if (typeof tolerance !== "number" || !(tolerance > 0)) throw errors.setpoint("tolerance", "must be a number > 0");
  const reach = request.reachTolerance;
  if (reach !== undefined && (typeof reach !== "number" || !(reach > 0))) throw errors.setpoint("reachTolerance", "must be a number > 0");
  const box = foldBox(request, m, x0);

  const method = request.method ?? "auto";
  if (method !== "auto" && method !== "newton" && method !== "fista") throw errors.setpoint("method", `must be "auto", "newton" or "fista" (got ${quote(method)})`);
  const newton = method === "newton" || (method === "auto" && newtonFor(m, n));
  // Newton's four m×m f64 matrices: past this the module's 32-bit sizes (and the memory) give out
  if (newton && newtonBytes(m) > NEWTON_MAX_BYTES) {
    throw errors.setpoint("method", `"newton" on ${m} inputs needs ${newtonBytes(m)} bytes of workspace (at most ${NEWTON_MAX_BYTES}); use "fista" or "auto"`);
  }
  const start = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    const lo = box.lo[k]!;
    const hi = box.hi[k]!;
    const from = x0 ? x0[k]! : Number.isFinite(lo) && Number.isFinite(hi) ? (lo + hi) / 2 : 0;
    start[k] = Math.min(Math.max(from, lo), hi);
  }
  const kernel: Kernel = { kernels, arena, ptr, m, n, target, weights, box, x0: x0 ?? new Float64Array(m), start, maxIterations, tolerance };
  const answer = run(kernel, newton, lambda);
  const within = (predicted: Float64Array) =>
    predicted.every((p, j) => weights[j] === 0 || Math.abs(p - target[j]!) <= (reach ?? 1e-6 * Math.max(1, Math.abs(target[j]!))));
  let reachable = within(answer.predicted);
  if (!reachable && lambda > 0) {
    // λ pulls x back towards x0: whether the target itself is within reach is the λ = 0
    // problem's answer, solved afresh (by the exact method where the size allows it)
    reachable = within(run(kernel, newtonFor(m, n) && newtonBytes(m) <= NEWTON_MAX_BYTES, 0).predicted);
  }
  const active = Array.from(answer.x, (v, k): ActiveConstraint =>
    box.loIs[k] === "fixed" ? "fixed" : v <= box.lo[k]! ? box.loIs[k]! : v >= box.hi[k]! ? box.hiIs[k]! : null,
  );
  return { ...answer, active, reachable, version };
}

/** One validated problem, ready for the kernel. */
interface Kernel {
  kernels: KernelExports;
  arena: SharedArena;
  ptr: number;
  m: number;
  n: number;
  target: Float64Array;
  weights: Float64Array;
  box: Box;
  x0: Float64Array;
  start: Float64Array;
  maxIterations: number;
  tolerance: number;
}

/** One kernel solve in a workspace of its own: x, ŷ and the result slots. */
function run(p: Kernel, newton: boolean, lambda: number): Pick<SetpointResult, "x" | "predicted" | "objective" | "iterations" | "optimality" | "converged"> {
  const { kernels, arena, m, n } = p;
  const ws = arena.alloc(newton ? kernels.setpoint_newton_bytes(m, n) : kernels.setpoint_bytes(m, n), false);
  try {
    const at = (which: number) => (ws + kernels.setpoint_offset(m, n, which)) >>> 3;
    arena.f64.set(p.target, at(SP.target));
    arena.f64.set(p.weights, at(SP.weight));
    arena.f64.set(p.box.lo, at(SP.lo));
    arena.f64.set(p.box.hi, at(SP.hi));
    arena.f64.set(p.x0, at(SP.x0));
    arena.f64.set(p.start, at(SP.x));
    const iterations = (newton ? kernels.f64_setpoint__newton : kernels.f64_setpoint)(p.ptr, ws, lambda, p.maxIterations, p.tolerance);
    const f64 = arena.f64;
    const predicted = f64.slice(at(SP.ax), at(SP.ax) + n);
    for (let j = 0; j < n; j++) predicted[j]! += f64[at(SP.b) + j]!;
    const result = at(SP.result);
    const optimality = f64[result + SetpointResultField.optimality]!;
    return { x: f64.slice(at(SP.x), at(SP.x) + m), predicted, objective: f64[result + SetpointResultField.objective]!, iterations, optimality, converged: optimality <= SETPOINT_OPTIMALITY };
  } finally {
    arena.release(ws);
  }
}
