// Closed-form least squares in f64: the independent truth for convergence tests.

/** Solves A z = c for a symmetric positive-definite A (d×d, row-major) by Cholesky. */
function solveSpd(A: Float64Array, c: Float64Array, d: number): Float64Array {
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = A[i * d + j]!;
      for (let k = 0; k < j; k++) sum -= L[i * d + k]! * L[j * d + k]!;
      L[i * d + j] = i === j ? Math.sqrt(sum) : sum / L[j * d + j]!;
    }
  }
  const z = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let sum = c[i]!;
    for (let k = 0; k < i; k++) sum -= L[i * d + k]! * z[k]!;
    z[i] = sum / L[i * d + i]!;
  }
  for (let i = d - 1; i >= 0; i--) {
    let sum = z[i]!;
    for (let k = i + 1; k < d; k++) sum -= L[k * d + i]! * z[k]!;
    z[i] = sum / L[i * d + i]!;
  }
  return z;
}

/**
 * argmin over W, b of Σ_s ‖W x_s + b − y_s‖² + (l2·B·n/2)·‖W‖², which is the
 * minimiser of the kernels' mean loss plus (l2/2)‖W‖². Via the normal
 * equations of the augmented design [x 1].
 */
export function leastSquares(x: ArrayLike<number>, y: ArrayLike<number>, m: number, n: number, l2 = 0): { W: Float64Array; b: Float64Array } {
  const batch = x.length / m;
  const d = m + 1;
  const A = new Float64Array(d * d);
  for (let s = 0; s < batch; s++) {
    for (let i = 0; i < d; i++) {
      const xi = i < m ? x[s * m + i]! : 1;
      for (let k = 0; k < d; k++) A[i * d + k]! += xi * (k < m ? x[s * m + k]! : 1);
    }
  }
  // mean loss (1/(B·n)) Σ r² has gradient (2/(B·n)) Xᵀr; adding l2·W means A += (l2·B·n/2)·I on W's block
  for (let i = 0; i < m; i++) A[i * d + i]! += (l2 * batch * n) / 2;
  const W = new Float64Array(n * m);
  const b = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const c = new Float64Array(d);
    for (let s = 0; s < batch; s++) {
      for (let i = 0; i < d; i++) c[i]! += (i < m ? x[s * m + i]! : 1) * y[s * n + j]!;
    }
    const z = solveSpd(A, c, d);
    W.set(z.subarray(0, m), j * m);
    b[j] = z[m]!;
  }
  return { W, b };
}

/**
 * The minimum-norm least-squares solution of A y ≈ c (A rows×cols, row-major, any rank):
 * y = Σ_i v_i (u_iᵀc)/σ_i over the singular values above rcond·σ_max, by one-sided
 * Jacobi SVD (Hestenes) in f64, which keeps the accuracy of A's own condition number.
 * Also returns the singular values, largest first.
 */
export function minNormLeastSquares(A: ArrayLike<number>, c: ArrayLike<number>, rows: number, cols: number, rcond = 1e-11): { y: Float64Array; sigma: Float64Array; rank: number } {
  // U holds A's columns (column-major), rotated until they are orthogonal; V the rotations
  const U = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let k = 0; k < cols; k++) U[k * rows + i] = A[i * cols + k]!;
  const V = new Float64Array(cols * cols);
  for (let k = 0; k < cols; k++) V[k * cols + k] = 1;
  for (let sweep = 0; sweep < 80; sweep++) {
    let rotated = false;
    for (let p = 0; p < cols - 1; p++) {
      for (let q = p + 1; q < cols; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < rows; i++) {
          const up = U[p * rows + i]!;
          const uq = U[q * rows + i]!;
          alpha += up * up;
          beta += uq * uq;
          gamma += up * uq;
        }
        if (gamma === 0 || Math.abs(gamma) <= 1e-16 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const cs = 1 / Math.sqrt(1 + t * t);
        const sn = cs * t;
        for (let i = 0; i < rows; i++) {
          const up = U[p * rows + i]!;
          const uq = U[q * rows + i]!;
          U[p * rows + i] = cs * up - sn * uq;
          U[q * rows + i] = sn * up + cs * uq;
        }
        for (let i = 0; i < cols; i++) {
          const vp = V[p * cols + i]!;
          const vq = V[q * cols + i]!;
          V[p * cols + i] = cs * vp - sn * vq;
          V[q * cols + i] = sn * vp + cs * vq;
        }
      }
    }
    if (!rotated) break;
  }
  const norms = Array.from({ length: cols }, (_, k) => Math.hypot(...U.subarray(k * rows, (k + 1) * rows)));
  const largest = Math.max(0, ...norms);
  const kept = norms.flatMap((s, k) => (s > rcond * largest ? [k] : []));
  /** y += A⁺ r */
  const apply = (r: ArrayLike<number>, y: Float64Array) => {
    for (const k of kept) {
      let ur = 0;
      for (let i = 0; i < rows; i++) ur += U[k * rows + i]! * r[i]!;
      const s = norms[k]!;
      for (let i = 0; i < cols; i++) y[i]! += (V[k * cols + i]! * ur) / (s * s);
    }
  };
  const y = new Float64Array(cols);
  apply(c, y);
  // one step of iterative refinement on the residual: the answer to the accuracy of A's condition
  const r = Float64Array.from({ length: rows }, (_, i) => {
    let sum = c[i]!;
    for (let k = 0; k < cols; k++) sum -= A[i * cols + k]! * y[k]!;
    return sum;
  });
  apply(r, y);
  return { y, sigma: Float64Array.from(norms).sort().reverse(), rank: kept.length };
}
