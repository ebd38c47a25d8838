// Drives build/gradline.wasm the way an embedder in another runtime would, from
// docs/ABI.md alone: raw bytes, a shared memory, a hand-written model block.
// Nothing here imports from host/ — every offset below is copied from the ABI
// document, so a layout change that the document misses fails this file.
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";

// ---- docs/ABI.md, "Model block": header table and enums ----
const H_M = 0; // i32
const H_N = 4; // i32
const H_LOSS = 8; // i32
const H_OPTIMIZER = 12; // i32
const H_FLAGS = 16; // i32
const H_LR = 20; // f32
const H_BETA1 = 32; // f32
const H_BAD_INDEX = 44; // i32, kernel output
const H_STEP = 48; // f64
const H_COUNT = 56; // f64
const H_LOSS_OUT = 64; // f64, kernel output
const HEADER_BYTES = 128;

const LOSS_MSE = 0;
const OPT_SGD = 0;
const OPT_MOMENTUM = 1;
const FLAG_STANDARDIZE = 1;

// docs/ABI.md, "Return codes"
const STATUS_OK = 0;
const STATUS_NONFINITE_X = 1;
const STATUS_NONFINITE_Y = 2;
const STATUS_DIVERGED = 3;

// docs/ABI.md, "Versions"
const ABI_VERSION = 3;

// docs/ABI.md, "Exports": every pointer and size is an i32 (unsigned byte offset).
interface Kernels {
  abi_version(): number;
  heap_base(): number;
  model_bytes(m: number, n: number): number;
  scratch_bytes(m: number, n: number, batch: number): number;
  scratch_grad_offset(m: number, n: number): number;
  f32_train__wasmsimd(model: number, x: number, y: number, batch: number, scratch: number): number;
  f32_predict__wasmsimd(model: number, x: number, batch: number, scratch: number, out: number): number;
  f32_raw_params(model: number, out: number): void;
}

const ALIGN = 64;
const alignUp = (p: number): number => Math.ceil(p / ALIGN) * ALIGN;

/** Region offsets from docs/ABI.md: P = n·m + n, Q = P rounded up to 4. */
function regions(m: number, n: number): { P: number; Q: number; theta: number; s1: number; s2: number; stats: number; bytes: number } {
  const P = n * m + n;
  const Q = (P + 3) & ~3;
  const theta = HEADER_BYTES;
  const s1 = theta + 4 * Q;
  const s2 = theta + 8 * Q;
  const stats = theta + 12 * Q;
  const anomaly = stats + 16 * (m + n);
  // then the 128-byte host region (the drift detector; kernels never touch it)
  return { P, Q, theta, s1, s2, stats, bytes: anomaly + 8 * (4 * m + 2 * n + 4) + 128 };
}

/** mulberry32: a seeded uniform generator in [0, 1). Written out here, not imported: this test uses nothing from host/. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let memory: WebAssembly.Memory;
let k: Kernels;
let next = 0;

/** Bump allocation above heap_base(), 64-byte aligned, zeroed (docs/ABI.md, "Instantiation"). */
function alloc(bytes: number): number {
  const ptr = alignUp(next);
  next = ptr + bytes;
  if (next > memory.buffer.byteLength) throw new Error(`test arena exhausted at ${next} bytes`);
  new Uint8Array(memory.buffer, ptr, bytes).fill(0);
  return ptr;
}

const view = (): DataView => new DataView(memory.buffer);
const f32At = (ptr: number, length: number): Float32Array => new Float32Array(memory.buffer, ptr, length);
const bytesAt = (ptr: number, length: number): Uint8Array => new Uint8Array(memory.buffer, ptr, length).slice();

interface ModelSpec {
  m: number;
  n: number;
  optimizer: number;
  flags: number;
  lr: number;
  beta1?: number;
  W: readonly number[];
  b: readonly number[];
}

/** docs/ABI.md, "Initialising a model by hand": zero the block, write the header, write W and b into θ. */
function createModel(spec: ModelSpec): { ptr: number; bytes: number } {
  const { m, n } = spec;
  const r = regions(m, n);
  expect(k.model_bytes(m, n)).toBe(r.bytes); // the document's size formula agrees with the module
  const ptr = alloc(r.bytes);
  const dv = view();
  dv.setInt32(ptr + H_M, m, true);
  dv.setInt32(ptr + H_N, n, true);
  dv.setInt32(ptr + H_LOSS, LOSS_MSE, true);
  dv.setInt32(ptr + H_OPTIMIZER, spec.optimizer, true);
  dv.setInt32(ptr + H_FLAGS, spec.flags, true);
  dv.setFloat32(ptr + H_LR, spec.lr, true);
  dv.setFloat32(ptr + H_BETA1, spec.beta1 ?? 0, true);
  const theta = f32At(ptr + r.theta, r.Q);
  theta.set(spec.W, 0);
  theta.set(spec.b, n * m);
  return { ptr, bytes: r.bytes };
}

/** A batch from the seeded generator: column c of x uniform in ranges[c]; y = W*x + b* exactly (row-major). */
function makeBatch(
  rnd: () => number, batch: number, ranges: readonly (readonly [number, number])[], W: readonly number[], b: readonly number[],
): { x: Float32Array; y: Float32Array } {
  const m = ranges.length;
  const n = b.length;
  const x = new Float32Array(batch * m);
  const y = new Float32Array(batch * n);
  for (let s = 0; s < batch; s++) {
    for (let c = 0; c < m; c++) {
      const [lo, hi] = ranges[c]!;
      x[s * m + c] = lo + (hi - lo) * rnd();
    }
    for (let j = 0; j < n; j++) {
      // targets from the f32-rounded inputs, in f64, so the data is exactly linear up to one f32 rounding of y
      let acc = b[j]!;
      for (let c = 0; c < m; c++) acc += W[j * m + c]! * x[s * m + c]!;
      y[s * n + j] = acc;
    }
  }
  return { x, y };
}

function expectClose(got: ArrayLike<number>, want: readonly number[], tolerance: (want: number) => number, what: string): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (!(Math.abs(g - w) <= tolerance(w))) {
      throw new Error(`${what}[${i}] = ${g}, expected ${w} ± ${tolerance(w)}`);
    }
  }
}

// The true model every training test recovers: m = 4 inputs, n = 2 outputs, so P = 10 and Q = 12:
// θ, s1 and s2 each end in two pad entries, and a layout that confused P with Q would fail.
const m = 4;
const n = 2;
const W_TRUE = [0.5, -1.25, 2, 0.4, -0.75, 0.3, 1.5, -0.6]; // n×m row-major
const B_TRUE = [0.25, -1];
const UNIT_RANGES = [[-1, 1], [-1, 1], [-1, 1], [-1, 1]] as const;
// For badly scaled inputs (x0 in the thousands, x1 around 0.01, x2 of unit scale, x3 in the tens) the
// true weights are scaled the other way, so every input moves y by an amount within 20× of the others
// and each weight is identifiable within f32 precision (a weight whose input moves y by 1e-5 of its
// spread is not).
const W_SCALED = [0.0004, -3, 0.5, 0.05, -0.0002, 2.5, 0.3, -0.02];
const B_SCALED = [0.25, -1];
const SCALED_RANGES = [[1000, 3000], [0, 0.02], [-1, 1], [10, 30]] as const;
const WARM_RANGES = [[0, 10], [-5, 5], [100, 200], [-1, 1]] as const;
const W_START = [0.1, 0.1, 0.1, 0.1, -0.1, -0.1, -0.1, -0.1];
const BATCH = 64;

/** Raw-unit parameters through f32_raw_params (P floats, θ layout). */
function rawParams(model: number): { W: number[]; b: number[] } {
  const out = alloc(4 * (n * m + n));
  k.f32_raw_params(model, out);
  const p = Array.from(f32At(out, n * m + n));
  return { W: p.slice(0, n * m), b: p.slice(n * m) };
}

function predict(model: number, x: Float32Array, batch: number): Float32Array {
  const xp = alloc(4 * x.length);
  f32At(xp, x.length).set(x);
  const scratch = alloc(k.scratch_bytes(m, n, batch));
  const out = alloc(4 * batch * n);
  f32At(out, batch * n).fill(Number.NaN); // an unwritten output must fail the comparison
  expect(k.f32_predict__wasmsimd(model, xp, batch, scratch, out)).toBe(STATUS_OK);
  return f32At(out, batch * n).slice();
}

/** W x + b for row-major x, computed in f64 (the closed-form truth). */
function truth(W: readonly number[], b: readonly number[], x: Float32Array, batch: number): number[] {
  const y: number[] = [];
  for (let s = 0; s < batch; s++) {
    for (let j = 0; j < n; j++) {
      let acc = b[j]!;
      for (let c = 0; c < m; c++) acc += W[j * m + c]! * x[s * m + c]!;
      y.push(acc);
    }
  }
  return y;
}

/** Staging for one batch size: x, y and scratch at aligned offsets above heap_base(). */
function stage(batch: number): { x: number; y: number; scratch: number } {
  return { x: alloc(4 * batch * m), y: alloc(4 * batch * n), scratch: alloc(k.scratch_bytes(m, n, batch)) };
}

function train(model: number, st: { x: number; y: number; scratch: number }, data: { x: Float32Array; y: Float32Array }, batch: number): number {
  f32At(st.x, batch * m).set(data.x);
  f32At(st.y, batch * n).set(data.y);
  return k.f32_train__wasmsimd(model, st.x, st.y, batch, st.scratch);
}

beforeAll(async () => {
  const bytes = new Uint8Array(readFileSync(new URL("../build/gradline.wasm", import.meta.url)));
  memory = new WebAssembly.Memory({ initial: 16, maximum: 256, shared: true });
  const abort = (_msg: number, _file: number, line: number, column: number): never => {
    throw new Error(`gradline.wasm aborted at ${line}:${column}`);
  };
  const { instance } = await WebAssembly.instantiate(bytes, { env: { memory, abort } });
  k = instance.exports as unknown as Kernels;
  next = k.heap_base();
  expect(next).toBeGreaterThan(0);
});

describe("ABI: size formulas in docs/ABI.md agree with the module", () => {
  /** Scratch layout from docs/ABI.md, "Scratch block". */
  function scratchLayout(mm: number, nn: number, batch: number): { grad: number; bytes: number } {
    const round4 = (v: number): number => (v + 3) & ~3;
    const r4 = round4(batch);
    const S = r4 % 64 === 0 ? r4 + 4 : r4;
    const Q = round4(nn * mm + nn);
    const grad = 16 * (mm + nn) + 8 * round4(mm) + 8 * round4(nn);
    const xt = grad + 4 * Q;
    // then the anomaly candidate (8·(4m + 2n + 4)) and one flag byte per lane (S rounded up to 16)
    return { grad, bytes: xt + 4 * mm * S + 8 * nn * S + 8 * (4 * mm + 2 * nn + 4) + ((S + 15) & ~15) };
  }

  it("abi_version() is the version this document describes", () => {
    expect(k.abi_version()).toBe(ABI_VERSION);
  });

  it("model_bytes, scratch_grad_offset and scratch_bytes over shapes with and without padding", () => {
    for (let mm = 1; mm <= 9; mm++) {
      for (let nn = 1; nn <= 9; nn++) {
        expect(k.model_bytes(mm, nn), `model_bytes(${mm}, ${nn})`).toBe(regions(mm, nn).bytes);
        expect(k.scratch_grad_offset(mm, nn), `scratch_grad_offset(${mm}, ${nn})`).toBe(scratchLayout(mm, nn, 1).grad);
        // batch sizes around the 4-lane vector and the 64-float stride bump
        for (const batch of [1, 3, 4, 5, 60, 63, 64, 65, 128, 200]) {
          expect(k.scratch_bytes(mm, nn, batch), `scratch_bytes(${mm}, ${nn}, ${batch})`).toBe(scratchLayout(mm, nn, batch).bytes);
        }
      }
    }
    // a worked value, by hand from the formulas: m = 4, n = 2, P = 10, Q = 12 → 128 + 12·12 + 16·6 + 8·24 + 128 = 688
    expect(k.model_bytes(4, 2)).toBe(688);
  });
});

describe("ABI: a hand-laid-out model driven without the host", () => {
  let plain = 0;
  let scaled = 0;

  it("(a) SGD + MSE without standardisation recovers W*, b* from noise-free data", () => {
    // start away from the truth, so reaching it takes real updates
    const model = createModel({ m, n, optimizer: OPT_SGD, flags: 0, lr: 0.5, W: W_START, b: [0, 0] });
    const st = stage(BATCH);
    const rnd = mulberry32(12345);
    for (let step = 0; step < 400; step++) {
      expect(train(model.ptr, st, makeBatch(rnd, BATCH, UNIT_RANGES, W_TRUE, B_TRUE), BATCH)).toBe(STATUS_OK);
    }
    const dv = view();
    expect(dv.getFloat64(model.ptr + H_STEP, true)).toBe(400);
    // without standardisation the kernels still keep the statistics, only not apply them (docs/ABI.md, "Standardisation")
    expect(dv.getFloat64(model.ptr + H_COUNT, true)).toBe(400 * BATCH);
    const stats = new Float64Array(memory.buffer, model.ptr + regions(m, n).stats, 2 * (m + n));
    // the mean of 400·BATCH uniform draws on [−1, 1] is near 0
    for (let c = 0; c < m; c++) expect(Math.abs(stats[c]!), `mean_x[${c}]`).toBeLessThan(0.05);
    // noise-free linear data: the least-squares minimiser is exactly W*, b*, so SGD converges to them
    const r = regions(m, n);
    const theta = f32At(model.ptr + r.theta, r.P);
    expectClose(theta.subarray(0, n * m), W_TRUE, () => 1e-3, "W");
    expectClose(theta.subarray(n * m), B_TRUE, () => 1e-3, "b");
    // the SIMD update runs over all Q entries; the pad entries P..Q of θ stay zero (docs/ABI.md, "Regions")
    expect(Array.from(f32At(model.ptr + r.theta + 4 * r.P, r.Q - r.P))).toEqual([0, 0]);
    // with standardisation off, f32_raw_params is a copy of θ
    const raw = rawParams(model.ptr);
    expect(raw.W).toEqual(Array.from(theta.subarray(0, n * m)));
    expect(raw.b).toEqual(Array.from(theta.subarray(n * m)));
    // the loss reported in the header is the MSE of the last batch, which is ~0 at the solution
    expect(dv.getFloat64(model.ptr + H_LOSS_OUT, true)).toBeLessThan(1e-6);
    plain = model.ptr;
  });

  it("(b) with standardisation, badly scaled inputs, f32_raw_params unfolds to W*, b*", () => {
    const model = createModel({ m, n, optimizer: OPT_SGD, flags: FLAG_STANDARDIZE, lr: 0.5, W: W_START, b: [0, 0] });
    // θ is fitted against statistics that move with every batch, so it lags them by a relative
    // error that shrinks as samples accumulate (docs/ABI.md, "Standardisation"); a larger batch
    // and more steps bring that lag well under the 1e-3 tolerance (measured: < 1e-4 over 12 seeds)
    const batch = 256;
    const steps = 2000;
    const st = stage(batch);
    const rnd = mulberry32(777);
    for (let step = 0; step < steps; step++) {
      expect(train(model.ptr, st, makeBatch(rnd, batch, SCALED_RANGES, W_SCALED, B_SCALED), batch)).toBe(STATUS_OK);
    }
    const dv = view();
    expect(dv.getFloat64(model.ptr + H_STEP, true)).toBe(steps);
    expect(dv.getFloat64(model.ptr + H_COUNT, true)).toBe(steps * batch);
    // the statistics region holds the running mean of each input: the midpoints of the uniform ranges
    const stats = new Float64Array(memory.buffer, model.ptr + regions(m, n).stats, 2 * (m + n));
    SCALED_RANGES.forEach(([lo, hi], c) => {
      // the mean of 512,000 uniform draws is within ~0.001 of the range's width of its midpoint
      expect(Math.abs(stats[c]! - (lo + hi) / 2), `mean_x[${c}]`).toBeLessThan(0.01 * (hi - lo));
    });
    const raw = rawParams(model.ptr);
    // closed-form truth as in (a): noise-free data, so unfolding the fit gives W*, b* in raw units
    expectClose(raw.W, W_SCALED, () => 1e-3, "raw W");
    expectClose(raw.b, B_SCALED, () => 1e-3, "raw b");
    // θ itself is in standardised units, so it is not W*: W̃[0,0] = W*[0,0]·σx0/σy0 ≈ 0.0004·577/0.37 ≈ 0.62
    const theta = f32At(model.ptr + HEADER_BYTES, n * m);
    expect(Math.abs(theta[0]! - W_SCALED[0]!)).toBeGreaterThan(0.1);
    scaled = model.ptr;
  });

  it("(c) f32_predict__wasmsimd on fresh inputs equals W*x + b*", () => {
    expect(plain).not.toBe(0);
    expect(scaled).not.toBe(0);
    const rnd = mulberry32(4242);
    // 37 rows: not a multiple of the 4-lane vector, so the scalar tails run too
    const rows = 37;
    const fresh = makeBatch(rnd, rows, UNIT_RANGES, W_TRUE, B_TRUE).x;
    expectClose(predict(plain, fresh, rows), truth(W_TRUE, B_TRUE, fresh, rows), (w) => 2e-3 * Math.max(1, Math.abs(w)), "ŷ (plain)");
    // the standardised model predicts in raw units: the kernel folds σy, μy back in
    const freshScaled = makeBatch(rnd, rows, SCALED_RANGES, W_SCALED, B_SCALED).x;
    expectClose(predict(scaled, freshScaled, rows), truth(W_SCALED, B_SCALED, freshScaled, rows), (w) => 2e-3 * Math.max(1, Math.abs(w)), "ŷ (standardised)");
  });

  it("(e) a scratch block's previous contents do not matter: NaN-filled scratch gives the same bytes", () => {
    // docs/ABI.md, "Scratch block": it carries nothing from one call to the next. P = 10 is not a
    // multiple of 4, so the SIMD update also reads the gradient's pad entries, which the kernel
    // must write itself rather than trust whatever the scratch held.
    const spec = { m, n, optimizer: OPT_MOMENTUM, flags: FLAG_STANDARDIZE, lr: 0.05, beta1: 0.9, W: W_START, b: [0.5, -0.5] };
    const clean = createModel(spec);
    const dirty = createModel(spec);
    const cleanStage = stage(BATCH);
    const dirtyStage = stage(BATCH);
    const rnd = mulberry32(99);
    for (let step = 0; step < 5; step++) {
      const data = makeBatch(rnd, BATCH, WARM_RANGES, W_TRUE, B_TRUE);
      new Uint8Array(memory.buffer, cleanStage.scratch, k.scratch_bytes(m, n, BATCH)).fill(0);
      f32At(dirtyStage.scratch, k.scratch_bytes(m, n, BATCH) / 4).fill(Number.NaN);
      expect(train(clean.ptr, cleanStage, data, BATCH)).toBe(STATUS_OK);
      expect(train(dirty.ptr, dirtyStage, data, BATCH)).toBe(STATUS_OK);
    }
    expect(bytesAt(dirty.ptr, dirty.bytes)).toEqual(bytesAt(clean.ptr, clean.bytes));
    const r = regions(m, n);
    expect(Array.from(f32At(dirty.ptr + r.theta + 4 * r.P, r.Q - r.P))).toEqual([0, 0]);
  });

  describe("(d) status codes and what they leave unchanged", () => {
    /** A momentum model with standardisation, trained a few steps so θ, velocity, statistics and step are all non-trivial. */
    function warmModel(seed: number, lr: number): { model: { ptr: number; bytes: number }; st: ReturnType<typeof stage>; rnd: () => number } {
      const model = createModel({ m, n, optimizer: OPT_MOMENTUM, flags: FLAG_STANDARDIZE, lr, beta1: 0.9, W: [0.2, -0.1, 0.3, 0.1, 0.05, -0.2, 0.15, -0.05], b: [0.1, -0.1] });
      const st = stage(BATCH);
      const rnd = mulberry32(seed);
      for (let step = 0; step < 3; step++) {
        expect(train(model.ptr, st, makeBatch(rnd, BATCH, WARM_RANGES, W_TRUE, B_TRUE), BATCH)).toBe(STATUS_OK);
      }
      const r = regions(m, n);
      expect(view().getFloat64(model.ptr + H_STEP, true)).toBe(3);
      // velocity lives at s1 = 128 + 4Q: real entries moved, pad entries are still zero
      expect(Array.from(f32At(model.ptr + r.s1, r.P)).some((v) => v !== 0)).toBe(true);
      expect(Array.from(f32At(model.ptr + r.s1 + 4 * r.P, r.Q - r.P))).toEqual([0, 0]);
      return { model, st, rnd };
    }

    /** Byte indices where two copies differ. */
    function changedBytes(before: Uint8Array, after: Uint8Array): number[] {
      const out: number[] = [];
      for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) out.push(i);
      return out;
    }

    const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

    const rejections = [
      { name: "NaN in x returns 1", seed: 1, array: "x", index: 7, value: Number.NaN, status: STATUS_NONFINITE_X }, // row 2, input 1
      { name: "Inf in y returns 2", seed: 2, array: "y", index: 3, value: Number.POSITIVE_INFINITY, status: STATUS_NONFINITE_Y }, // row 1, output 1
    ] as const;
    for (const c of rejections) {
      it(`${c.name}, writes the bad index, and changes nothing else`, () => {
        const { model, st, rnd } = warmModel(c.seed, 0.05);
        const data = makeBatch(rnd, BATCH, WARM_RANGES, W_TRUE, B_TRUE);
        data[c.array][c.index] = c.value;
        view().setInt32(model.ptr + H_BAD_INDEX, -123, true);
        const before = bytesAt(model.ptr, model.bytes);
        expect(train(model.ptr, st, data, BATCH)).toBe(c.status);
        const after = bytesAt(model.ptr, model.bytes);
        expect(view().getInt32(model.ptr + H_BAD_INDEX, true)).toBe(c.index);
        // only the bad-index field may differ: θ, s1, s2, statistics, step, count and the loss are byte-identical
        const changed = changedBytes(before, after);
        expect(changed.length).toBeGreaterThan(0);
        for (const i of changed) expect(range(H_BAD_INDEX, H_BAD_INDEX + 4)).toContain(i);
      });
    }

    it("a step that blows up returns 3 and leaves θ, optimiser state, statistics and step unchanged", () => {
      const { model, st, rnd } = warmModel(3, 0.05);
      // a learning rate far past 2/λmax: each step multiplies the error, so within a few steps θ overflows f32
      view().setFloat32(model.ptr + H_LR, 1e6, true);
      let status = STATUS_OK;
      let before = bytesAt(model.ptr, model.bytes);
      let data = makeBatch(rnd, BATCH, WARM_RANGES, W_TRUE, B_TRUE);
      let steps = 0;
      for (; steps < 100 && status === STATUS_OK; steps++) {
        before = bytesAt(model.ptr, model.bytes);
        data = makeBatch(rnd, BATCH, WARM_RANGES, W_TRUE, B_TRUE);
        status = train(model.ptr, st, data, BATCH);
      }
      expect(status).toBe(STATUS_DIVERGED);
      const after = bytesAt(model.ptr, model.bytes);
      // the header's loss output is the one field a diverged step writes (docs/ABI.md, "Return codes")
      for (const i of changedBytes(before, after)) expect(range(H_LOSS_OUT, H_LOSS_OUT + 8)).toContain(i);
      // and θ, s1 (the momentum velocity) and step are the last good ones, all finite
      const r = regions(m, n);
      const theta = f32At(model.ptr + r.theta, r.P);
      const velocity = f32At(model.ptr + r.s1, r.P);
      expect(Array.from(theta).every(Number.isFinite)).toBe(true);
      expect(Array.from(velocity).some((v) => v !== 0)).toBe(true);
      expect(view().getFloat64(model.ptr + H_STEP, true)).toBe(3 + steps - 1);
      // retrying the same batch on the same state fails the same way, byte for byte: nothing was half-applied
      expect(train(model.ptr, st, data, BATCH)).toBe(STATUS_DIVERGED);
      expect(changedBytes(after, bytesAt(model.ptr, model.bytes))).toEqual([]);
    });

    it("an update that would overflow f32 under a finite loss returns 3 and writes nothing but the loss", () => {
      const { model, st, rnd } = warmModel(4, 0.05);
      // lr just under the f32 maximum: any update component of magnitude > ~1.2 overflows to ±Inf
      view().setFloat32(model.ptr + H_LR, 3e38, true);
      const data = makeBatch(rnd, BATCH, WARM_RANGES, W_TRUE, B_TRUE);
      data.y.fill(1e15); // far from every target seen so far: standardised residuals of order 1, finite loss
      const before = bytesAt(model.ptr, model.bytes);
      expect(train(model.ptr, st, data, BATCH)).toBe(STATUS_DIVERGED);
      // the loss was finite, so it was the optimiser's check-then-write pass that refused the step
      const loss = view().getFloat64(model.ptr + H_LOSS_OUT, true);
      expect(Number.isFinite(loss)).toBe(true);
      expect(loss).toBeGreaterThan(0);
      for (const i of changedBytes(before, bytesAt(model.ptr, model.bytes))) expect(range(H_LOSS_OUT, H_LOSS_OUT + 8)).toContain(i);
      expect(view().getFloat64(model.ptr + H_STEP, true)).toBe(3);
    });
  });
});
