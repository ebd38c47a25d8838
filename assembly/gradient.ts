// Weight gradient: grad[j·m + k] = Σ_s gt[j·S + s] · xt[k·S + s] + l2 · W[j,k].
// The sum runs over all S lanes; the loss pass has zeroed the pad lanes of gt.
// The bias gradient is written by the loss pass.
import { hsum } from "./util/simd";

/**
 * SIMD weight gradient, register block 2 outputs × 4 inputs (8 f32x4
 * accumulators, reduced across lanes once per block). An input block that runs
 * past m re-reads row m−1 and discards it. xt, gt 16-byte aligned; S a multiple of 4.
 */
export function f32_weight_grad__wasmsimd_2x4(
  theta: usize, m: i32, n: i32, xt: usize, gt: usize, stride: i32, l2: f32, grad: usize,
): void {
  const rowBytes = <usize>stride << 2;
  const last = m - 1;
  // inputs outer: four xt rows stay in L1 while the (smaller) gt streams past them
  for (let k = 0; k < m; k += 4) {
    const x0 = xt + <usize>k * rowBytes;
    const x1 = xt + <usize>min(k + 1, last) * rowBytes;
    const x2 = xt + <usize>min(k + 2, last) * rowBytes;
    const x3 = xt + <usize>min(k + 3, last) * rowBytes;
    let j = 0;
    // main loop: pairs of outputs
    for (; j + 2 <= n; j += 2) {
      const g0 = gt + <usize>j * rowBytes;
      const g1 = g0 + rowBytes;
      let a00 = f32x4.splat(0), a01 = a00, a02 = a00, a03 = a00;
      let a10 = a00, a11 = a00, a12 = a00, a13 = a00;
      for (let p: usize = 0; p < rowBytes; p += 16) {
        const u0 = v128.load(g0 + p);
        const u1 = v128.load(g1 + p);
        const v0 = v128.load(x0 + p);
        const v1 = v128.load(x1 + p);
        const v2 = v128.load(x2 + p);
        const v3 = v128.load(x3 + p);
        a00 = f32x4.add(a00, f32x4.mul(u0, v0)); a01 = f32x4.add(a01, f32x4.mul(u0, v1));
        a02 = f32x4.add(a02, f32x4.mul(u0, v2)); a03 = f32x4.add(a03, f32x4.mul(u0, v3));
        a10 = f32x4.add(a10, f32x4.mul(u1, v0)); a11 = f32x4.add(a11, f32x4.mul(u1, v1));
        a12 = f32x4.add(a12, f32x4.mul(u1, v2)); a13 = f32x4.add(a13, f32x4.mul(u1, v3));
      }
      storeRow4(theta, grad, m, j, k, l2, a00, a01, a02, a03);
      storeRow4(theta, grad, m, j + 1, k, l2, a10, a11, a12, a13);
    }
    // output tail: one output × 4 inputs
    if (j < n) {
      const g0 = gt + <usize>j * rowBytes;
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      for (let p: usize = 0; p < rowBytes; p += 16) {
        const u = v128.load(g0 + p);
        a0 = f32x4.add(a0, f32x4.mul(u, v128.load(x0 + p)));
        a1 = f32x4.add(a1, f32x4.mul(u, v128.load(x1 + p)));
        a2 = f32x4.add(a2, f32x4.mul(u, v128.load(x2 + p)));
        a3 = f32x4.add(a3, f32x4.mul(u, v128.load(x3 + p)));
      }
      storeRow4(theta, grad, m, j, k, l2, a0, a1, a2, a3);
    }
  }
}

/** Reduces four accumulators into grad[j, k..k+3] (only columns < m), adding l2·W. */
@inline function storeRow4(
  theta: usize, grad: usize, m: i32, j: i32, k: i32, l2: f32, a0: v128, a1: v128, a2: v128, a3: v128,
): void {
  const at = <usize>(j * m + k) << 2;
  store<f32>(grad + at, hsum(a0) + l2 * load<f32>(theta + at));
  if (k + 1 < m) store<f32>(grad + at, hsum(a1) + l2 * load<f32>(theta + at, 4), 4);
  if (k + 2 < m) store<f32>(grad + at, hsum(a2) + l2 * load<f32>(theta + at, 8), 8);
  if (k + 3 < m) store<f32>(grad + at, hsum(a3) + l2 * load<f32>(theta + at, 12), 12);
}

/** Scalar reference of the weight gradient, same layout and contract. */
export function f32_weight_grad__scalar(
  theta: usize, m: i32, n: i32, xt: usize, gt: usize, stride: i32, l2: f32, grad: usize,
): void {
  for (let j = 0; j < n; j++) {
    const g = gt + (<usize>(j * stride) << 2);
    for (let k = 0; k < m; k++) {
      const x = xt + (<usize>(k * stride) << 2);
      let acc: f32 = 0;
      for (let s = 0; s < stride; s++) acc += load<f32>(g + (<usize>s << 2)) * load<f32>(x + (<usize>s << 2));
      const at = <usize>(j * m + k) << 2;
      store<f32>(grad + at, acc + l2 * load<f32>(theta + at));
    }
  }
}
