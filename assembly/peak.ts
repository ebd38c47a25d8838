// The machine's attainable WebAssembly SIMD rate, for benchmarks to compare
// against: independent f32x4 multiply-add chains with no memory traffic.

/**
 * Runs `iterations` rounds of 12 independent chains acc = acc·a + c and
 * returns a lane sum so the work cannot be dropped. FLOPs: 96 per round.
 */
export function f32_peak__wasmsimd_madd12(iterations: i32, a: f32, c: f32): f32 {
  const va = f32x4.splat(a);
  const vc = f32x4.splat(c);
  let r0 = f32x4.splat(1), r1 = f32x4.splat(2), r2 = f32x4.splat(3), r3 = f32x4.splat(4);
  let r4 = f32x4.splat(5), r5 = f32x4.splat(6), r6 = f32x4.splat(7), r7 = f32x4.splat(8);
  let r8 = f32x4.splat(9), r9 = f32x4.splat(10), r10 = f32x4.splat(11), r11 = f32x4.splat(12);
  for (let i = 0; i < iterations; i++) {
    r0 = f32x4.add(f32x4.mul(r0, va), vc); r1 = f32x4.add(f32x4.mul(r1, va), vc);
    r2 = f32x4.add(f32x4.mul(r2, va), vc); r3 = f32x4.add(f32x4.mul(r3, va), vc);
    r4 = f32x4.add(f32x4.mul(r4, va), vc); r5 = f32x4.add(f32x4.mul(r5, va), vc);
    r6 = f32x4.add(f32x4.mul(r6, va), vc); r7 = f32x4.add(f32x4.mul(r7, va), vc);
    r8 = f32x4.add(f32x4.mul(r8, va), vc); r9 = f32x4.add(f32x4.mul(r9, va), vc);
    r10 = f32x4.add(f32x4.mul(r10, va), vc); r11 = f32x4.add(f32x4.mul(r11, va), vc);
  }
  const s = f32x4.add(
    f32x4.add(f32x4.add(r0, r1), f32x4.add(r2, r3)),
    f32x4.add(f32x4.add(f32x4.add(r4, r5), f32x4.add(r6, r7)), f32x4.add(f32x4.add(r8, r9), f32x4.add(r10, r11))),
  );
  return f32x4.extract_lane(s, 0);
}
