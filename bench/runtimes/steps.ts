// Training steps per second of the SIMD kernel in whatever runtime runs this
// module (Node, Bun, Deno, a browser page): gradline/kernel brings the module up,
// one model of each shape trains on a batch resident in the shared memory, and
// the WebAssembly SIMD peak loop runs in the same rounds as the ceiling.
import { loadKernel, placeModel, Status, writeHeader, type KernelSource } from "../../host/kernel/index.js";
import { mulberry32 } from "../../host/engine/init.js";
import { batched, measureRounds } from "../rounds.js";

export const SHAPES = [
  { m: 16, n: 4, B: 64 },
  { m: 256, n: 64, B: 1024 },
] as const;

/** Small enough that thousands of timed steps stay far from divergence. */
const LR = 1e-4;
const PEAK_ITERATIONS = 20_000;
const SAMPLE_MS = 1;
const ROUND_OPTIONS = { rounds: 7, bench: { time: 300, iterations: 3, warmupTime: 50, warmupIterations: 1 } };

export interface StepFigures {
  m: number;
  n: number;
  B: number;
  stepsPerS: number;
  /** 4·m·n·B FLOPs per step. */
  gflops: number;
  peakGflops: number;
  /** (max − min) ÷ median of the step's round medians. */
  spread: number;
}

export async function measureSteps(wasm: KernelSource): Promise<StepFigures[]> {
  const kernel = await loadKernel(wasm);
  const k = kernel.exports;
  const next = mulberry32(11);
  const tasks = new Map([["peak", batched(() => void k.f32_peak__wasmsimd_madd12(PEAK_ITERATIONS, 0.9999, 0.0001), SAMPLE_MS)]]);
  let at = kernel.heapBase;
  for (const { m, n, B } of SHAPES) {
    const placed = placeModel(kernel, { m, n, batch: B }, at);
    at = placed.end;
    const memory = kernel.memory.buffer;
    writeHeader(new DataView(memory), placed.model, { m, n, loss: "mse", optimizer: "sgd", flags: 0, lr: LR });
    new Float32Array(memory, placed.x, B * m).set(Float32Array.from({ length: B * m }, () => 2 * next() - 1));
    new Float32Array(memory, placed.y, B * n).set(Float32Array.from({ length: B * n }, () => 2 * next() - 1));
    tasks.set(`${m},${n},${B}`, batched(() => {
      const status = k.f32_train__wasmsimd(placed.model, placed.x, placed.y, B, placed.scratch);
      if (status !== Status.ok) throw new Error(`f32_train returned status ${status}`);
    }, SAMPLE_MS));
  }
  const timings = await measureRounds(tasks, ROUND_OPTIONS);
  const peakGflops = (96 * PEAK_ITERATIONS) / (timings.get("peak")!.ms * 1e6);
  return SHAPES.map(({ m, n, B }) => {
    const { ms, spread } = timings.get(`${m},${n},${B}`)!;
    return { m, n, B, stepsPerS: 1000 / ms, gflops: (4 * m * n * B) / (ms * 1e6), peakGflops, spread };
  });
}
