// docs/ABI.md: "the kernels never touch a byte outside the blocks you pass them". Every
// block here has exactly the size the module's size exports give, and 256 bytes of a
// canary pattern on both sides; every entry point runs (training with standardisation,
// anomaly flags, exclusion and a regime change, evaluate, gradient, predict, raw params,
// both setpoint solvers, a data-parallel step), and no canary byte may change.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Flags, Header, loadKernel, writeHeader, type Kernel } from "../../host/kernel/index.js";
import { rng } from "../helpers/random.js";

const CANARY = 256;
const PATTERN = 0xa5;
const wasm = readFileSync(new URL("../../build/gradline.wasm", import.meta.url));

/** Lays blocks out one after another, each between two canary regions. */
class Fenced {
  private next: number;
  private readonly fences: [number, number][] = [];
  constructor(private readonly kernel: Kernel) {
    this.next = Math.ceil(kernel.heapBase / 64) * 64;
  }
  block(bytes: number): number {
    const before = this.next;
    const at = Math.ceil((before + CANARY) / 16) * 16;
    const end = at + bytes;
    const after = end + CANARY;
    if (after > this.kernel.memory.buffer.byteLength) this.kernel.memory.grow(Math.ceil((after - this.kernel.memory.buffer.byteLength) / 65536));
    const memory = new Uint8Array(this.kernel.memory.buffer);
    memory.fill(PATTERN, before, at);
    memory.fill(0, at, end);
    memory.fill(PATTERN, end, after);
    this.fences.push([before, at], [end, after]);
    this.next = after;
    return at;
  }
  /** Canary bytes that changed, as "offset: value". */
  broken(): string[] {
    const memory = new Uint8Array(this.kernel.memory.buffer);
    const out: string[] = [];
    for (const [from, to] of this.fences) for (let i = from; i < to; i++) if (memory[i] !== PATTERN) out.push(`${i}: ${memory[i]}`);
    return out;
  }
}

async function exercise(m: number, n: number, B: number): Promise<string[]> {
  const kernel = await loadKernel(wasm);
  const k = kernel.exports;
  const fenced = new Fenced(kernel);
  const P = n * m + n;
  const cap = B + 64;
  const shardRows = Math.ceil(B / 2);
  const shards = Math.ceil(B / shardRows);
  const model = fenced.block(k.model_bytes(m, n));
  const x = fenced.block(4 * B * m);
  const y = fenced.block(4 * B * n);
  const out = fenced.block(4 * B * n);
  const raw = fenced.block(4 * P);
  const scratch = fenced.block(k.scratch_bytes(m, n, B));
  const records = fenced.block(16 * cap);
  const fista = fenced.block(k.setpoint_bytes(m, n));
  const newton = fenced.block(k.setpoint_newton_bytes(m, n));
  const moments = fenced.block(shards * k.moments_bytes(m, n));
  const grads = fenced.block(shards * k.shard_grad_bytes(m, n));
  const cand = fenced.block(k.moments_bytes(m, n));
  const shardScratch = fenced.block(k.scratch_bytes(m, n, shardRows));

  const view = () => new DataView(kernel.memory.buffer);
  const f32 = (at: number, length: number) => new Float32Array(kernel.memory.buffer, at, length);
  writeHeader(view(), model, {
    m, n, loss: "huber", optimizer: "adam", flags: Flags.standardize | Flags.anomaly | Flags.exclude, lr: 0.01, delta: 1,
    beta1: 0.9, beta2: 0.999, eps: 1e-8, anomalyResidual: 3, anomalyMargin: 0.1, anomalyStuck: 4, anomalyWarmup: 32,
  });
  const random = rng(m * 1000 + n * 10 + B);
  const status: number[] = [];
  for (let step = 0; step < 60; step++) {
    // a level shift after step 30 (a regime change), spikes, a stuck input now and then
    const shift = step >= 30 ? 50 : 0;
    const xs = f32(x, B * m);
    const ys = f32(y, B * n);
    for (let i = 0; i < B * m; i++) xs[i] = step % 7 === 3 && i % m === 0 ? 1 : random.uniform(-1, 1) + (i % 13 === 5 ? 40 : 0);
    for (let i = 0; i < B * n; i++) ys[i] = random.uniform() + shift + (i % 11 === 2 ? 100 : 0);
    view().setInt32(model + Header.anomalyOut, records, true);
    view().setInt32(model + Header.anomalyCap, cap, true);
    status.push(k.f32_train__wasmsimd(model, x, y, B, scratch), k.f32_train__scalar(model, x, y, B, scratch));
  }
  status.push(
    k.f32_evaluate__wasmsimd(model, x, y, B, scratch), k.f32_evaluate__scalar(model, x, y, B, scratch),
    k.f32_gradient__wasmsimd(model, x, y, B, scratch), k.f32_gradient__scalar(model, x, y, B, scratch),
    k.f32_predict__wasmsimd(model, x, B, scratch, out), k.f32_predict__scalar(model, x, B, scratch, out),
  );
  k.f32_raw_params(model, raw);

  // both setpoint solvers, on a box, with a target they cannot reach
  for (const [ws, solve] of [[fista, k.f64_setpoint], [newton, k.f64_setpoint__newton]] as const) {
    const vec = (which: number, length: number, value: number) => new Float64Array(kernel.memory.buffer, ws + k.setpoint_offset(m, n, which), length).fill(value);
    vec(1, n, 1e3); // target
    vec(2, n, 1); // weight
    vec(8, m, -1); // lo
    vec(9, m, 1); // hi
    vec(10, m, 0); // x0
    vec(11, m, 0); // x
    solve(model, ws, 0.01, 200, 1e-9);
  }

  // one data-parallel step: moments per shard, merged, gradients per shard, applied
  for (let i = 0; i < shards; i++) {
    const rows = Math.min(shardRows, B - i * shardRows);
    status.push(k.f32_shard_moments(model, x + 4 * i * shardRows * m, y + 4 * i * shardRows * n, rows, shardScratch, moments + i * k.moments_bytes(m, n)));
  }
  k.f32_moments_merge(model, moments, shards, shardRows, B, cand);
  for (let i = 0; i < shards; i++) {
    const rows = Math.min(shardRows, B - i * shardRows);
    status.push(k.f32_shard_gradient__wasmsimd(model, x + 4 * i * shardRows * m, y + 4 * i * shardRows * n, rows, B, cand, shardScratch, grads + i * k.shard_grad_bytes(m, n)));
  }
  status.push(k.f32_shard_apply__wasmsimd(model, grads, shards, B, cand, scratch));
  // statuses are the kernels' to give (a diverged step is allowed); a canary is not
  expect(status.every((s) => s >= 0 && s <= 3)).toBe(true);
  return fenced.broken();
}

describe("the kernels stay inside the blocks they are given", () => {
  // B = 64 and 128: the scratch stride gets 4 extra lanes (multiple of 64 floats); P not a multiple of 4; m, n = 1
  for (const [m, n, B] of [[1, 1, 1], [3, 2, 64], [5, 3, 17], [16, 4, 128], [33, 7, 64], [2, 9, 3]] as const) {
    it(`(m, n, B) = (${m}, ${n}, ${B})`, async () => {
      expect(await exercise(m, n, B)).toEqual([]);
    });
  }
});
