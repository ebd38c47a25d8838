// The embedding check, one script for every runtime (Node, Bun, Deno, Chromium):
// written against gradline/kernel (the runtime-neutral loader) and docs/ABI.md
// only, in plain JavaScript so each runtime runs it as it is. It reports numbers
// (float bits as u32, exact in JSON); test/embed/runtimes.test.ts holds them
// against the closed-form least-squares fit and Node's in-process engine.
import { loadKernel, placeModel, writeHeader, regions, alignUp, growMemory, Header, Flags, ANOMALY_RECORD_BYTES } from "../../dist/host/kernel/index.js";

/** mulberry32, written out rather than imported: this script uses gradline/kernel and nothing else of gradline. */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 5 inputs, 3 outputs: P = 18 is not a multiple of 4, so the θ padding is exercised. */
export const M = 5;
export const N = 3;

/** `rows` samples of y = W*·x + b* + noise, x uniform in [-1, 1) (offset and scaled per column when `spread`). */
export function samples(seed, rows, spread = false) {
  const rand = mulberry32(seed);
  const truth = mulberry32(7);
  const W = Array.from({ length: N * M }, () => 4 * truth() - 2);
  const b = Array.from({ length: N }, () => 2 * truth() - 1);
  const x = new Float32Array(rows * M);
  const y = new Float32Array(rows * N);
  for (let s = 0; s < rows; s++) {
    for (let k = 0; k < M; k++) x[s * M + k] = spread ? 50 * k + (1 + k) * (2 * rand() - 1) : 2 * rand() - 1;
    for (let j = 0; j < N; j++) {
      let v = b[j];
      for (let k = 0; k < M; k++) v += W[j * M + k] * x[s * M + k];
      y[s * N + j] = v + 0.05 * (rand() - 0.5);
    }
  }
  return { x, y };
}

/** The three workloads, shared with the test so Node's engine trains the very same batches. */
export const workloads = {
  /** Full-batch SGD on 512 rows, from zero: converges to the least-squares fit. */
  fit: { seed: 11, rows: 512, steps: 600, lr: 0.5 },
  /** Standardised Adam with anomaly flags and exclusion over 16 rotating batches of 64, one holding a gross outlier. */
  stream: { seed: 12, rows: 64, batches: 16, steps: 160, lr: 0.01, outlier: { batch: 13, row: 5, value: 1e4 } },
  /** One data-parallel step of 2048 rows in shards of 1024, standardised SGD. */
  sharded: { seed: 13, rows: 2048, shardRows: 1024, lr: 0.1 },
};

/** The stream's batches, the outlier in place. */
export function streamBatches() {
  const w = workloads.stream;
  return Array.from({ length: w.batches }, (_, i) => {
    const batch = samples(w.seed * 1000 + i, w.rows, true);
    if (i === w.outlier.batch) batch.y[w.outlier.row * N] = w.outlier.value;
    return batch;
  });
}

export const ADAM = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
export const ANOMALY = { residual: 5, margin: 0.5, stuck: 32, warmup: 256 };

const bitsOf = (f32) => Array.from(new Uint32Array(f32.buffer.slice(f32.byteOffset, f32.byteOffset + f32.byteLength)));

/**
 * Runs the three workloads with the kernel loaded from `wasm` (bytes, URL or
 * Response). `startWorker(url)` starts a worker of the runtime running
 * test/embed/shard-worker.js; the default uses the runtime's Worker, or Node's.
 */
export async function runEmbedding(wasm, startWorker = defaultWorker) {
  const kernel = await loadKernel(wasm, { initialPages: 64 });
  const k = kernel.exports;
  const view = () => new DataView(kernel.memory.buffer);
  const f32 = (at, length) => new Float32Array(kernel.memory.buffer, at, length);
  const P = N * M + N;

  const rawParams = (p) => {
    k.f32_raw_params(p.model, p.out);
    return bitsOf(f32(p.out, P).slice());
  };
  const train = (p, x, y, rows) => {
    f32(p.x, rows * M).set(x);
    f32(p.y, rows * N).set(y);
    // a copied block carries an old address: point the records at this step's buffer every time (docs/ABI.md, "Anomaly flags")
    view().setInt32(p.model + Header.anomalyOut, p.records, true);
    view().setInt32(p.model + Header.anomalyCap, p.recordCap, true);
    const status = k.f32_train__wasmsimd(p.model, p.x, p.y, rows, p.scratch);
    if (status !== 0) throw new Error(`f32_train returned status ${status}`);
    return view().getFloat64(p.model + Header.lossOut, true);
  };

  // fit: zero start (a zeroed block is a valid model once the header is written)
  const fit = workloads.fit;
  const f = placeModel(kernel, { m: M, n: N, batch: fit.rows });
  writeHeader(view(), f.model, { m: M, n: N, loss: "mse", optimizer: "sgd", flags: 0, lr: fit.lr });
  const fitData = samples(fit.seed, fit.rows);
  let fitLoss = NaN;
  for (let i = 0; i < fit.steps; i++) fitLoss = train(f, fitData.x, fitData.y, fit.rows);
  // raw params must fit in `out`: P ≤ rows·n here
  const fitParams = rawParams(f);

  // stream: standardised Adam with anomaly exclusion
  const st = workloads.stream;
  const s = placeModel(kernel, { m: M, n: N, batch: st.rows }, f.end);
  writeHeader(view(), s.model, {
    m: M, n: N, loss: "mse", optimizer: "adam", flags: Flags.standardize | Flags.anomaly | Flags.exclude, lr: st.lr,
    ...ADAM, anomalyResidual: ANOMALY.residual, anomalyMargin: ANOMALY.margin, anomalyStuck: ANOMALY.stuck, anomalyWarmup: ANOMALY.warmup,
  });
  const batches = streamBatches();
  let excluded = 0;
  for (let i = 0; i < st.steps; i++) {
    const batch = batches[i % batches.length];
    train(s, batch.x, batch.y, st.rows);
    excluded += view().getInt32(s.model + Header.anomalyExcluded, true);
  }
  const streamParams = rawParams(s);
  const flagged = [];
  // the records of the last step are left in the buffer; read the first of them as an embedder would
  const found = Math.min(view().getInt32(s.model + Header.anomalyCount, true), s.recordCap);
  for (let i = 0; i < found; i++) flagged.push(view().getInt32(s.records + i * ANOMALY_RECORD_BYTES, true));

  // sharded: one step on the main thread alone, then the same step with two workers
  const sh = workloads.sharded;
  const shards = Math.ceil(sh.rows / sh.shardRows);
  const d = placeModel(kernel, { m: M, n: N, batch: sh.rows, shards }, s.end);
  writeHeader(view(), d.model, { m: M, n: N, loss: "mse", optimizer: "sgd", flags: Flags.standardize, lr: sh.lr });
  const blockBytes = k.model_bytes(M, N);
  const copy = alignUp(d.end);
  const workerScratch = [0, 1].map((i) => alignUp(copy + blockBytes) + i * alignUp(k.scratch_bytes(M, N, sh.shardRows)));
  growMemory(kernel.memory, workerScratch[1] + k.scratch_bytes(M, N, sh.shardRows));
  new Uint8Array(kernel.memory.buffer).copyWithin(copy, d.model, d.model + blockBytes);
  const data = samples(sh.seed, sh.rows, true);
  f32(d.x, sh.rows * M).set(data.x);
  f32(d.y, sh.rows * N).set(data.y);
  const { moments, grads, cand } = d.shards;
  const shardArgs = (model, i, scratch) => {
    const row = i * sh.shardRows;
    const rows = Math.min(sh.shardRows, sh.rows - row);
    return {
      model, x: d.x + 4 * row * M, y: d.y + 4 * row * N, rows, totalRows: sh.rows, cand, scratch,
      moments: moments + i * k.moments_bytes(M, N), grads: grads + i * k.shard_grad_bytes(M, N),
    };
  };
  const check = (status, what) => {
    if (status !== 0) throw new Error(`${what} returned status ${status}`);
  };
  // single thread: docs/ABI.md, "Data-parallel steps", steps 1 to 3
  for (let i = 0; i < shards; i++) {
    const a = shardArgs(d.model, i, d.scratch);
    check(k.f32_shard_moments(a.model, a.x, a.y, a.rows, a.scratch, a.moments), "f32_shard_moments");
  }
  k.f32_moments_merge(d.model, moments, shards, sh.shardRows, sh.rows, cand);
  for (let i = 0; i < shards; i++) {
    const a = shardArgs(d.model, i, d.scratch);
    check(k.f32_shard_gradient__wasmsimd(a.model, a.x, a.y, a.rows, a.totalRows, a.cand, a.scratch, a.grads), "f32_shard_gradient");
  }
  check(k.f32_shard_apply__wasmsimd(d.model, grads, shards, sh.rows, cand, d.scratch), "f32_shard_apply");
  const singleBlock = bitsOf(f32(d.model + regions(M, N).theta, (blockBytes - regions(M, N).theta) >> 2).slice());
  const singleParams = rawParams(d);

  // two workers over the same memory, shard i on worker i; the main thread merges and applies
  const workers = await Promise.all([0, 1].map(async () => {
    const w = await startWorker(new URL("./shard-worker.js", import.meta.url));
    await w.request({ op: "init", module: kernel.module, memory: kernel.memory });
    return w;
  }));
  try {
    const run = (op) => Promise.all(workers.map((w, i) => w.request({ op, ...shardArgs(copy, i, workerScratch[i]) })));
    for (const status of await run("moments")) check(status, "worker f32_shard_moments");
    k.f32_moments_merge(copy, moments, shards, sh.shardRows, sh.rows, cand);
    for (const status of await run("gradient")) check(status, "worker f32_shard_gradient");
    check(k.f32_shard_apply__wasmsimd(copy, grads, shards, sh.rows, cand, d.scratch), "f32_shard_apply");
  } finally {
    for (const w of workers) w.terminate();
  }
  const workerBlock = bitsOf(f32(copy + regions(M, N).theta, (blockBytes - regions(M, N).theta) >> 2).slice());

  return {
    fit: { params: fitParams, loss: fitLoss, steps: view().getFloat64(f.model + Header.step, true) },
    stream: { params: streamParams, excluded, flagged },
    sharded: { params: singleParams, singleBlock, workerBlock, step: view().getFloat64(d.model + Header.step, true) },
  };
}

/** A worker of this runtime behind one request/answer call: Web Workers where the runtime has them, else Node's worker_threads. */
async function defaultWorker(url) {
  if (typeof Worker === "function") {
    const worker = new Worker(url, { type: "module" });
    return {
      request: (message) => new Promise((resolve, reject) => {
        worker.onmessage = (e) => (e.data?.error ? reject(new Error(e.data.error)) : resolve(e.data?.status));
        worker.onerror = (e) => reject(new Error(`worker failed: ${e.message ?? e}`));
        worker.postMessage(message);
      }),
      terminate: () => worker.terminate(),
    };
  }
  const { Worker: NodeWorker } = await import("node:worker_threads");
  const worker = new NodeWorker(url);
  return {
    request: (message) => new Promise((resolve, reject) => {
      worker.removeAllListeners();
      worker.once("message", (data) => (data?.error ? reject(new Error(data.error)) : resolve(data?.status)));
      worker.once("error", reject);
      worker.postMessage(message);
    }),
    terminate: () => worker.terminate(),
  };
}
