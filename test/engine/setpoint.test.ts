// Setpoint search (model.setpoint: assembly/setpoint.ts driven by host/engine/setpoint.ts)
// against an independent truth computed here in plain f64 JavaScript. The reference
// reads the model's own raw-unit W, b (params(), float32, promoted to f64 exactly as
// the kernel does) and minimises
//   f(x) = Σ_j w_j (W x + b − t)_j² + λ‖x − x0‖²   over the box lo ≤ x ≤ hi
// either in closed form, (WᵀDW + λI) x = WᵀD(t − b) + λx0 by Gaussian elimination with
// partial pivoting, or, with bounds, by enumerating every active set (each input free,
// at its lower or at its upper end; free inputs from the reduced normal equations) and
// keeping the feasible candidate of least objective. Checked: the answer, the objective,
// the active-constraint labels, held inputs and move limits kept exactly, reachability,
// standardised vs raw models, zero output weights, the pool engine, and that every bad
// request throws E_SETPOINT and leaves the model byte-for-byte unchanged. Data are seeded.
// Two cases pin down solver bugs found while writing this, now fixed (see their comments):
// move limits overshot by an ulp, and "converged" reported after a failed line search.
import { afterAll, describe, expect, it } from "vitest";
import { createEngine, GradlineError, type ActiveConstraint, type Model, type SetpointRequest, type SetpointResult } from "../../host/index.js";
import { rng, normals, linearTargets, sameBytes, type Rng } from "../helpers/random.js";
import { problemOf, predictionOf, objectiveOf, type Problem } from "../helpers/setpoint.js";

// ---------------------------------------------------------------------------
// The reference, plain f64
// ---------------------------------------------------------------------------

/** Solves A z = c (A d×d, row-major) by Gaussian elimination with partial pivoting; null when A is (numerically) singular. */
function solveLinear(A: ArrayLike<number>, c: ArrayLike<number>, d: number): Float64Array | null {
  const a = Float64Array.from(A);
  const z = Float64Array.from(c);
  let scale = 0;
  for (let i = 0; i < d * d; i++) scale = Math.max(scale, Math.abs(a[i]!));
  for (let col = 0; col < d; col++) {
    let pivot = col;
    for (let i = col + 1; i < d; i++) if (Math.abs(a[i * d + col]!) > Math.abs(a[pivot * d + col]!)) pivot = i;
    if (!(Math.abs(a[pivot * d + col]!) > 1e-14 * scale)) return null;
    if (pivot !== col) {
      for (let k = 0; k < d; k++) [a[col * d + k], a[pivot * d + k]] = [a[pivot * d + k]!, a[col * d + k]!];
      [z[col], z[pivot]] = [z[pivot]!, z[col]!];
    }
    const p = a[col * d + col]!;
    for (let i = col + 1; i < d; i++) {
      const f = a[i * d + col]! / p;
      if (f === 0) continue;
      for (let k = col; k < d; k++) a[i * d + k]! -= f * a[col * d + k]!;
      z[i]! -= f * z[col]!;
    }
  }
  for (let i = d - 1; i >= 0; i--) {
    let sum = z[i]!;
    for (let k = i + 1; k < d; k++) sum -= a[i * d + k]! * z[k]!;
    z[i] = sum / a[i * d + i]!;
  }
  return z;
}

/**
 * Solves H z = c for a symmetric positive (semi)definite H: equilibrated first (H → SHS with
 * S = diag(1/√H_kk), so raw units as different as kelvin and kilopascal do not cost digits),
 * then Gaussian elimination; null when singular.
 */
function solveSymmetric(H: ArrayLike<number>, c: ArrayLike<number>, d: number): Float64Array | null {
  const s = Float64Array.from({ length: d }, (_, k) => (H[k * d + k]! > 0 ? 1 / Math.sqrt(H[k * d + k]!) : 1));
  const A = Float64Array.from({ length: d * d }, (_, i) => s[Math.floor(i / d)]! * H[i]! * s[i % d]!);
  const z = solveLinear(A, Float64Array.from({ length: d }, (_, k) => s[k]! * c[k]!), d);
  return z && z.map((v, k) => v * s[k]!);
}

/** H = WᵀDW + λI and c = WᵀD(t − b) + λx0: f(x) = xᵀHx − 2cᵀx + const. */
function normalEquations(p: Problem): { H: Float64Array; c: Float64Array } {
  const { m, n } = p;
  const H = new Float64Array(m * m);
  const c = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < m; k++) {
      let sum = i === k ? p.lambda : 0;
      for (let j = 0; j < n; j++) sum += p.W[j * m + i]! * p.w[j]! * p.W[j * m + k]!;
      H[i * m + k] = sum;
    }
    let sum = p.lambda * p.x0[i]!;
    for (let j = 0; j < n; j++) sum += p.W[j * m + i]! * p.w[j]! * (p.t[j]! - p.b[j]!);
    c[i] = sum;
  }
  return { H, c };
}

/** The unconstrained minimiser H⁻¹c. */
function closedForm(p: Problem): Float64Array {
  const { H, c } = normalEquations(p);
  const x = solveSymmetric(H, c, p.m);
  if (!x) throw new Error("reference: singular normal equations");
  return x;
}

const FREE = 0;
const AT_LO = 1;
const AT_HI = 2;

interface Enumerated {
  x: Float64Array;
  f: number;
  /** FREE, AT_LO or AT_HI per input (held inputs count as AT_LO). */
  state: number[];
  /** Strict complementarity: free inputs clear of their bounds, pinned ones with a non-zero multiplier. */
  nondegenerate: boolean;
}

/** The box-constrained minimiser by enumerating all 3^m active sets. */
function enumerate(p: Problem): Enumerated {
  const { m } = p;
  const { H, c } = normalEquations(p);
  let best: Enumerated | undefined;
  const state = new Array<number>(m).fill(FREE);
  const total = 3 ** m;
  for (let code = 0; code < total; code++) {
    let rest = code;
    let skip = false;
    for (let k = 0; k < m; k++) {
      state[k] = rest % 3;
      rest = Math.floor(rest / 3);
      // a held input is pinned once (as AT_LO); an infinite end cannot be active
      if (p.held[k]) skip ||= state[k] !== AT_LO;
      else if (state[k] === AT_LO) skip ||= !Number.isFinite(p.lo[k]!);
      else if (state[k] === AT_HI) skip ||= !Number.isFinite(p.hi[k]!);
    }
    if (skip) continue;
    const x = new Float64Array(m);
    const free: number[] = [];
    for (let k = 0; k < m; k++) {
      if (state[k] === FREE) free.push(k);
      else x[k] = state[k] === AT_LO ? p.lo[k]! : p.hi[k]!;
    }
    if (free.length > 0) {
      // reduced normal equations: H_FF x_F = c_F − H_FP x_P
      const d = free.length;
      const A = new Float64Array(d * d);
      const rhs = new Float64Array(d);
      for (let i = 0; i < d; i++) {
        const ki = free[i]!;
        let sum = c[ki]!;
        for (let k = 0; k < m; k++) if (state[k] !== FREE) sum -= H[ki * m + k]! * x[k]!;
        rhs[i] = sum;
        for (let l = 0; l < d; l++) A[i * d + l] = H[ki * m + free[l]!]!;
      }
      const z = solveSymmetric(A, rhs, d);
      if (!z) continue;
      let feasible = true;
      for (let i = 0; i < d; i++) {
        const k = free[i]!;
        const slack = 1e-12 * (1 + Math.abs(z[i]!));
        if (!(z[i]! >= p.lo[k]! - slack && z[i]! <= p.hi[k]! + slack)) feasible = false;
        x[k] = Math.min(Math.max(z[i]!, p.lo[k]!), p.hi[k]!);
      }
      if (!feasible) continue;
    }
    const f = objectiveOf(p, x);
    if (!best || f < best.f) best = { x, f, state: state.slice(), nondegenerate: false };
  }
  if (!best) throw new Error("reference: no feasible candidate");
  // strict complementarity at the reference answer: ∂f/∂x_k = 2(Hx − c)_k
  const g = new Float64Array(m);
  let scale = 1;
  for (let k = 0; k < m; k++) {
    let sum = -c[k]!;
    for (let l = 0; l < m; l++) sum += H[k * m + l]! * best.x[l]!;
    g[k] = 2 * sum;
    scale = Math.max(scale, Math.abs(g[k]!));
  }
  best.nondegenerate = best.state.every((s, k) => {
    if (p.held[k]) return true;
    if (s === FREE) return best!.x[k]! - p.lo[k]! > 1e-6 && p.hi[k]! - best!.x[k]! > 1e-6;
    if (p.lo[k] === p.hi[k]) return false; // either label would do
    return s === AT_LO ? g[k]! > 1e-6 * scale : g[k]! < -1e-6 * scale;
  });
  return best;
}

/** The label the solver should give each input when the reference answer holds it with `state`. */
function expectedLabels(p: Problem, state: number[]): ActiveConstraint[] {
  return state.map((s, k) => (p.held[k] ? "fixed" : s === AT_LO ? p.loIs[k]! : s === AT_HI ? p.hiIs[k]! : null));
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/** |a_k − e_k| ≤ tol·max(1, |e_k|) for every k, naming the first element that is not. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let k = 0; k < expected.length; k++) {
    const error = Math.abs(actual[k]! - expected[k]!) / Math.max(1, Math.abs(expected[k]!));
    expect(error, `${what}[${k}]: got ${actual[k]}, expected ${expected[k]}`).toBeLessThanOrEqual(tol);
  }
}

/** The answer lies in the box, exactly: no epsilon. */
function expectInBox(p: Problem, result: SetpointResult, what: string): void {
  for (let k = 0; k < p.m; k++) {
    expect(result.x[k]! >= p.lo[k]! && result.x[k]! <= p.hi[k]!, `${what}: x[${k}] = ${result.x[k]} outside [${p.lo[k]}, ${p.hi[k]}]`).toBe(true);
  }
}

/** The solver's reported objective and prediction are what its own x gives. */
function expectSelfConsistent(p: Problem, result: SetpointResult, what: string): void {
  const f = objectiveOf(p, result.x);
  expect(Math.abs(result.objective - f), `${what}: reported objective ${result.objective} vs f(x) = ${f}`).toBeLessThanOrEqual(1e-9 * Math.max(1e-3, f));
  expectClose(result.predicted, predictionOf(p, result.x), 1e-12, `${what}: predicted`);
}

/** The objective at the solver's x is the reference minimum, within 1e-5 relative. */
function expectOptimal(p: Problem, result: SetpointResult, reference: number, what: string): void {
  const f = objectiveOf(p, result.x);
  expect(f - reference, `${what}: f(x) = ${f}, reference minimum ${reference}`).toBeLessThanOrEqual(1e-5 * Math.abs(reference) + 1e-12);
  expect(Math.abs(result.objective - reference), `${what}: reported objective ${result.objective}, reference ${reference}`).toBeLessThanOrEqual(1e-5 * Math.abs(reference) + 1e-12);
}

/** Runs `fn`, which must throw E_SETPOINT with a message matching `message`, and checks the model is byte-for-byte unchanged. */
function rejectedUnchanged(model: Model, fn: () => unknown, message: RegExp): GradlineError {
  const before = model.snapshot();
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected E_SETPOINT matching ${message}`).toBeInstanceOf(GradlineError);
  const error = caught as GradlineError;
  expect(error.code).toBe("E_SETPOINT");
  expect(error.message).toMatch(message);
  expect(sameBytes(model.snapshot(), before), "model changed by a rejected request").toBe(true);
  return error;
}

// ---------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------

const engine = await createEngine({ workers: 0 });
afterAll(() => engine.close());

/** An unstandardised model holding the given raw W (n×m) and b. */
function rawModel(W: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number): Model {
  return engine.createModel({ inputs: m, outputs: n, standardize: false, init: { W, b } });
}

function randomModel(r: Rng, m: number, n: number): Model {
  return rawModel(normals(r, n * m), normals(r, n), m, n);
}

const vectorOf = (r: Rng, length: number, lo: number, hi: number) => Array.from({ length }, () => r.uniform(lo, hi));

/** What the model predicts at xt (through linearTargets, in f64): a target that xt reaches. */
function targetAt(model: Model, xt: number[]): number[] {
  const { W, b } = model.params();
  return Array.from(linearTargets(Float32Array.from(xt), W, b, model.inputs, model.outputs));
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

describe("setpoint without bounds: the closed form", () => {
  const regularised: [m: number, n: number][] = [[1, 1], [1, 3], [2, 1], [5, 3], [3, 5], [16, 4], [8, 8], [7, 2], [32, 8], [24, 24], [64, 16]];
  for (const [m, n] of regularised) {
    it(`m=${m} n=${n}, λ > 0: x = (WᵀDW + λI)⁻¹(WᵀD(y* − b) + λx0)`, () => {
      const r = rng(1000 + 17 * m + n);
      const model = randomModel(r, m, n);
      const request: SetpointRequest = {
        target: vectorOf(r, n, -3, 3),
        weights: vectorOf(r, n, 0.5, 2),
        current: vectorOf(r, m, -1, 1),
        lambda: r.uniform(0.05, 0.5),
      };
      const p = problemOf(model, request);
      const result = model.setpoint(request);
      expect(result.converged, `converged (iterations ${result.iterations})`).toBe(true);
      expectClose(result.x, closedForm(p), 1e-8, "x");
      expectSelfConsistent(p, result, "closed form");
      expect(result.active).toEqual(new Array(m).fill(null));
      expect(result.version).toBe(model.progress().version);
      model.dispose();
    });
  }

  // a square Gaussian W is ill-conditioned (κ(H) = κ(W)²): there the default stop
  // (no input moves more than 1e-12·(1 + |x|)) leaves 1.2e-8, so that shape asks for 1e-14
  const leastSquares: [m: number, n: number, tolerance?: number][] = [[1, 1], [1, 4], [3, 3], [3, 5], [4, 16], [8, 12], [16, 32], [24, 24, 1e-14]];
  for (const [m, n, tolerance] of leastSquares) {
    it(`m=${m} n=${n}, λ = 0, full rank: the weighted least-squares solution`, () => {
      const r = rng(2000 + 17 * m + n);
      const model = randomModel(r, m, n);
      const request: SetpointRequest = { target: vectorOf(r, n, -3, 3), weights: vectorOf(r, n, 0.5, 2), ...(tolerance ? { tolerance } : {}) };
      const p = problemOf(model, request);
      const result = model.setpoint(request);
      expect(result.converged, `converged (iterations ${result.iterations})`).toBe(true);
      expectClose(result.x, closedForm(p), 1e-8, "x");
      expectSelfConsistent(p, result, "least squares");
      // square and full rank: the target is met exactly
      if (m === n) expect(result.reachable).toBe(true);
      model.dispose();
    });
  }
});

describe("setpoint: convergence on ill-conditioned problems", () => {
  // KNOWN BUG (reported, not fixed here): "converged" after a failed line search.
  // assembly/setpoint.ts accepts a step when f(x⁺) ≤ f(y) + gᵀd + (L/2)‖d‖²_S + 1e-15·|f(y)|,
  // with f(y) from the extrapolated Ay and f(x⁺) from a fresh W·x⁺. Near the optimum, when
  // |Wx + b| ≫ |Wx + b − t|, their rounding difference exceeds 1e-15·|f(y)|, so L doubles
  // 100 times to above 1e30, a zero-length step is then accepted, move = 0 ≤ tolerance, and
  // the solve reports converged = true wherever it happens to be. Here: 756 iterations,
  // converged, x = [52.38875, −0.0737656] against the exact [52.39324, −0.0738104]
  // (8.6e-5 relative; the same problem with b = 0 and t = [50, 40] ends 2.1e-6 away).
  // Fixed: the step test now allows for the rounding of Wx + b − t, and an exhausted line
  // search is reported as not converged.
  it("an answer reported as converged is the minimiser (large offsets b, λ > 0)", () => {
    const model = rawModel([1, 100, 1, 101], [1000, 1000], 2, 2);
    const request: SetpointRequest = { target: [1050, 1040], current: [3, -1], lambda: 1e-3 };
    const result = model.setpoint(request);
    expect(result.converged).toBe(true);
    const x = closedForm(problemOf(model, request));
    model.dispose();
    expectClose(result.x, x, 1e-5, `x after ${result.iterations} iterations`);
  });
});

describe("setpoint in a box: the exhaustive active-set reference", () => {
  // both solvers the kernel has (auto picks Newton for every size here)
  for (const method of ["newton", "fista"] as const)
  it(`40 seeded problems, m = 2..5: objective, x and the active labels (${method})`, () => {
    let unique = 0;
    let labelled = 0;
    let activeSeen = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(3000 + seed);
      const m = 2 + (seed % 4);
      const n = 1 + Math.floor(r.uniform(0, 6));
      const model = randomModel(r, m, n);
      const lower = vectorOf(r, m, -1.5, 0);
      const upper = lower.map((lo) => lo + r.uniform(0.3, 2));
      // a target made by inputs often outside the box, so constraints bind
      const xt = vectorOf(r, m, -3, 3);
      const target = targetAt(model, xt);
      for (let j = 0; j < n; j++) target[j]! += 0.3 * r.normal();
      const lambda = seed % 3 === 0 ? 0 : r.uniform(0.01, 0.3);
      const request: SetpointRequest = { target, weights: vectorOf(r, n, 0.2, 3), lower, upper, lambda, ...(lambda > 0 || seed % 2 ? { current: vectorOf(r, m, -1, 1) } : {}) };
      const what = `${method}, seed ${seed} (m=${m} n=${n} λ=${lambda.toFixed(3)})`;
      const p = problemOf(model, request);
      const reference = enumerate(p);
      const result = model.setpoint({ ...request, method });
      expect(result.converged, `${what}: converged (iterations ${result.iterations})`).toBe(true);
      expectInBox(p, result, what);
      expectSelfConsistent(p, result, what);
      expectOptimal(p, result, reference.f, what);
      // one minimiser: λ > 0, or full column rank, or strict complementarity at the reference
      if (lambda > 0 || n >= m || reference.nondegenerate) {
        unique++;
        expectClose(result.x, reference.x, 1e-5, `${what}: x`);
        if (reference.nondegenerate) {
          labelled++;
          expect(result.active, `${what}: active`).toEqual(expectedLabels(p, reference.state));
          activeSeen += reference.state.filter((s) => s !== FREE).length;
        }
      }
      model.dispose();
    }
    // the checks above were not vacuous
    expect(unique).toBeGreaterThanOrEqual(30);
    expect(labelled).toBeGreaterThanOrEqual(25);
    expect(activeSeen).toBeGreaterThanOrEqual(30);
  });
});

describe("held inputs and move limits", () => {
  // move limits and current values that are dyadic, so x0 ± maxMove is exact in f64
  const m = 4;
  const n = 3;
  const current = [0.5, -1.25, 2, 0.75];
  const maxMove = [0.25, 0.125, Infinity, 0.5];
  const fixed = [null, null, 7, null]; // outside [lower, upper]: a measured input
  const lower = [-4, -4, 0, -4];
  const upper = [4, 4, 1, 0.875]; // input 3: the bound is tighter than the move limit upwards

  it("a held input is exactly its value; no input moves further than maxMove; labels fixed / move-down / move-up", () => {
    const r = rng(4001);
    const model = randomModel(r, m, n);
    const labelsSeen = new Set<ActiveConstraint>();
    for (let trial = 0; trial < 12; trial++) {
      const xt = vectorOf(r, m, -6, 6);
      const target = targetAt(model, xt);
      const request: SetpointRequest = { target, current, maxMove, fixed, lower, upper, lambda: trial % 2 ? 0.05 : 0 };
      const what = `trial ${trial}`;
      const p = problemOf(model, request);
      const result = model.setpoint(request);
      expect(Object.is(result.x[2], 7), `${what}: held x[2] = ${result.x[2]}`).toBe(true);
      expect(result.active[2]).toBe("fixed");
      for (let k = 0; k < m; k++) {
        expect(Math.abs(result.x[k]! - current[k]!) <= maxMove[k]!, `${what}: |x[${k}] − x0| = ${Math.abs(result.x[k]! - current[k]!)} > ${maxMove[k]}`).toBe(true);
      }
      expectInBox(p, result, what);
      const reference = enumerate(p);
      expectOptimal(p, result, reference.f, what);
      expectClose(result.x, reference.x, 1e-5, `${what}: x`);
      if (reference.nondegenerate) expect(result.active, `${what}: active`).toEqual(expectedLabels(p, reference.state));
      for (const label of result.active) labelsSeen.add(label);
    }
    expect([...labelsSeen]).toEqual(expect.arrayContaining(["fixed", "move-down", "move-up", "upper"]));
    model.dispose();
  });

  it("with every input held, x is the held values and nothing is solved for", () => {
    const model = randomModel(rng(4002), 3, 2);
    const held = [1.5, -100, 1e6];
    const result = model.setpoint({ target: [0, 0], fixed: held, lower: [0, 0, 0], upper: [1, 1, 1] });
    expect(Array.from(result.x)).toEqual(held);
    expect(result.active).toEqual(["fixed", "fixed", "fixed"]);
    model.dispose();
  });

  // KNOWN BUG (reported, not fixed here): host/engine/setpoint.ts foldBox sets the
  // ends of the box to fl(x0 ± maxMove), which can round away from x0, so x moves
  // further than maxMove by an ulp. On W = [1], b = [0]:
  //   { target: [1e3], current: [0.1], maxMove: [0.2] }  → x = 0.30000000000000004, x − x0 = 0.20000000000000004 > 0.2
  //   { target: [-1e3], current: [1.1], maxMove: [0.1] } → x = 1, x0 − x = 0.10000000000000009 > 0.1
  // (the excess is real, not an artefact of the subtraction: exactly, 0.30000000000000004 − 0.1 > 0.2 too).
  // Fixed: the ends of the box are rounded towards x0.
  it("move limits hold exactly for arbitrary (non-dyadic) current and maxMove", () => {
    const model = rawModel([1], [0], 1, 1);
    const r = rng(4003);
    for (let trial = 0; trial < 200; trial++) {
      // Box–Muller values use every bit of the mantissa (uniform() gives multiples of 2^-32, whose sums are exact)
      const current = [3 * r.normal()];
      const maxMove = [Math.abs(r.normal())];
      for (const target of [[1e3], [-1e3]]) {
        const result = model.setpoint({ target, current, maxMove });
        const moved = Math.abs(result.x[0]! - current[0]!);
        expect(moved <= maxMove[0]!, `trial ${trial}, current ${current[0]}, maxMove ${maxMove[0]}: moved ${moved}`).toBe(true);
      }
    }
    model.dispose();
  });
});

describe("reachability", () => {
  it("bounds too tight: reachable is false and x is the best feasible point", () => {
    const r = rng(5001);
    for (const [m, n] of [[2, 2], [3, 4], [4, 4]] as const) {
      const model = randomModel(r, m, n);
      const xt = vectorOf(r, m, 2, 4); // outside the box below
      const target = targetAt(model, xt);
      const request: SetpointRequest = { target, lower: new Array(m).fill(-1), upper: new Array(m).fill(1) };
      const p = problemOf(model, request);
      const reference = enumerate(p);
      expect(reference.f, "reference: the target is out of reach").toBeGreaterThan(1e-3);
      const result = model.setpoint(request);
      expect(result.reachable, `m=${m} n=${n}`).toBe(false);
      expectOptimal(p, result, reference.f, `m=${m} n=${n}`);
      expectClose(result.x, reference.x, 1e-5, `m=${m} n=${n}: x`);
      model.dispose();
    }
  });

  it("a target inside the reachable set: reachable and predicted ≈ target", () => {
    const r = rng(5002);
    for (const [m, n] of [[2, 2], [3, 2], [5, 3]] as const) {
      const model = randomModel(r, m, n);
      const xt = vectorOf(r, m, -0.8, 0.8);
      const target = targetAt(model, xt);
      const request: SetpointRequest = { target, lower: new Array(m).fill(-1), upper: new Array(m).fill(1) };
      const p = problemOf(model, request);
      expect(enumerate(p).f, "reference: reachable").toBeLessThan(1e-20);
      const result = model.setpoint(request);
      expect(result.reachable, `m=${m} n=${n}`).toBe(true);
      expectClose(result.predicted, target, 1e-6, `m=${m} n=${n}: predicted`);
      expectInBox(p, result, `m=${m} n=${n}`);
      model.dispose();
    }
  });

  it("λ > 0 keeps ŷ off a reachable target, and reachable is still true; an unreachable one stays false", () => {
    const r = rng(5003);
    const m = 3;
    const n = 2;
    const model = randomModel(r, m, n);
    const current = [0, 0, 0];
    const xt = [0.7, -0.6, 0.5];
    const target = targetAt(model, xt);
    const request: SetpointRequest = { target, current, lambda: 0.5, lower: [-1, -1, -1], upper: [1, 1, 1] };
    const p = problemOf(model, request);
    const result = model.setpoint(request);
    expectClose(result.x, enumerate(p).x, 1e-5, "x");
    const gap = Math.max(...target.map((t, j) => Math.abs(result.predicted[j]! - t)));
    expect(gap, "λ pulls ŷ away from the target").toBeGreaterThan(1e-2);
    expect(enumerate({ ...p, lambda: 0 }).f, "reference: reachable at λ = 0").toBeLessThan(1e-20);
    expect(result.reachable).toBe(true);

    const far = targetAt(model, [5, -5, 5]);
    const farRequest = { ...request, target: far };
    expect(enumerate({ ...problemOf(model, farRequest), lambda: 0 }).f, "reference: unreachable").toBeGreaterThan(1e-3);
    expect(model.setpoint(farRequest).reachable).toBe(false);
    model.dispose();
  });
});

describe("standardised and raw models", () => {
  // a chemical line: temperature (K), pressure (kPa), feed ratio → yield (%), energy (kWh);
  // raw W spans 0.004 to 300, which the solver's Jacobi scaling has to absorb
  const m = 3;
  const n = 2;
  const Wtrue = [0.08, 0.004, 25, -0.5, 0.9, 300];
  const btrue = [10, 2000];
  function sensorBatch(r: Rng, samples: number) {
    const x = new Float32Array(samples * m);
    for (let s = 0; s < samples; s++) {
      x[s * m] = 350 + 25 * r.normal();
      x[s * m + 1] = 5000 + 800 * r.normal();
      x[s * m + 2] = 1 + 0.01 * r.normal();
    }
    return { x, y: linearTargets(x, Wtrue, btrue, m, n, 0.5, r) };
  }
  const lower = [320, 3500, 0.97];
  const upper = [380, 6500, 1.03];
  const current = [350, 5000, 1];

  it("a trained standardised model answers from its raw params, and an unstandardised copy gives the same x", () => {
    const standardised = engine.createModel({ inputs: m, outputs: n, optimizer: { type: "sgd", lr: 0.05 } });
    const r = rng(6001);
    for (let step = 0; step < 300; step++) {
      const { x, y } = sensorBatch(r, 32);
      standardised.train(x, y);
    }
    const params = standardised.params();
    const raw = rawModel(params.W, params.b, m, n);
    expect(Array.from(raw.params().W)).toEqual(Array.from(params.W));
    expect(Array.from(raw.params().b)).toEqual(Array.from(params.b));

    const requests: [string, SetpointRequest][] = [
      ["reachable in the box", { target: [82, 6700], lower, upper }],
      ["out of reach", { target: [95, 6625], lower, upper }],
      ["weighted", { target: [70, 7000], weights: [1, 1e-4], lower, upper }],
      ["λ and move limits", { target: [85, 6800], current, maxMove: [10, 500, 0.02], lambda: 1e-3, lower, upper }],
      ["held temperature", { target: [82, 6600], fixed: [341.5, null, null], lower, upper }],
      ["λ, no bounds", { target: [66, 8300], current, lambda: 1e-3 }],
    ];
    const states: string[] = [];
    for (const [name, request] of requests) {
      const p = problemOf(standardised, request);
      const reference = enumerate(p);
      states.push(reference.state.join(""));
      const a = standardised.setpoint(request);
      const b = raw.setpoint(request);
      expect(a.converged, `${name}: converged (iterations ${a.iterations})`).toBe(true);
      expectInBox(p, a, name);
      expectSelfConsistent(p, a, `${name}: standardised`);
      expectOptimal(p, a, reference.f, `${name}: standardised`);
      expectOptimal(p, b, reference.f, `${name}: raw`);
      // one minimiser when λ > 0, or when the reference is strictly complementary (then no
      // direction W ignores can leave the active bounds)
      if (p.lambda > 0 || reference.nondegenerate) {
        expectClose(a.x, reference.x, 1e-5, `${name}: x`);
        if (reference.nondegenerate) expect(a.active, `${name}: active`).toEqual(expectedLabels(p, reference.state));
      }
      expectClose(a.x, b.x, 1e-6, `${name}: standardised vs raw x`);
      expect(b.active, `${name}: standardised vs raw active`).toEqual(a.active);
      expect(b.reachable, `${name}: standardised vs raw reachable`).toBe(a.reachable);
      if (request.lower) {
        const reach = enumerate({ ...p, lambda: 0 }).f;
        expect(a.reachable, `${name}: reachable (reference residual ${reach})`).toBe(reach < 1e-12);
      }
    }
    // the requests exercise free inputs and both ends of the box, not only corners
    expect(states.some((s) => s.includes(String(FREE))) && states.some((s) => s.includes(String(AT_LO))) && states.some((s) => s.includes(String(AT_HI)))).toBe(true);
    standardised.dispose();
    raw.dispose();
  });
});

describe("per-output weights", () => {
  it("weight 0 ignores an output entirely: the answer of the model without it", () => {
    const r = rng(7001);
    const m = 3;
    const n = 4;
    const W = normals(r, n * m);
    const b = normals(r, n);
    const model = rawModel(W, b, m, n);
    const drop = 1;
    const keep = [0, 2, 3];
    const without = rawModel(
      keep.flatMap((j) => Array.from(W.subarray(j * m, (j + 1) * m))),
      keep.map((j) => b[j]!),
      m,
      n - 1,
    );
    for (let trial = 0; trial < 6; trial++) {
      const target = vectorOf(r, n, -2, 2);
      target[drop] = trial % 2 ? 1e12 : -3e9; // wildly off: it must not matter
      const weights = vectorOf(r, n, 0.5, 2);
      weights[drop] = 0;
      const box = trial < 3 ? {} : { lower: [-0.5, -0.5, -0.5], upper: [0.5, 0.5, 0.5] };
      const request: SetpointRequest = { target, weights, current: [0.1, 0.2, 0.3], lambda: 0.05, ...box };
      const reduced: SetpointRequest = { ...request, target: keep.map((j) => target[j]!), weights: keep.map((j) => weights[j]!) };
      const a = model.setpoint(request);
      const c = without.setpoint(reduced);
      expectClose(a.x, c.x, 1e-12, `trial ${trial}: x with weight 0 vs without the output`);
      expect(a.objective, `trial ${trial}: objective`).toBeCloseTo(c.objective, 12);
      expect(a.reachable, `trial ${trial}: reachable`).toBe(c.reachable);
      const p = problemOf(without, reduced);
      expectClose(a.x, enumerate(p).x, 1e-5, `trial ${trial}: x vs reference`);
    }
    model.dispose();
    without.dispose();
  });

  it("weights scale the trade-off between outputs as the reference says", () => {
    const r = rng(7002);
    const model = randomModel(r, 2, 3);
    for (const weights of [[1, 1, 1], [100, 1, 1], [1, 0.01, 5]]) {
      const request: SetpointRequest = { target: [3, -2, 1], weights };
      const p = problemOf(model, request);
      expectClose(model.setpoint(request).x, closedForm(p), 1e-8, `weights ${weights}: x`);
    }
    model.dispose();
  });
});

describe("bad requests: E_SETPOINT, nothing changes", () => {
  it("every rule of the request throws E_SETPOINT naming the field and leaves the model unchanged", () => {
    const model = randomModel(rng(8001), 3, 2);
    model.train(normals(rng(8002), 8 * 3), normals(rng(8003), 8 * 2));
    const ok: SetpointRequest = { target: [1, 2] };
    expect(() => model.setpoint(ok)).not.toThrow();
    const cases: [string, SetpointRequest, RegExp][] = [
      ["target too short", { target: [1] }, /target has 1 entries; the model needs 2/],
      ["target too long", { target: [1, 2, 3] }, /target has 3 entries/],
      ["NaN in target", { target: [1, Number.NaN] }, /target\[1\] must be a finite number/],
      ["Infinity in target", { target: [Infinity, 1] }, /target\[0\] must be a finite number/],
      ["negative weight", { target: [1, 2], weights: [1, -0.5] }, /weights\[1\] must be a finite number ≥ 0/],
      ["weights of the wrong length", { target: [1, 2], weights: [1] }, /weights has 1 entries/],
      ["lower > upper", { target: [1, 2], lower: [0, 2, 0], upper: [1, 1, 1] }, /input 1 has no feasible value/],
      ["maxMove without current", { target: [1, 2], maxMove: [1, 1, 1] }, /maxMove needs `current`/],
      ["lambda > 0 without current", { target: [1, 2], lambda: 0.1 }, /lambda > 0 needs `current`/],
      ["negative lambda", { target: [1, 2], current: [0, 0, 0], lambda: -0.1 }, /lambda must be a finite number ≥ 0/],
      ["NaN lambda", { target: [1, 2], current: [0, 0, 0], lambda: Number.NaN }, /lambda must be/],
      ["fixed of the wrong length", { target: [1, 2], fixed: [1, null] }, /fixed must be an array of 3 entries/],
      ["fixed NaN", { target: [1, 2], fixed: [null, Number.NaN, null] }, /fixed\[1\] must be a finite number or null/],
      ["empty box from move limits", { target: [1, 2], current: [0, 5, 0], maxMove: [1, 1, 1], upper: [2, 3, 2] }, /input 1 has no feasible value/],
      ["negative maxMove", { target: [1, 2], current: [0, 0, 0], maxMove: [1, -1, 1] }, /maxMove\[1\]/],
      ["current of the wrong length", { target: [1, 2], current: [0, 0] }, /current has 2 entries/],
    ];
    for (const [name, request, message] of cases) {
      const error = rejectedUnchanged(model, () => model.setpoint(request), message);
      expect(error.message, name).toMatch(/nothing was solved/);
    }
    // the empty box names the input and the interval it was left with
    const error = rejectedUnchanged(model, () => model.setpoint({ target: [1, 2], current: [0, 5, 0], maxMove: [1, 1, 1], upper: [2, 3, 2] }), /input 1/);
    expect(error.details).toMatchObject({ input: 1, lo: 4, hi: 3 });
    // a held input may sit outside lower > upper: it is measured, not chosen
    expect(model.setpoint({ target: [1, 2], lower: [0, 2, 0], upper: [1, 1, 1], fixed: [null, 1.5, null] }).x[1]).toBe(1.5);
    model.dispose();
  });
});

describe("pool engine", () => {
  it("PoolModel.setpoint gives the in-process model's answer for the same init", async () => {
    const pool = await createEngine({ workers: 1 });
    try {
      const r = rng(9001);
      const m = 5;
      const n = 3;
      const W = normals(r, n * m);
      const b = normals(r, n);
      const local = rawModel(W, b, m, n);
      const pooled = pool.createModel({ inputs: m, outputs: n, standardize: false, init: { W, b } });
      const request: SetpointRequest = {
        target: [1, -2, 0.5],
        current: [0.25, 0, -0.5, 0.5, 0],
        maxMove: [0.5, 1, 1, 0.25, Infinity],
        lower: [-1, -1, -1, -1, -1],
        upper: [1, 1, 1, 1, 1],
        fixed: [null, null, 0.75, null, null],
        lambda: 0.02,
      };
      const a = local.setpoint(request);
      const c = pooled.setpoint(request);
      expect(Array.from(c.x)).toEqual(Array.from(a.x));
      expect(c.active).toEqual(a.active);
      expect(c.objective).toBe(a.objective);
      expect(c.reachable).toBe(a.reachable);
      const p = problemOf(pooled, request);
      expectClose(c.x, enumerate(p).x, 1e-5, "pool x vs reference");
      // after a step on the workers the answer follows the committed parameters
      const x = normals(r, 16 * m);
      const y = normals(r, 16 * n);
      await pooled.train(x, y);
      local.train(x, y);
      const after = pooled.setpoint(request);
      expect(after.version).toBe(pooled.progress().version);
      expect(Array.from(after.x)).toEqual(Array.from(local.setpoint(request).x));
      local.dispose();
    } finally {
      await pool.close();
    }
  });
});
