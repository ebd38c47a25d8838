// Setpoint search: the inputs x that drive the model's predictions to a target,
//   minimise f(x) = Σ_j w_j (ŷ_j(x) − t_j)² + λ‖x − x0‖²,  ŷ = W x + b (raw units)
//   subject to lo ≤ x ≤ hi (the host folds bounds, move limits and held inputs
//   into one box). A convex quadratic over a box: accelerated projected gradient
//   (FISTA) in f64, with a diagonal (Jacobi) preconditioner, backtracking on the
//   step and adaptive restart of the momentum.
import { headerM, headerN, spWOffset, spVectorOffset, spRawOffset, spNewtonOffset, SP_B, SP_TARGET, SP_WEIGHT, SP_AX, SP_AX_PREV, SP_AX_NEW, SP_AY, SP_R,
  SP_LO, SP_HI, SP_X0, SP_X, SP_X_PREV, SP_Y, SP_G, SP_S, SP_X_NEW, SP_RESULT } from "./util/layout";
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

/** The answer's slots: Ax of the final x, and the result (objective, iterations, last move). */
function finish(ws: usize, lambda: f64, iterations: i32, lastMove: f64): void {
  multiply(vec(ws, SP_X), vec(ws, SP_AX));
  const result = vec(ws, SP_RESULT);
  store<f64>(result, objective(ws, vec(ws, SP_X), vec(ws, SP_AX), lambda));
  store<f64>(result + 8, <f64>iterations);
  store<f64>(result + 16, lastMove);
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
    if (stalled || move <= tolerance) break;
  }
  // the answer goes to the SP_X slot whichever buffer holds it
  if (x != vec(ws, SP_X)) memory.copy(vec(ws, SP_X), x, <usize>m << 3);
  finish(ws, lambda, iterations, lastMove);
  return iterations;
}

/**
 * The same problem by projected Newton (Bertsekas), for small m: the quadratic
 * f(x) = ½xᵀHx + cᵀx with H = 2(WᵀDW + λI), c = 2(WᵀD(b − t) − λx0). Each iteration
 * takes the inputs that are free (not held at a bound by the gradient), solves
 * H_FF d = −g_F by Cholesky (with a small ridge if H_FF is singular), and searches
 * along the projected path. Once the active set is right one step is exact, so it
 * needs a handful of iterations where FISTA needs thousands. Extra workspace after
 * the common one: H f64[m·m], L f64[m·m], free i32[m] (setpointNewtonBytes).
 * Stops when no input's projected, Jacobi-scaled step exceeds tolerance·(1 + |x|).
 */
export function f64_setpoint__newton(model: usize, ws: usize, lambda: f64, maxIterations: i32, tolerance: f64): i32 {
  loadModel(model, ws);
  const m = mIn;
  const n = nOut;
  const w = vec(ws, SP_WEIGHT);
  const t = vec(ws, SP_TARGET);
  const b = vec(ws, SP_B);
  const lo = vec(ws, SP_LO);
  const hi = vec(ws, SP_HI);
  const x0 = vec(ws, SP_X0);
  const x = vec(ws, SP_X);
  const xNew = vec(ws, SP_X_NEW);
  const g = vec(ws, SP_G);
  const d = vec(ws, SP_Y);
  const r = vec(ws, SP_R);
  const H = spNewtonOffset(ws, m, n);
  const L = H + (<usize>(m * m) << 3);
  const free = L + (<usize>(m * m) << 3);
  // H = 2(WᵀDW + λI), upper and lower halves
  for (let i = 0; i < m; i++) {
    for (let k = i; k < m; k++) {
      let sum: f64 = 0;
      for (let j = 0; j < n; j++) {
        const row = W + (<usize>(j * m) << 3);
        sum += load<f64>(w + (<usize>j << 3)) * load<f64>(row + (<usize>i << 3)) * load<f64>(row + (<usize>k << 3));
      }
      const h = 2 * (sum + (i == k ? lambda : 0));
      store<f64>(H + (<usize>(i * m + k) << 3), h);
      store<f64>(H + (<usize>(k * m + i) << 3), h);
    }
  }
  // c = 2(WᵀD(b − t) − λx0), kept in SP_S (FISTA's preconditioner slot, unused here)
  const c = vec(ws, SP_S);
  for (let j = 0; j < n; j++) store<f64>(r + (<usize>j << 3), load<f64>(w + (<usize>j << 3)) * (load<f64>(b + (<usize>j << 3)) - load<f64>(t + (<usize>j << 3))));
  multiplyTransposed(r, c);
  for (let k = 0; k < m; k++) store<f64>(c + (<usize>k << 3), 2 * (load<f64>(c + (<usize>k << 3)) - lambda * load<f64>(x0 + (<usize>k << 3))));

  let iterations = 0;
  let lastMove: f64 = Infinity;
  while (iterations < maxIterations) {
    iterations++;
    // gradient g = Hx + c, and the optimality measure: the projected Jacobi step
    let worst: f64 = 0;
    let freeCount = 0;
    for (let k = 0; k < m; k++) {
      let gk = load<f64>(c + (<usize>k << 3));
      const row = H + (<usize>(k * m) << 3);
      for (let i = 0; i < m; i++) gk += load<f64>(row + (<usize>i << 3)) * load<f64>(x + (<usize>i << 3));
      store<f64>(g + (<usize>k << 3), gk);
      const xk = load<f64>(x + (<usize>k << 3));
      const lk = load<f64>(lo + (<usize>k << 3));
      const uk = load<f64>(hi + (<usize>k << 3));
      const hkk = load<f64>(row + (<usize>k << 3));
      const step = hkk > 0 ? gk / hkk : gk;
      worst = Math.max(worst, Math.abs(xk - Math.min(Math.max(xk - step, lk), uk)) / (1 + Math.abs(xk)));
      const held = lk == uk || (xk <= lk && gk > 0) || (xk >= uk && gk < 0);
      if (!held) store<i32>(free + (<usize>(freeCount++) << 2), k);
    }
    lastMove = worst;
    if (worst <= tolerance || freeCount == 0) break;
    // Cholesky of H_FF (+ ridge when singular), then d_F = −H_FF⁻¹ g_F
    let ridge: f64 = 0;
    while (!choleskyFree(H, L, free, freeCount, m, ridge)) {
      let scale: f64 = 0;
      for (let a = 0; a < freeCount; a++) {
        const k = load<i32>(free + (<usize>a << 2));
        scale = Math.max(scale, load<f64>(H + (<usize>(k * m + k) << 3)));
      }
      ridge = ridge == 0 ? Math.max(scale, 1e-300) * 1e-12 : ridge * 100;
    }
    solveFree(L, free, freeCount, m, g, d);
    // projected search: x(α) = P(x + αd), Armijo on the exact quadratic
    const f0 = quadratic(H, c, x, m);
    let alpha: f64 = 1;
    let accepted = false;
    for (let tries = 0; tries < 60; tries++) {
      memory.copy(xNew, x, <usize>m << 3);
      let descent: f64 = 0;
      for (let a = 0; a < freeCount; a++) {
        const k = load<i32>(free + (<usize>a << 2));
        const at = <usize>k << 3;
        const v = Math.min(Math.max(load<f64>(x + at) + alpha * load<f64>(d + at), load<f64>(lo + at)), load<f64>(hi + at));
        store<f64>(xNew + at, v);
        descent += load<f64>(g + at) * (v - load<f64>(x + at));
      }
      const f1 = quadratic(H, c, xNew, m);
      if (f1 <= f0 + 1e-4 * descent || f1 < f0) {
        accepted = true;
        break;
      }
      alpha *= 0.5;
    }
    if (!accepted) break; // no decrease left to find: as good as f64 allows
    memory.copy(x, xNew, <usize>m << 3);
  }
  finish(ws, lambda, iterations, lastMove);
  return iterations;
}

/** ½xᵀHx + cᵀx. */
function quadratic(H: usize, c: usize, x: usize, m: i32): f64 {
  let f: f64 = 0;
  for (let k = 0; k < m; k++) {
    const row = H + (<usize>(k * m) << 3);
    let hx: f64 = 0;
    for (let i = 0; i < m; i++) hx += load<f64>(row + (<usize>i << 3)) * load<f64>(x + (<usize>i << 3));
    const xk = load<f64>(x + (<usize>k << 3));
    f += xk * (0.5 * hx + load<f64>(c + (<usize>k << 3)));
  }
  return f;
}

/** L Lᵀ = H_FF + ridge·I over the free inputs (L packed as an F×F block of an m×m array); false if not positive definite. */
function choleskyFree(H: usize, L: usize, free: usize, count: i32, m: i32, ridge: f64): bool {
  for (let a = 0; a < count; a++) {
    const ka = load<i32>(free + (<usize>a << 2));
    for (let e = 0; e <= a; e++) {
      const ke = load<i32>(free + (<usize>e << 2));
      let sum = load<f64>(H + (<usize>(ka * m + ke) << 3)) + (a == e ? ridge : 0);
      for (let p = 0; p < e; p++) sum -= load<f64>(L + (<usize>(a * m + p) << 3)) * load<f64>(L + (<usize>(e * m + p) << 3));
      if (a == e) {
        if (!(sum > 1e-300)) return false;
        store<f64>(L + (<usize>(a * m + a) << 3), Math.sqrt(sum));
      } else {
        store<f64>(L + (<usize>(a * m + e) << 3), sum / load<f64>(L + (<usize>(e * m + e) << 3)));
      }
    }
  }
  return true;
}

/** d_F = −(L Lᵀ)⁻¹ g_F, written at the free inputs' places of d (the others are 0). */
function solveFree(L: usize, free: usize, count: i32, m: i32, g: usize, d: usize): void {
  memory.fill(d, 0, <usize>m << 3);
  // forward: L z = −g_F (z kept in d at the free places, in free order via a scratch walk)
  for (let a = 0; a < count; a++) {
    let sum = -load<f64>(g + (<usize>load<i32>(free + (<usize>a << 2)) << 3));
    for (let p = 0; p < a; p++) sum -= load<f64>(L + (<usize>(a * m + p) << 3)) * load<f64>(d + (<usize>load<i32>(free + (<usize>p << 2)) << 3));
    store<f64>(d + (<usize>load<i32>(free + (<usize>a << 2)) << 3), sum / load<f64>(L + (<usize>(a * m + a) << 3)));
  }
  // backward: Lᵀ d_F = z
  for (let a = count - 1; a >= 0; a--) {
    const ka = load<i32>(free + (<usize>a << 2));
    let sum = load<f64>(d + (<usize>ka << 3));
    for (let p = a + 1; p < count; p++) sum -= load<f64>(L + (<usize>(p * m + a) << 3)) * load<f64>(d + (<usize>load<i32>(free + (<usize>p << 2)) << 3));
    store<f64>(d + (<usize>ka << 3), sum / load<f64>(L + (<usize>(a * m + a) << 3)));
  }
}
