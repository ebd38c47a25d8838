// The in-process engine: one shared memory, one kernel instance, the models
// living in it, and the staging buffers batches are copied into.
import { errors, quote } from "../base/errors.js";
import { SharedArena } from "./memory.js";
import { compileKernels } from "./wasm.js";
import { createKernelMemory, instantiateKernel, type KernelExports } from "../kernel/loader.js";
import { atAddress, stepLayout, type StepLayout } from "../kernel/buffers.js";
import { kernelVariant, type KernelName, type KernelVariant } from "./kernels.js";
import { resolveModelOptions, resolveInit, type ModelOptions } from "./options.js";
import { linearInit } from "./init.js";
import { decodeSnapshot } from "./snapshot.js";
import { Model, writeOptions, writeState } from "./model.js";
import { modelBlockBytes, regions } from "../kernel/layout.js";
import { DEFAULT_SHARD_ROWS, planShards, type ShardBuffers } from "./shards.js";

export interface EngineOptions {
  /** Kernel variant: "simd" (default) or the "scalar" reference. */
  kernel?: KernelName;
  /** Path or bytes of gradline.wasm; default: the package's build/gradline.wasm. */
  wasm?: string | Uint8Array;
  /** Largest batch, in rows, that train/predict accept. Default 1,048,576. */
  maxBatch?: number;
  /** Memory limit in 64 KiB pages. Default 65,536 (4 GiB). */
  maximumMemoryPages?: number;
  /**
   * Training batches of more rows are split into shards of this many rows
   * (data-parallel in a pool). Results of such steps depend on it, never on
   * the number of workers. Default 1024.
   */
  shardRows?: number;
}

export const engineDefaults = Object.freeze({
  kernel: "simd" as KernelName,
  maxBatch: 1 << 20,
  maximumMemoryPages: 65536,
  initialMemoryPages: 16,
  shardRows: DEFAULT_SHARD_ROWS,
});

/** Staging buffers for one call, at absolute addresses: batch in, predictions out, scratch, anomaly records (stepLayout's plan). */
export interface Stage extends Omit<StepLayout, "shards" | "bytes"> {
  /** Set when the batch is above shardRows: a training step on it is sharded. */
  shards?: ShardBuffers;
}

/** @internal What a Model needs from its engine. */
export interface EngineCore {
  readonly arena: SharedArena;
  readonly kernels: KernelExports;
  readonly variant: KernelVariant;
  readonly maxBatch: number;
  readonly shardRows: number;
  stage(m: number, n: number, batch: number): Stage;
  release(ptr: number, model: Model): void;
}

export class Engine implements EngineCore {
  private readonly live = new Set<Model>();
  private staging?: { ptr: number; bytes: number };
  private lastStage?: { m: number; n: number; batch: number; stage: Stage };
  private closed = false;

  /** @internal Use createEngine(). */
  constructor(
    readonly arena: SharedArena,
    readonly kernels: KernelExports,
    readonly variant: KernelVariant,
    readonly maxBatch: number,
    readonly shardRows: number,
    /** The compiled module, for workers to instantiate over the same memory. */
    readonly module: WebAssembly.Module,
  ) {}

  /** Worker threads: none, every step runs on the calling thread. */
  get workers(): number {
    return 0;
  }

  /** Number of live models. */
  get models(): number {
    return this.live.size;
  }

  /** Memory one model of this shape takes. */
  modelBytes(m: number, n: number): number {
    return modelBlockBytes(m, n);
  }

  createModel(options: ModelOptions): Model {
    this.open();
    const resolved = resolveModelOptions(options);
    const { inputs: m, outputs: n } = resolved;
    const init = resolveInit(options.init, m, n) ?? linearInit(m, n, resolved.seed);
    const ptr = this.arena.alloc(this.kernels.model_bytes(m, n));
    writeOptions(this, ptr, resolved);
    const theta = (ptr + regions(m, n).theta) >>> 2;
    this.arena.f32.set(init.W, theta);
    this.arena.f32.set(init.b, theta + m * n);
    return this.track(new Model(this, ptr, resolved));
  }

  /** A new model from snapshot bytes. */
  restoreModel(bytes: Uint8Array): Model {
    this.open();
    const state = decodeSnapshot(bytes);
    const ptr = this.arena.alloc(this.kernels.model_bytes(state.options.inputs, state.options.outputs));
    writeState(this, ptr, state);
    return this.track(new Model(this, ptr, state.options));
  }

  /** Disposes every model and the staging buffers. */
  close(): void {
    for (const model of [...this.live]) model.dispose();
    if (this.staging) this.arena.release(this.staging.ptr);
    this.staging = undefined;
    this.lastStage = undefined;
    this.closed = true;
  }

  stage(m: number, n: number, batch: number): Stage {
    const last = this.lastStage;
    if (last && last.m === m && last.n === n && last.batch === batch) return last.stage;
    const k = this.kernels;
    // the module computes sizes in 32 bits: refuse, before asking it, a batch the memory limit could never hold
    const rough = 4 * (batch + 68) * (2 * m + 3 * n);
    if (rough > this.arena.limitBytes) throw errors.memory(rough, this.arena.limitBytes);
    const layout = stepLayout(k, m, n, batch, batch > this.shardRows ? planShards(batch, this.shardRows).count : undefined);
    const bytes = layout.bytes;
    if (!this.staging || this.staging.bytes < bytes) {
      // forget the old buffers before allocating: if the allocation fails, nothing points at freed memory
      if (this.staging) this.arena.release(this.staging.ptr);
      this.staging = undefined;
      this.lastStage = undefined;
      this.staging = { ptr: this.arena.alloc(bytes), bytes };
    }
    const { shards, bytes: _, ...buffers } = atAddress(layout, this.staging.ptr);
    const stage: Stage = buffers;
    if (shards) stage.shards = { x: stage.x, y: stage.y, moments: shards.moments, grads: shards.grads, cand: shards.cand };
    // consecutive calls mostly repeat a shape: skip the arithmetic and the wasm calls then
    this.lastStage = { m, n, batch, stage };
    return stage;
  }

  release(ptr: number, model: Model): void {
    this.arena.release(ptr);
    this.live.delete(model);
  }

  private track(model: Model): Model {
    this.live.add(model);
    return model;
  }

  private open(): void {
    if (this.closed) throw errors.engineClosed();
  }
}


/** An engine that runs every step on the calling thread (no workers). */
export async function createInProcessEngine(options: EngineOptions = {}): Promise<Engine> {
  const kernel = options.kernel ?? engineDefaults.kernel;
  const variant = kernelVariant(kernel);
  if (!variant) throw errors.config("kernel", `must be "simd" or "scalar" (got ${quote(kernel)})`);
  const maxBatch = options.maxBatch ?? engineDefaults.maxBatch;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw errors.config("maxBatch", `must be a positive integer (got ${quote(maxBatch)})`);
  const maximumPages = options.maximumMemoryPages ?? engineDefaults.maximumMemoryPages;
  if (!Number.isInteger(maximumPages) || maximumPages < engineDefaults.initialMemoryPages || maximumPages > 65536) {
    throw errors.config("maximumMemoryPages", `must be an integer from ${engineDefaults.initialMemoryPages} to 65536 (got ${quote(maximumPages)})`);
  }
  const module = await compileKernels(options.wasm);
  const shardRows = options.shardRows ?? engineDefaults.shardRows;
  if (!Number.isInteger(shardRows) || shardRows < 1) throw errors.config("shardRows", `must be a positive integer (got ${quote(shardRows)})`);
  const memory = createKernelMemory({ initialPages: engineDefaults.initialMemoryPages, maximumPages });
  const { exports: kernels, heapBase } = instantiateKernel(module, memory);
  const arena = new SharedArena(memory, { maximumPages, base: heapBase });
  return new Engine(arena, kernels, variant, maxBatch, shardRows, module);
}
