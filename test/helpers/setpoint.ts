// A setpoint request as an independent reference sees it: the model's raw W, b in f64
// and the box folded here (bounds, move limits, held inputs), not by the host.
import type { ActiveConstraint, Model, SetpointRequest } from "../../host/index.js";

/** A setpoint problem as the reference sees it: raw W, b in f64 and the box folded here, independently of the host. */
export interface Problem {
  m: number;
  n: number;
  W: Float64Array;
  b: Float64Array;
  t: Float64Array;
  w: Float64Array;
  lambda: number;
  x0: Float64Array;
  lo: Float64Array;
  hi: Float64Array;
  /** The label each end of the box carries. */
  loIs: ActiveConstraint[];
  hiIs: ActiveConstraint[];
  held: boolean[];
}

export function problemOf(model: Pick<Model, "inputs" | "outputs" | "params">, request: SetpointRequest): Problem {
  const params = model.params();
  const m = model.inputs;
  const n = model.outputs;
  const p: Problem = {
    m,
    n,
    W: Float64Array.from(params.W),
    b: Float64Array.from(params.b),
    t: Float64Array.from(request.target),
    w: request.weights ? Float64Array.from(request.weights) : new Float64Array(n).fill(1),
    lambda: request.lambda ?? 0,
    x0: request.current ? Float64Array.from(request.current) : new Float64Array(m),
    lo: new Float64Array(m),
    hi: new Float64Array(m),
    loIs: [],
    hiIs: [],
    held: [],
  };
  for (let k = 0; k < m; k++) {
    const fixed = request.fixed?.[k];
    if (fixed !== null && fixed !== undefined) {
      p.lo[k] = p.hi[k] = fixed;
      p.loIs[k] = p.hiIs[k] = "fixed";
      p.held[k] = true;
      continue;
    }
    p.held[k] = false;
    p.lo[k] = request.lower?.[k] ?? -Infinity;
    p.hi[k] = request.upper?.[k] ?? Infinity;
    p.loIs[k] = "lower";
    p.hiIs[k] = "upper";
    const move = request.maxMove?.[k] ?? Infinity;
    if (move < Infinity) {
      if (p.x0[k]! - move > p.lo[k]!) [p.lo[k], p.loIs[k]] = [p.x0[k]! - move, "move-down"];
      if (p.x0[k]! + move < p.hi[k]!) [p.hi[k], p.hiIs[k]] = [p.x0[k]! + move, "move-up"];
    }
  }
  return p;
}

/** ŷ = W x + b. */
export function predictionOf(p: Problem, x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(p.n);
  for (let j = 0; j < p.n; j++) {
    let sum = p.b[j]!;
    for (let k = 0; k < p.m; k++) sum += p.W[j * p.m + k]! * x[k]!;
    y[j] = sum;
  }
  return y;
}

export function objectiveOf(p: Problem, x: ArrayLike<number>): number {
  const y = predictionOf(p, x);
  let f = 0;
  for (let j = 0; j < p.n; j++) f += p.w[j]! * (y[j]! - p.t[j]!) ** 2;
  for (let k = 0; k < p.m; k++) f += p.lambda * (x[k]! - p.x0[k]!) ** 2;
  return f;
}
