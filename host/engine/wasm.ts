// Finding, compiling and instantiating the kernel module.
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { errors } from "./errors.js";

/** The module's exports (docs/ABI.md). Pointers and sizes are byte offsets into the shared memory. */
export interface KernelExports {
  heap_base(): number;
  model_bytes(m: number, n: number): number;
  scratch_bytes(m: number, n: number, batch: number): number;
  scratch_grad_offset(m: number, n: number): number;
  f32_train__wasmsimd(model: number, x: number, y: number, batch: number, scratch: number): number;
  f32_train__scalar(model: number, x: number, y: number, batch: number, scratch: number): number;
  f32_evaluate__wasmsimd(model: number, x: number, y: number, batch: number, scratch: number): number;
  f32_evaluate__scalar(model: number, x: number, y: number, batch: number, scratch: number): number;
  f32_gradient__wasmsimd(model: number, x: number, y: number, batch: number, scratch: number): number;
  f32_gradient__scalar(model: number, x: number, y: number, batch: number, scratch: number): number;
  f32_predict__wasmsimd(model: number, x: number, batch: number, scratch: number, out: number): number;
  f32_predict__scalar(model: number, x: number, batch: number, scratch: number, out: number): number;
  f32_raw_params(model: number, out: number): void;
  moments_bytes(m: number, n: number): number;
  shard_grad_bytes(m: number, n: number): number;
  f32_shard_moments(model: number, x: number, y: number, rows: number, scratch: number, out: number): number;
  f32_moments_merge(model: number, moments: number, shards: number, shardRows: number, totalRows: number, cand: number): void;
  f32_shard_gradient__wasmsimd(model: number, x: number, y: number, rows: number, totalRows: number, cand: number, scratch: number, out: number): number;
  f32_shard_gradient__scalar(model: number, x: number, y: number, rows: number, totalRows: number, cand: number, scratch: number, out: number): number;
  f32_shard_apply__wasmsimd(model: number, grads: number, shards: number, totalRows: number, cand: number, scratch: number): number;
  f32_shard_apply__scalar(model: number, grads: number, shards: number, totalRows: number, cand: number, scratch: number): number;
  f32_peak__wasmsimd_madd12(iterations: number, a: number, c: number): number;
  setpoint_bytes(m: number, n: number): number;
  setpoint_offset(m: number, n: number, which: number): number;
  f64_setpoint(model: number, ws: number, lambda: number, maxIterations: number, tolerance: number): number;
  setpoint_newton_bytes(m: number, n: number): number;
  f64_setpoint__newton(model: number, ws: number, lambda: number, maxIterations: number, tolerance: number): number;
}

/** The release build, searched upwards from this file so it works from host/ and from dist/host/. */
export function defaultWasmPath(): string {
  for (const up of ["../../build/gradline.wasm", "../../../build/gradline.wasm"]) {
    const path = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw errors.wasm("build/gradline.wasm not found; run `npm run build`");
}

let compiled: Promise<WebAssembly.Module> | undefined;

/** Compiles the module once per process (workers each compile their own). */
export function compileKernels(source?: string | Uint8Array): Promise<WebAssembly.Module> {
  if (source !== undefined) return compile(source);
  compiled ??= compile(defaultWasmPath());
  return compiled;
}

async function compile(source: string | Uint8Array): Promise<WebAssembly.Module> {
  try {
    const bytes = typeof source === "string" ? await readFile(source) : source;
    return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (cause) {
    throw errors.wasm(cause instanceof Error ? cause.message : String(cause), cause);
  }
}

/** Instantiates over `memory`; the module imports nothing else but an abort hook. */
export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort: (_message: number, _file: number, line: number, column: number) => {
        throw errors.wasm(`kernel aborted at ${line}:${column}`);
      },
    },
  });
  const raw = instance.exports as unknown as KernelExports;
  // sizes are u32 (usize) in the module, and JavaScript reads an i32 result as signed: read them unsigned
  return {
    ...raw,
    heap_base: () => raw.heap_base() >>> 0,
    model_bytes: (m, n) => raw.model_bytes(m, n) >>> 0,
    scratch_bytes: (m, n, batch) => raw.scratch_bytes(m, n, batch) >>> 0,
    scratch_grad_offset: (m, n) => raw.scratch_grad_offset(m, n) >>> 0,
    moments_bytes: (m, n) => raw.moments_bytes(m, n) >>> 0,
    shard_grad_bytes: (m, n) => raw.shard_grad_bytes(m, n) >>> 0,
    setpoint_bytes: (m, n) => raw.setpoint_bytes(m, n) >>> 0,
    setpoint_offset: (m, n, which) => raw.setpoint_offset(m, n, which) >>> 0,
    setpoint_newton_bytes: (m, n) => raw.setpoint_newton_bytes(m, n) >>> 0,
  };
}
