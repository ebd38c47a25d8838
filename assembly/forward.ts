// Forward pass: gt[j·S + s] = b_j + Σ_k W[j,k] · xt[k·S + s], samples in lanes.
// Every lane 0..S of gt is written (pad lanes too; the loss pass clears them).

/**
 * SIMD forward, register block 4 outputs × 8 samples (8 f32x4 accumulators),
 * W entries broadcast with load32_splat. `stride` (S) must be a multiple of 4;
 * xt and gt must be 16-byte aligned.
 */
export function f32_forward__wasmsimd_4x8(theta: usize, m: i32, n: i32, xt: usize, gt: usize, stride: i32): void {
  const rowBytes = <usize>stride << 2;
  const wRow = <usize>m << 2;
  const bias = theta + (<usize>(n * m) << 2);
  let s = 0;
  // main loop: 8 samples at a time
  for (; s + 8 <= stride; s += 8) {
    const x0 = xt + (<usize>s << 2);
    const g0 = gt + (<usize>s << 2);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const bj = bias + (<usize>j << 2);
      let a00 = v128.load32_splat(bj), a01 = a00;
      let a10 = v128.load32_splat(bj, 4), a11 = a10;
      let a20 = v128.load32_splat(bj, 8), a21 = a20;
      let a30 = v128.load32_splat(bj, 12), a31 = a30;
      let pw = theta + <usize>j * wRow;
      let px = x0;
      for (let k = 0; k < m; k++) {
        const v0 = v128.load(px);
        const v1 = v128.load(px, 16);
        const c0 = v128.load32_splat(pw);
        const c1 = v128.load32_splat(pw + wRow);
        const c2 = v128.load32_splat(pw + 2 * wRow);
        const c3 = v128.load32_splat(pw + 3 * wRow);
        a00 = f32x4.add(a00, f32x4.mul(c0, v0)); a01 = f32x4.add(a01, f32x4.mul(c0, v1));
        a10 = f32x4.add(a10, f32x4.mul(c1, v0)); a11 = f32x4.add(a11, f32x4.mul(c1, v1));
        a20 = f32x4.add(a20, f32x4.mul(c2, v0)); a21 = f32x4.add(a21, f32x4.mul(c2, v1));
        a30 = f32x4.add(a30, f32x4.mul(c3, v0)); a31 = f32x4.add(a31, f32x4.mul(c3, v1));
        px += rowBytes;
        pw += 4;
      }
      const o = g0 + <usize>j * rowBytes;
      v128.store(o, a00); v128.store(o, a01, 16);
      v128.store(o + rowBytes, a10); v128.store(o + rowBytes, a11, 16);
      v128.store(o + 2 * rowBytes, a20); v128.store(o + 2 * rowBytes, a21, 16);
      v128.store(o + 3 * rowBytes, a30); v128.store(o + 3 * rowBytes, a31, 16);
    }
    // output tail: one output × 8 samples
    for (; j < n; j++) {
      let a0 = v128.load32_splat(bias + (<usize>j << 2)), a1 = a0;
      let pw = theta + <usize>j * wRow;
      let px = x0;
      for (let k = 0; k < m; k++) {
        const c = v128.load32_splat(pw);
        a0 = f32x4.add(a0, f32x4.mul(c, v128.load(px)));
        a1 = f32x4.add(a1, f32x4.mul(c, v128.load(px, 16)));
        px += rowBytes;
        pw += 4;
      }
      const o = g0 + <usize>j * rowBytes;
      v128.store(o, a0); v128.store(o, a1, 16);
    }
  }
  // sample tail: one vector of 4 samples
  if (s < stride) {
    const x0 = xt + (<usize>s << 2);
    const g0 = gt + (<usize>s << 2);
    for (let j = 0; j < n; j++) {
      let a = v128.load32_splat(bias + (<usize>j << 2));
      let pw = theta + <usize>j * wRow;
      let px = x0;
      for (let k = 0; k < m; k++) {
        a = f32x4.add(a, f32x4.mul(v128.load32_splat(pw), v128.load(px)));
        px += rowBytes;
        pw += 4;
      }
      v128.store(g0 + <usize>j * rowBytes, a);
    }
  }
}

/** Scalar reference of the forward pass, same layout and contract. */
export function f32_forward__scalar(theta: usize, m: i32, n: i32, xt: usize, gt: usize, stride: i32): void {
  const bias = theta + (<usize>(n * m) << 2);
  for (let j = 0; j < n; j++) {
    const w = theta + (<usize>(j * m) << 2);
    const b = load<f32>(bias + (<usize>j << 2));
    for (let s = 0; s < stride; s++) {
      let acc = b;
      for (let k = 0; k < m; k++) {
        acc += load<f32>(w + (<usize>k << 2)) * load<f32>(xt + (<usize>(k * stride + s) << 2));
      }
      store<f32>(gt + (<usize>(j * stride + s) << 2), acc);
    }
  }
}
