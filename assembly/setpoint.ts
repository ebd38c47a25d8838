// Setpoint search: the inputs x that drive the model's predictions to a target,
//   minimise f(x) = Σ_j w_j (ŷ_j(x) − t_j)² + λ‖x − x0‖²,  ŷ = W x + b (raw units)
//   subject to lo ≤ x ≤ hi (the host folds bounds, move limits and held inputs
//   into one box). A convex quadratic over a box, two solvers in f64: accelerated
//   projected gradient (FISTA) with a diagonal (Jacobi) preconditioner, backtracking
//   on the step and adaptive restart of the momentum; and, for small m, an exact
//   active-set least-squares method (f64_setpoint__newton, below). Both report the
//   KKT residual of their answer (optimality), which is what "converged" means.
import { headerM, headerN, spWOffset, spVectorOffset, spRawOffset, spNewtonOffset, SP_B, SP_TARGET, SP_WEIGHT, SP_AX, SP_AX_PREV, SP_AX_NEW, SP_AY, SP_R,
  SP_LO, SP_HI, SP_X0, SP_X, SP_X_PREV, SP_Y, SP_G, SP_S, SP_X_NEW, SP_RESULT, SP_OPTIMALITY } from "./util/layout";
import { f32_raw_params } from "./step";

// Workspace pointers of the current solve (one solve per thread at a time).
let W: usize = 0;
let nOut: i32 = 0;
let mIn: i32 = 0;

@inline function vec(ws: usize, which: i32): usize {
  return spVectorOffset(ws, mIn, nOut, which);
}

/** out[j] = Σ_k W[j,k]·v[k] for every output j (f64x2 over k). */
function multiply(v: usize, out: usize): void {
  const m = mIn;
  const whole = m & ~3;
  for (let j = 0; j < nOut; j++) {
    const row = W + (<usize>(j * m) << 3);
    let a0 = f64x2.splat(0);
    let a1 = f64x2.splat(0);
    let k = 0;
    // unrolled vector loop: two accumulators
    for (; k < whole; k += 4) {
      const p = <usize>k << 3;
      a0 = f64x2.add(a0, f64x2.mul(v128.load(row + p), v128.load(v + p)));
      a1 = f64x2.add(a1, f64x2.mul(v128.load(row + p + 16), v128.load(v + p + 16)));
    }
    const a = f64x2.add(a0, a1);
    let sum = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
    // scalar tail
    for (; k < m; k++) sum += load<f64>(row + (<usize>k << 3)) * load<f64>(v + (<usize>k << 3));
    store<f64>(out + (<usize>j << 3), sum);
  }
}

/** out[k] = Σ_j W[j,k]·u[j] (axpy over rows, f64x2 over k). */
function multiplyTransposed(u: usize, out: usize): void {
  const m = mIn;
  memory.fill(out, 0, <usize>m << 3);
  const whole = m & ~1;
  for (let j = 0; j < nOut; j++) {
    const c = load<f64>(u + (<usize>j << 3));
    if (c == 0) continue;
    const vc = f64x2.splat(c);
    const row = W + (<usize>(j * m) << 3);
    let k = 0;
    for (; k < whole; k += 2) {
      const p = <usize>k << 3;
      v128.store(out + p, f64x2.add(v128.load(out + p), f64x2.mul(vc, v128.load(row + p))));
    }
    for (; k < m; k++) store<f64>(out + (<usize>k << 3), load<f64>(out + (<usize>k << 3)) + c * load<f64>(row + (<usize>k << 3)));
  }
}

/** r = w ⊙ (Ax + b − t) into `r`; returns Σ_j w_j (Ax + b − t)_j². */
function weightedResidual(ws: usize, ax: usize, r: usize): f64 {
  const b = vec(ws, SP_B);
  const t = vec(ws, SP_TARGET);
  const w = vec(ws, SP_WEIGHT);
  let sum: f64 = 0;
  for (let j = 0; j < nOut; j++) {
    const at = <usize>j << 3;
    const e = load<f64>(ax + at) + load<f64>(b + at) - load<f64>(t + at);
    const we = load<f64>(w + at) * e;
    store<f64>(r + at, we);
    sum += we * e;
  }
  return sum;
}

/** Σ_j w_j (|Ax_j| + |b_j| + |t_j|)²·2⁻⁵²: how much rounding alone can move f near `ax`. */
function roundingNoise(ws: usize, ax: usize): f64 {
  const b = vec(ws, SP_B);
  const t = vec(ws, SP_TARGET);
  const w = vec(ws, SP_WEIGHT);
  let sum: f64 = 0;
  for (let j = 0; j < nOut; j++) {
    const at = <usize>j << 3;
    const size = Math.abs(load<f64>(ax + at)) + Math.abs(load<f64>(b + at)) + Math.abs(load<f64>(t + at));
    sum += load<f64>(w + at) * size * size;
  }
  return sum * 2.220446049250313e-16;
}

/** f(x) given Ax; the regularisation term over `x`. */
function objective(ws: usize, x: usize, ax: usize, lambda: f64): f64 {
  let f = weightedResidual(ws, ax, vec(ws, SP_R));
  if (lambda != 0) {
    const x0 = vec(ws, SP_X0);
    let q: f64 = 0;
    for (let k = 0; k < mIn; k++) {
      const d = load<f64>(x + (<usize>k << 3)) - load<f64>(x0 + (<usize>k << 3));
      q += d * d;
    }
    f += lambda * q;
  }
  return f;
}

/**
 * Solves from the start point in x (inside the box). Workspace layout in
 * util/layout.ts (SP_*); the host writes target, weight, lo, hi, x0 and x.
 * Writes x, Ax (ŷ − b) and the result slots: objective, iterations, the final
 * step's largest move. Returns the number of iterations.
 */
/** Raw-unit W and b of the model, promoted to f64, into the workspace; sets the solve's globals. */
function loadModel(model: usize, ws: usize): void {
  const m = headerM(model);
  const n = headerN(model);
  mIn = m;
  nOut = n;
  W = spWOffset(ws);
  const raw = spRawOffset(ws, m, n);
  f32_raw_params(model, raw);
  for (let i = 0; i < n * m; i++) store<f64>(W + (<usize>i << 3), <f64>load<f32>(raw + (<usize>i << 2)));
  const b = vec(ws, SP_B);
  for (let j = 0; j < n; j++) store<f64>(b + (<usize>j << 3), <f64>load<f32>(raw + (<usize>(n * m + j) << 2)));
}

/** The answer's slots: Ax of the final x, and the result (objective, iterations, last move, optimality). */
function finish(ws: usize, lambda: f64, iterations: i32, lastMove: f64): void {
  const x = vec(ws, SP_X);
  const ax = vec(ws, SP_AX);
  multiply(x, ax);
  const result = vec(ws, SP_RESULT);
  store<f64>(result, objective(ws, x, ax, lambda));
  store<f64>(result + 8, <f64>iterations);
  store<f64>(result + 16, lastMove);
  store<f64>(result + 24, optimality(ws, x, ax, lambda));
}

/**
 * The KKT residual at x (Ax given): max over inputs of the projected gradient (the
 * gradient, less any part a bound at x holds back; 0 for a held input), each relative
 * to the size of the terms it sums, Σ_j w_j |W_jk| (Σ_l |W_jl x_l| + |b_j| + |t_j|) +
 * λ(|x_k| + |x0_k|). 0 at an exact minimiser; rounding alone leaves about 1e-16.
 * Uses SP_R, SP_G, SP_AY and SP_Y as scratch.
 */
function optimality(ws: usize, x: usize, ax: usize, lambda: f64): f64 {
  const m = mIn;
  const n = nOut;
  const b = vec(ws, SP_B);
  const t = vec(ws, SP_TARGET);
  const w = vec(ws, SP_WEIGHT);
  const lo = vec(ws, SP_LO);
  const hi = vec(ws, SP_HI);
  const x0 = vec(ws, SP_X0);
  const r = vec(ws, SP_R);
  const g = vec(ws, SP_G);
  const size = vec(ws, SP_AY);
  const scale = vec(ws, SP_Y);
  weightedResidual(ws, ax, r);
  multiplyTransposed(r, g);
  for (let j = 0; j < n; j++) {
    const Wj = W + (<usize>(j * m) << 3);
    let s = Math.abs(load<f64>(b + (<usize>j << 3))) + Math.abs(load<f64>(t + (<usize>j << 3)));
    for (let k = 0; k < m; k++) s += Math.abs(load<f64>(Wj + (<usize>k << 3)) * load<f64>(x + (<usize>k << 3)));
    store<f64>(size + (<usize>j << 3), load<f64>(w + (<usize>j << 3)) * s);
  }
  for (let k = 0; k < m; k++) {
    const at = <usize>k << 3;
    store<f64>(scale + at, lambda * (Math.abs(load<f64>(x + at)) + Math.abs(load<f64>(x0 + at))));
  }
  for (let j = 0; j < n; j++) {
    const Wj = W + (<usize>(j * m) << 3);
    const sj = load<f64>(size + (<usize>j << 3));
    if (sj == 0) continue;
    for (let k = 0; k < m; k++) store<f64>(scale + (<usize>k << 3), load<f64>(scale + (<usize>k << 3)) + Math.abs(load<f64>(Wj + (<usize>k << 3))) * sj);
  }
  let worst: f64 = 0;
  for (let k = 0; k < m; k++) {
    const at = <usize>k << 3;
    const xk = load<f64>(x + at);
    const l = load<f64>(lo + at);
    const u = load<f64>(hi + at);
    if (l == u) continue;
    let gk = load<f64>(g + at) + lambda * (xk - load<f64>(x0 + at));
    if (xk <= l) gk = Math.min(gk, 0);
    if (xk >= u) gk = Math.max(gk, 0);
    const sk = load<f64>(scale + at);
    if (gk != 0) worst = Math.max(worst, sk > 0 ? Math.abs(gk) / sk : Infinity);
  }
  return worst;
}

export function f64_setpoint(model: usize, ws: usize, lambda: f64, maxIterations: i32, tolerance: f64): i32 {
  loadModel(model, ws);
  const m = mIn;
  const n = nOut;

  const w = vec(ws, SP_WEIGHT);
  const lo = vec(ws, SP_LO);
  const hi = vec(ws, SP_HI);
  const x0 = vec(ws, SP_X0);
  const s = vec(ws, SP_S);
  // Jacobi preconditioner: s_k = 1 / H_kk, H = 2(WᵀDW + λI); an input no weighted output uses keeps s = 1
  for (let k = 0; k < m; k++) {
    let h = lambda;
    for (let j = 0; j < n; j++) {
      const a = load<f64>(W + (<usize>(j * m + k) << 3));
      h += load<f64>(w + (<usize>j << 3)) * a * a;
    }
    store<f64>(s + (<usize>k << 3), h > 0 ? 1 / (2 * h) : 1);
  }

  let x = vec(ws, SP_X);
  let xPrev = vec(ws, SP_X_PREV);
  let xNew = vec(ws, SP_X_NEW);
  let ax = vec(ws, SP_AX);
  let axPrev = vec(ws, SP_AX_PREV);
  let axNew = vec(ws, SP_AX_NEW);
  const y = vec(ws, SP_Y);
  const ay = vec(ws, SP_AY);
  const g = vec(ws, SP_G);
  const r = vec(ws, SP_R);
  multiply(x, ax);
  memory.copy(xPrev, x, <usize>m << 3);
  memory.copy(axPrev, ax, <usize>n << 3);

  // Lipschitz constant of the preconditioned gradient: the diagonal of S·H is 1, so
  // start at 1 and let backtracking double it as needed
  let L: f64 = 1;
  let t: f64 = 1;
  let tPrev: f64 = 1;
  let iterations = 0;
  let lastMove: f64 = Infinity;
  let stalled = false;
  while (iterations < maxIterations) {
    iterations++;
    // extrapolate: y = x + β(x − xPrev); A is linear, so Ay follows without a product
    const beta = (tPrev - 1) / t;
    for (let k = 0; k < m; k++) {
      const at = <usize>k << 3;
      const xk = load<f64>(x + at);
      store<f64>(y + at, xk + beta * (xk - load<f64>(xPrev + at)));
    }
    for (let j = 0; j < n; j++) {
      const at = <usize>j << 3;
      const v = load<f64>(ax + at);
      store<f64>(ay + at, v + beta * (v - load<f64>(axPrev + at)));
    }
    // gradient at y: 2Wᵀ(w ⊙ (Ay + b − t)) + 2λ(y − x0)
    const fy = objective(ws, y, ay, lambda);
    multiplyTransposed(r, g);
    for (let k = 0; k < m; k++) {
      const at = <usize>k << 3;
      store<f64>(g + at, 2 * load<f64>(g + at) + 2 * lambda * (load<f64>(y + at) - load<f64>(x0 + at)));
    }
    // projected step with backtracking: accept when the quadratic model bounds f
    let fNew: f64 = 0;
    let move: f64 = 0;
    while (true) {
      let linear: f64 = 0;
      let quad: f64 = 0;
      move = 0;
      for (let k = 0; k < m; k++) {
        const at = <usize>k << 3;
        const yk = load<f64>(y + at);
        const sk = load<f64>(s + at);
        const v = Math.min(Math.max(yk - (sk / L) * load<f64>(g + at), load<f64>(lo + at)), load<f64>(hi + at));
        store<f64>(xNew + at, v);
        const d = v - yk;
        linear += load<f64>(g + at) * d;
        quad += (d * d) / sk;
        move = Math.max(move, Math.abs(d) / (1 + Math.abs(v)));
      }
      multiply(xNew, axNew);
      fNew = objective(ws, xNew, axNew, lambda);
      // near the optimum f is as small as the rounding of Wx + b − t: allow for that
      if (fNew <= fy + linear + 0.5 * L * quad + 64 * roundingNoise(ws, ay)) break;
      if (L > 1e30) {
        stalled = true; // no step decreases f: report it, never as convergence
        break;
      }
      L *= 2;
    }
    // adaptive restart: momentum that points uphill is dropped
    let uphill: f64 = 0;
    for (let k = 0; k < m; k++) {
      const at = <usize>k << 3;
      uphill += load<f64>(g + at) * (load<f64>(xNew + at) - load<f64>(x + at));
    }
    tPrev = uphill > 0 ? 1 : t;
    t = uphill > 0 ? 1 : (1 + Math.sqrt(1 + 4 * t * t)) / 2;
    // rotate the buffers: xPrev ← x ← xNew
    const xOld = xPrev;
    xPrev = x;
    x = xNew;
    xNew = xOld;
    const axOld = axPrev;
    axPrev = ax;
    ax = axNew;
    axNew = axOld;
    lastMove = stalled ? Infinity : move;
    if (stalled) break;
    // a short step is not an optimum (an ill-conditioned W takes tiny steps far from one):
    // stop only where the KKT test holds, else drop the momentum and go on
    if (move <= tolerance) {
      if (optimality(ws, x, ax, lambda) <= SP_OPTIMALITY) break;
      tPrev = 1;
      t = 1;
    }
  }
  // the answer goes to the SP_X slot whichever buffer holds it
  if (x != vec(ws, SP_X)) memory.copy(vec(ws, SP_X), x, <usize>m << 3);
  finish(ws, lambda, iterations, lastMove);
  return iterations;
}

// ---------------------------------------------------------------------------
// Active-set least squares ("newton"): exact, for small m, whatever the rank of W
// ---------------------------------------------------------------------------
//
// f(x) = ‖A x − z‖² + const with A = [√D W; √λ I] and z = [√D (t − b); √λ x0]. Givens
// rotations fold A's n + m rows, one at a time, into an upper-triangular R (m×m, row-
// major) and z into Qᵀz, so everything after costs O(m³) whatever n, and no normal
// equations square W's condition number. Then a bounded-variable least-squares active
// set (Stark & Parker): inputs are free or held at a bound; the free ones take the
// minimum-norm least-squares step from x0 (pivoted QR of the column-equilibrated R_F,
// then the least-norm point of the null space), clamped into the box where that lowers
// f, else stepping back to the first bound crossed; a bound whose gradient points into
// the box is released. Each release
// strictly lowers f, so it ends, at a KKT point. With λ = 0 and a rank-deficient W the
// optimum is a set: nearestOptimum then picks the member nearest x0.

const FREE: i32 = 0;
const AT_LO: i32 = 1;
const AT_HI: i32 = 2;
const HELD: i32 = 3;

/** Numerical rank: a pivot below this, on unit-norm columns, counts as zero. */
const RANK_TOLERANCE: f64 = 1e-10;
/** A bound is released when its gradient exceeds this, relative to the terms it sums. */
const RELEASE_TOLERANCE: f64 = 1e-12;

// The active set's workspace (spNewtonOffset): set by newtonSetup.
let R: usize = 0; // f64[m·m] row-major: the problem's triangular factor
let R2: usize = 0; // f64[m·m]: the second pass's
let Q: usize = 0; // f64[m·m] column-major: R_F's columns, factored in place
let M: usize = 0; // f64[m·m] column-major: the null-space least squares
let z: usize = 0; // f64[M2] each, from here on
let z2: usize = 0;
let row: usize = 0;
let cand: usize = 0;
let res: usize = 0;
let colScale: usize = 0;
let e: usize = 0;
let h: usize = 0;
let best: usize = 0;
let state: usize = 0; // i32[M4] each
let cols: usize = 0;
let blocked: usize = 0;

@inline function f64At(p: usize, k: i32): f64 {
  return load<f64>(p + (<usize>k << 3));
}
@inline function setF64(p: usize, k: i32, v: f64): void {
  store<f64>(p + (<usize>k << 3), v);
}
@inline function i32At(p: usize, k: i32): i32 {
  return load<i32>(p + (<usize>k << 2));
}
@inline function setI32(p: usize, k: i32, v: i32): void {
  store<i32>(p + (<usize>k << 2), v);
}

function newtonSetup(ws: usize): void {
  const m = mIn;
  const mm = <usize>(m * m) << 3;
  const m2 = <usize>((m + 1) & ~1) << 3;
  const m4 = <usize>((m + 3) & ~3) << 2;
  R = spNewtonOffset(ws, m, nOut);
  R2 = R + mm;
  Q = R2 + mm;
  M = Q + mm;
  z = M + mm;
  z2 = z + m2;
  row = z2 + m2;
  cand = row + m2;
  res = cand + m2;
  colScale = res + m2;
  e = colScale + m2;
  h = e + m2;
  best = h + m2;
  state = best + m2;
  cols = state + m4;
  blocked = cols + m4;
}

/** Folds the row (u, rho) into the triangular (T, y) by Givens rotations; u is consumed. */
function absorbRow(T: usize, y: usize, u: usize, rho: f64, from: i32): void {
  const m = mIn;
  for (let c = from; c < m; c++) {
    const uc = f64At(u, c);
    if (uc == 0) continue;
    const Tc = T + (<usize>(c * m) << 3);
    const a = f64At(Tc, c);
    const r = Math.hypot(a, uc);
    const cs = a / r;
    const sn = uc / r;
    setF64(Tc, c, r);
    setF64(u, c, 0);
    for (let k = c + 1; k < m; k++) {
      const tk = f64At(Tc, k);
      const uk = f64At(u, k);
      setF64(Tc, k, cs * tk + sn * uk);
      setF64(u, k, cs * uk - sn * tk);
    }
    const yc = f64At(y, c);
    setF64(y, c, cs * yc + sn * rho);
    rho = cs * rho - sn * yc;
  }
}

/** R, z from the model and the host's vectors: f(x) = ‖R x − z‖² + const. */
function compress(ws: usize, lambda: f64): void {
  const m = mIn;
  const b = vec(ws, SP_B);
  const t = vec(ws, SP_TARGET);
  const w = vec(ws, SP_WEIGHT);
  const x0 = vec(ws, SP_X0);
  memory.fill(R, 0, <usize>(m * m) << 3);
  memory.fill(z, 0, <usize>m << 3);
  for (let j = 0; j < nOut; j++) {
    const wj = load<f64>(w + (<usize>j << 3));
    if (wj == 0) continue;
    const sw = Math.sqrt(wj);
    const Wj = W + (<usize>(j * m) << 3);
    for (let k = 0; k < m; k++) setF64(row, k, sw * f64At(Wj, k));
    absorbRow(R, z, row, sw * (f64At(t, j) - f64At(b, j)), 0);
  }
  if (lambda > 0) ridge(R, z, Math.sqrt(lambda), x0);
}

/** Folds the rows s·e_k (right-hand side s·x0_k) of every input into (T, y). */
function ridge(T: usize, y: usize, s: f64, x0: usize): void {
  const m = mIn;
  for (let k = 0; k < m; k++) {
    memory.fill(row, 0, <usize>m << 3);
    setF64(row, k, s);
    absorbRow(T, y, row, s * f64At(x0, k), k);
  }
}

/** Householder reflector for column c of the column-major A (ld rows) from row c down: returns τ, leaves β on the diagonal and v (v_c = 1 implied) below it. */
function reflector(A: usize, ld: i32, c: i32): f64 {
  const col = A + (<usize>(c * ld) << 3);
  const alpha = f64At(col, c);
  let tail: f64 = 0;
  for (let i = c + 1; i < ld; i++) tail = Math.hypot(tail, f64At(col, i));
  if (tail == 0) return 0;
  const beta = alpha >= 0 ? -Math.hypot(alpha, tail) : Math.hypot(alpha, tail);
  const scale = 1 / (alpha - beta);
  for (let i = c + 1; i < ld; i++) setF64(col, i, f64At(col, i) * scale);
  setF64(col, c, beta);
  return (beta - alpha) / beta;
}

/** y ← (I − τvvᵀ) y over rows c.., v from column c of A. */
function reflect(A: usize, ld: i32, c: i32, tau: f64, y: usize): void {
  if (tau == 0) return;
  const v = A + (<usize>(c * ld) << 3);
  let s = f64At(y, c);
  for (let i = c + 1; i < ld; i++) s += f64At(v, i) * f64At(y, i);
  s *= tau;
  setF64(y, c, f64At(y, c) - s);
  for (let i = c + 1; i < ld; i++) setF64(y, i, f64At(y, i) - s * f64At(v, i));
}

/**
 * The minimum-norm least-squares move of the free inputs: cand_F = x0_F + argmin‖y‖ over
 * the minimisers y of ‖T_F y − (y0 − T x̃)‖, x̃ = x0 on F and x elsewhere; cand = x off F.
 * Returns the numerical rank of T_F (columns scaled to unit norm first, so units do not count).
 */
function solveFree(T: usize, y0: usize, x0: usize, x: usize): i32 {
  const m = mIn;
  let f = 0;
  for (let k = 0; k < m; k++) if (i32At(state, k) == FREE) setI32(cols, f++, k);
  // right-hand side, and cand = x̃
  for (let k = 0; k < m; k++) setF64(cand, k, i32At(state, k) == FREE ? f64At(x0, k) : f64At(x, k));
  for (let i = 0; i < m; i++) {
    const Ti = T + (<usize>(i * m) << 3);
    let sum = f64At(y0, i);
    for (let k = i; k < m; k++) sum -= f64At(Ti, k) * f64At(cand, k);
    setF64(res, i, sum);
  }
  if (f == 0) return 0;
  // Q = T_F with unit-norm columns (a zero column keeps scale 1 and pivots last)
  for (let a = 0; a < f; a++) {
    const k = i32At(cols, a);
    let norm: f64 = 0;
    for (let i = 0; i <= k; i++) norm = Math.hypot(norm, f64At(T + (<usize>(i * m) << 3), k));
    const s = norm > 0 ? 1 / norm : 1;
    setF64(colScale, k, s);
    const qa = Q + (<usize>(a * m) << 3);
    for (let i = 0; i < m; i++) setF64(qa, i, i <= k ? s * f64At(T + (<usize>(i * m) << 3), k) : 0);
  }
  // pivoted Householder QR: the largest remaining column first, until the rest is below the rank tolerance
  let rank = 0;
  let first: f64 = 0;
  const limit = f < m ? f : m;
  while (rank < limit) {
    let pivot = rank;
    let largest: f64 = -1;
    for (let a = rank; a < f; a++) {
      const qa = Q + (<usize>(a * m) << 3);
      let norm: f64 = 0;
      for (let i = rank; i < m; i++) norm += f64At(qa, i) * f64At(qa, i);
      if (norm > largest) {
        largest = norm;
        pivot = a;
      }
    }
    // squared norms: the columns are unit-norm, so nothing over- or underflows
    if (rank == 0) first = largest;
    if (!(largest > RANK_TOLERANCE * RANK_TOLERANCE * first)) break;
    if (pivot != rank) {
      const pa = Q + (<usize>(pivot * m) << 3);
      const ra = Q + (<usize>(rank * m) << 3);
      for (let i = 0; i < m; i++) {
        const v = f64At(pa, i);
        setF64(pa, i, f64At(ra, i));
        setF64(ra, i, v);
      }
      const kc = i32At(cols, pivot);
      setI32(cols, pivot, i32At(cols, rank));
      setI32(cols, rank, kc);
    }
    const tau = reflector(Q, m, rank);
    for (let a = rank + 1; a < f; a++) reflect(Q, m, rank, tau, Q + (<usize>(a * m) << 3));
    reflect(Q, m, rank, tau, res);
    rank++;
  }
  // e = R11⁻¹ c; and T12 ← R11⁻¹ R12 in place, column by column
  for (let a = rank - 1; a >= 0; a--) {
    let sum = f64At(res, a);
    for (let p = a + 1; p < rank; p++) sum -= f64At(Q + (<usize>(p * m) << 3), a) * f64At(e, p);
    setF64(e, a, sum / f64At(Q + (<usize>(a * m) << 3), a));
  }
  const nul = f - rank;
  if (nul > 0) {
    for (let c = rank; c < f; c++) {
      const qc = Q + (<usize>(c * m) << 3);
      for (let a = rank - 1; a >= 0; a--) {
        let sum = f64At(qc, a);
        for (let p = a + 1; p < rank; p++) sum -= f64At(Q + (<usize>(p * m) << 3), a) * f64At(qc, p);
        setF64(qc, a, sum / f64At(Q + (<usize>(a * m) << 3), a));
      }
    }
    // the move is y = S[e − T12 v; v]: least ‖y‖ over v is least squares in v with M = [S1 T12; S2], h = [S1 e; 0]
    for (let c = 0; c < nul; c++) {
      const mc = M + (<usize>(c * f) << 3);
      const qc = Q + (<usize>((rank + c) * m) << 3);
      for (let a = 0; a < rank; a++) setF64(mc, a, f64At(colScale, i32At(cols, a)) * f64At(qc, a));
      for (let a = rank; a < f; a++) setF64(mc, a, a == rank + c ? f64At(colScale, i32At(cols, a)) : 0);
    }
    for (let a = 0; a < f; a++) setF64(h, a, a < rank ? f64At(colScale, i32At(cols, a)) * f64At(e, a) : 0);
    for (let c = 0; c < nul; c++) {
      const tau = reflector(M, f, c);
      for (let d = c + 1; d < nul; d++) reflect(M, f, c, tau, M + (<usize>(d * f) << 3));
      reflect(M, f, c, tau, h);
    }
    // v = (upper nul×nul of M)⁻¹ h, kept in e[rank..]
    for (let c = nul - 1; c >= 0; c--) {
      let sum = f64At(h, c);
      for (let d = c + 1; d < nul; d++) sum -= f64At(M + (<usize>(d * f) << 3), c) * f64At(e, rank + d);
      setF64(e, rank + c, sum / f64At(M + (<usize>(c * f) << 3), c));
    }
    for (let a = 0; a < rank; a++) {
      let sum = f64At(e, a);
      for (let c = 0; c < nul; c++) sum -= f64At(Q + (<usize>((rank + c) * m) << 3), a) * f64At(e, rank + c);
      setF64(e, a, sum);
    }
  }
  for (let a = 0; a < f; a++) {
    const k = i32At(cols, a);
    setF64(cand, k, f64At(x0, k) + f64At(colScale, k) * f64At(e, a));
  }
  return rank;
}

/** ‖T x − y‖² (T upper triangular, row-major). */
function residualNorm(T: usize, y: usize, x: usize): f64 {
  const m = mIn;
  let sum: f64 = 0;
  for (let i = 0; i < m; i++) {
    const Ti = T + (<usize>(i * m) << 3);
    let r = -f64At(y, i);
    for (let k = i; k < m; k++) r += f64At(Ti, k) * f64At(x, k);
    sum += r * r;
  }
  return sum;
}

/**
 * Bounded least squares min ‖T x − y‖² over [lo, hi] from the feasible x, by the active set
 * above. Leaves the answer in x and the final state; returns the solves it took (at most
 * `budget`), negated when the first solve, with every unheld input free, was rank-deficient.
 */
function activeSet(T: usize, y: usize, lo: usize, hi: usize, x0: usize, x: usize, budget: i32): i32 {
  const m = mIn;
  for (let k = 0; k < m; k++) {
    setI32(state, k, f64At(lo, k) == f64At(hi, k) ? HELD : FREE);
    setI32(blocked, k, 0);
  }
  let solves = 0;
  let deficient = false;
  let released = -1;
  let all = true;
  let fBefore: f64 = Infinity;
  while (solves < budget) {
    // the free inputs' least-squares point, made feasible
    let feasible = false;
    while (solves < budget) {
      const free = countFree();
      const rank = solveFree(T, y, x0, x);
      if (solves++ == 0) deficient = rank < free;
      let alpha: f64 = 1;
      let limiter = -1;
      for (let k = 0; k < m; k++) {
        if (i32At(state, k) != FREE) continue;
        const ck = f64At(cand, k);
        const xk = f64At(x, k);
        const a = ck < f64At(lo, k) ? (xk - f64At(lo, k)) / (xk - ck) : ck > f64At(hi, k) ? (f64At(hi, k) - xk) / (ck - xk) : 1;
        if (a < alpha) {
          alpha = a;
          limiter = k;
        }
      }
      if (limiter < 0) {
        for (let k = 0; k < m; k++) if (i32At(state, k) == FREE) setF64(x, k, f64At(cand, k));
        for (let k = 0; k < m; k++) setI32(blocked, k, 0);
        feasible = true;
        break;
      }
      // the least-squares point clamped into the box, where that lowers f: it holds every
      // input it clamps at once (many bounds change in one solve, not one a solve)
      for (let k = 0; k < m; k++) setF64(h, k, i32At(state, k) == FREE ? Math.min(Math.max(f64At(cand, k), f64At(lo, k)), f64At(hi, k)) : f64At(x, k));
      if (residualNorm(T, y, h) < residualNorm(T, y, x)) {
        for (let k = 0; k < m; k++) {
          if (i32At(state, k) != FREE) continue;
          const ck = f64At(cand, k);
          if (ck < f64At(lo, k)) setI32(state, k, AT_LO);
          else if (ck > f64At(hi, k)) setI32(state, k, AT_HI);
          setF64(x, k, f64At(h, k));
        }
        for (let k = 0; k < m; k++) setI32(blocked, k, 0);
        continue;
      }
      // else move to the first crossing; every input reaching a bound there is held at it
      for (let k = 0; k < m; k++) {
        if (i32At(state, k) != FREE) continue;
        const ck = f64At(cand, k);
        const xk = f64At(x, k);
        const l = f64At(lo, k);
        const u = f64At(hi, k);
        const a = ck < l ? (xk - l) / (xk - ck) : ck > u ? (u - xk) / (ck - xk) : 1;
        if (k == limiter || a <= alpha * (1 + 1e-12)) {
          setF64(x, k, ck < l ? l : u);
          setI32(state, k, ck < l ? AT_LO : AT_HI);
        } else {
          setF64(x, k, Math.min(Math.max(xk + alpha * (ck - xk), l), u));
        }
      }
      // a bound released only to be hit again at once has a zero multiplier: leave it held
      if (alpha > 0) for (let k = 0; k < m; k++) setI32(blocked, k, 0);
      else if (limiter == released) setI32(blocked, limiter, 1);
    }
    if (!feasible) break;
    // KKT: release the held input whose gradient points most into the box, or, while
    // that keeps lowering f, every such input at once (fewer solves when many bounds
    // are wrong; one at a time is the fallback that always makes progress)
    const f = residualNorm(T, y, x);
    all = all && f < fBefore;
    fBefore = f;
    const k = mostViolated(T, y, x, all);
    if (k < 0) break;
    released = k;
  }
  return deficient ? -solves : solves;
}

function countFree(): i32 {
  let f = 0;
  for (let k = 0; k < mIn; k++) if (i32At(state, k) == FREE) f++;
  return f;
}

/**
 * The held, unblocked input whose gradient (per unit of its column) points into the box
 * furthest beyond rounding, −1 if none; frees it, or, with `all`, every such input.
 */
function mostViolated(T: usize, y: usize, x: usize, all: bool): i32 {
  const m = mIn;
  // res = T x − y, and |T||x| + |y| (the size of what each residual sums) in row
  for (let i = 0; i < m; i++) {
    const Ti = T + (<usize>(i * m) << 3);
    let r = -f64At(y, i);
    let size = Math.abs(f64At(y, i));
    for (let k = i; k < m; k++) {
      const term = f64At(Ti, k) * f64At(x, k);
      r += term;
      size += Math.abs(term);
    }
    setF64(res, i, r);
    setF64(row, i, size);
  }
  let worst: f64 = 0;
  let which = -1;
  for (let k = 0; k < m; k++) {
    const s = i32At(state, k);
    if (s == FREE || s == HELD || i32At(blocked, k) != 0) continue;
    let g: f64 = 0;
    let size: f64 = 0;
    let norm: f64 = 0;
    for (let i = 0; i <= k; i++) {
      const a = f64At(T + (<usize>(i * m) << 3), k);
      g += a * f64At(res, i);
      size += Math.abs(a) * f64At(row, i);
      norm = Math.hypot(norm, a);
    }
    const into = s == AT_LO ? -g : g; // > 0: moving off the bound lowers f
    if (!(into > RELEASE_TOLERANCE * size)) continue;
    const score = into / norm;
    if (all) setI32(state, k, FREE);
    if (score > worst) {
      worst = score;
      which = k;
    }
  }
  if (which >= 0) setI32(state, which, FREE);
  return which;
}

/**
 * Among the optima, the one nearest x0: for a ladder of ε (√ε from 1e-1 to 1e-5 of the
 * largest column), min ‖R x − z‖² + ε‖x − x0‖² has one minimiser, whose active set, for ε
 * small enough, is that of the nearest optimum; the exact minimum-norm solve on each such
 * active set replaces x where it is feasible, as good, and nearer. (ε is kept well above
 * rounding, so that the active set resolves the ε terms.) Returns the solves it took.
 */
function nearestOptimum(lo: usize, hi: usize, x0: usize, x: usize, budget: i32): i32 {
  const m = mIn;
  const fBest = residualNorm(R, z, x);
  const scale = fBest + residualNorm(R, z, x0) + 1e-300;
  let largest: f64 = 0;
  for (let k = 0; k < m; k++) {
    let norm: f64 = 0;
    for (let i = 0; i <= k; i++) norm = Math.hypot(norm, f64At(R + (<usize>(i * m) << 3), k));
    largest = Math.max(largest, norm);
  }
  memory.copy(best, x, <usize>m << 3);
  let dBest = distance(best, x0);
  let solves = 0;
  for (let rung = 1; rung <= 5 && solves < budget; rung++) {
    memory.copy(R2, R, <usize>(m * m) << 3);
    memory.copy(z2, z, <usize>m << 3);
    ridge(R2, z2, Math.pow(10, -rung) * largest, x0);
    memory.copy(x, best, <usize>m << 3);
    const more = activeSet(R2, z2, lo, hi, x0, x, budget - solves);
    solves += (more < 0 ? -more : more) + 1;
    // the exact minimum-norm solve on that active set
    solveFree(R, z, x0, x);
    let feasible = true;
    for (let k = 0; k < m; k++) {
      const ck = f64At(cand, k);
      const slack = 1e-12 * (1 + Math.abs(ck));
      if (!(ck >= f64At(lo, k) - slack && ck <= f64At(hi, k) + slack)) feasible = false;
      setF64(cand, k, Math.min(Math.max(ck, f64At(lo, k)), f64At(hi, k)));
    }
    if (!feasible || residualNorm(R, z, cand) > fBest + 1e-12 * scale) continue;
    const d = distance(cand, x0);
    if (d < dBest) {
      dBest = d;
      memory.copy(best, cand, <usize>m << 3);
    }
  }
  memory.copy(x, best, <usize>m << 3);
  return solves;
}

function distance(a: usize, b: usize): f64 {
  let sum: f64 = 0;
  for (let k = 0; k < mIn; k++) sum += (f64At(a, k) - f64At(b, k)) ** 2;
  return sum;
}

/**
 * The same problem by the active set above, for small m (m·m workspace, O(m³) a solve):
 * exact whatever the rank or conditioning of W. `maxIterations` caps the least-squares
 * solves; `tolerance` is unused (the stop is the KKT test). Extra workspace after the
 * common one: setpointNewtonBytes in util/layout.ts.
 */
export function f64_setpoint__newton(model: usize, ws: usize, lambda: f64, maxIterations: i32, tolerance: f64): i32 {
  loadModel(model, ws);
  newtonSetup(ws);
  const m = mIn;
  const lo = vec(ws, SP_LO);
  const hi = vec(ws, SP_HI);
  const x0 = vec(ws, SP_X0);
  const x = vec(ws, SP_X);
  compress(ws, lambda);
  let solves = activeSet(R, z, lo, hi, x0, x, maxIterations);
  const deficient = solves < 0;
  if (solves < 0) solves = -solves;
  // many optima (λ = 0, W rank-deficient) and some bound held: look for the one nearest x0
  let anyHeld = false;
  for (let k = 0; k < m; k++) if (i32At(state, k) == AT_LO || i32At(state, k) == AT_HI) anyHeld = true;
  if (deficient && lambda == 0 && anyHeld) solves += nearestOptimum(lo, hi, x0, x, maxIterations - solves);
  finish(ws, lambda, solves, 0);
  return solves;
}
