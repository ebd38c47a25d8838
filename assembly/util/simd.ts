// Small vector helpers shared by the kernels.

/** Sum of the four lanes, in the fixed order (l0 + l2) + (l1 + l3). */
@inline export function hsum(v: v128): f32 {
  const t = f32x4.add(v, f32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1);
}

/** Adds v·0 to `acc`: any NaN or ±Inf lane in v leaves NaN in acc for good. */
@inline export function poison(acc: v128, v: v128): v128 {
  return f32x4.add(acc, f32x4.mul(v, f32x4.splat(0)));
}

/** True when every lane of a `poison` accumulator is still finite. */
@inline export function clean(acc: v128): bool {
  return !v128.any_true(f32x4.ne(acc, acc));
}
