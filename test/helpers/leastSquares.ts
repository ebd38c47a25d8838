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
