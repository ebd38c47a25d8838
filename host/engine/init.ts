// Deterministic initial parameters: the same seed gives the same bytes on any machine.

/** mulberry32: a 32-bit seeded generator of uniform numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws (Box–Muller) from a uniform generator such as mulberry32. */
export function normalFrom(next: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

/** nn.Linear's default ranges, U(−1/√m, 1/√m) for W and b, drawn from `seed` (W row by row, then b). */
export function linearInit(inputs: number, outputs: number, seed: number): { W: Float32Array; b: Float32Array } {
  const next = mulberry32(seed);
  const bound = 1 / Math.sqrt(inputs);
  const draw = () => (2 * next() - 1) * bound;
  const W = Float32Array.from({ length: inputs * outputs }, draw);
  const b = Float32Array.from({ length: outputs }, draw);
  return { W, b };
}
