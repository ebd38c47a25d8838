// Seeded test data: the same seed gives the same batches on every run.
import { mulberry32, normalFrom } from "../../host/engine/init.js";

export interface Rng {
  uniform(lo?: number, hi?: number): number;
  /** Standard normal, Box–Muller. */
  normal(): number;
}

export function rng(seed: number): Rng {
  const next = mulberry32(seed);
  return { uniform: (lo = 0, hi = 1) => lo + (hi - lo) * next(), normal: normalFrom(next) };
}

export function normals(r: Rng, length: number): Float32Array {
  return Float32Array.from({ length }, () => r.normal());
}

/** y = W x + b (+ noise·N(0,1)) for each row of x, computed in f64. */
export function linearTargets(
  x: Float32Array, W: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number, noise = 0, r?: Rng,
): Float32Array {
  const batch = x.length / m;
  const y = new Float32Array(batch * n);
  for (let s = 0; s < batch; s++) {
    for (let j = 0; j < n; j++) {
      let acc = b[j]!;
      for (let k = 0; k < m; k++) acc += W[j * m + k]! * x[s * m + k]!;
      y[s * n + j] = acc + (noise && r ? noise * r.normal() : 0);
    }
  }
  return y;
}

/** Largest |a[i] − b[i]| / max(1, |b[i]|), with the index, for failure messages. */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>): { error: number; index: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let error = 0;
  let index = -1;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!));
    if (!(e <= error)) {
      error = e;
      index = i;
    }
  }
  return { error, index };
}

/** Byte-for-byte equality (msgpackr tags decoded buffers with a cached DataView, which toEqual would see). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}
