// A model handle: one block of the shared memory, driven through the kernels.
// Every entry point validates before it touches the block.
import { driftSite, readDriftState, restoreDriftState, writeDrift } from "./drift.js";
import { beginStep, endStep, trainResult, type TrainResult } from "./step.js";
import { solveSetpoint, type SetpointRequest, type SetpointResult } from "./setpoint.js";
import { errors, quote } from "../base/errors.js";
import { Header, Flags, Status, paramCount, regions, anomalyStateLength, writeHeader } from "../kernel/layout.js";
import type { ResolvedModelOptions } from "./options.js";
import { encodeSnapshot, decodeSnapshot, type ModelState } from "./snapshot.js";
import type { EngineCore, Stage } from "./engine.js";
import { firstNonFiniteOf, planShards, shardGradient, shardMoments, type ShardBuffers } from "./shards.js";
import { batchOf, flatSamples, rowsOf, type FlatSamples, type Samples } from "../base/samples.js";

export type { Samples } from "../base/samples.js";

export type { TrainResult, Anomaly } from "./step.js";

export interface Params {
  /** n×m row-major, raw units. */
  W: Float32Array;
  /** n, raw units. */
  b: Float32Array;
  step: number;
  version: number;
  /**
   * Standardised coefficients, n×m: W[j,k]·σx[k]/σy[j], how far output j moves (in its
   * spreads) when input k moves by one of its spreads. 0 where an input or output has not
   * varied; null before the model has seen two samples.
   */
  importance: Float32Array | null;
}

export interface Gradient {
  loss: number;
  /** ∂L/∂W̃ (n×m, training space; L2 included). */
  W: Float32Array;
  /** ∂L/∂b̃ (n, training space). */
  b: Float32Array;
}

export class Model {
  readonly inputs: number;
  readonly outputs: number;
  private ptr: number;
  private opts: ResolvedModelOptions;

  /** @internal Use engine.createModel or engine.restoreModel. */
  constructor(private readonly core: EngineCore, ptr: number, options: ResolvedModelOptions) {
    this.ptr = ptr;
    this.opts = options;
    this.inputs = options.inputs;
    this.outputs = options.outputs;
  }

  /** The resolved options this model runs with. */
  get options(): ResolvedModelOptions {
    return structuredClone(this.opts);
  }

  get disposed(): boolean {
    return this.ptr === 0;
  }

  /** One optimiser step on a batch: x is B×inputs, y is B×outputs, row-major. */
  train(x: Samples, y: Samples): TrainResult {
    const { ptr, batch, stage, xs, ys } = this.load(x, y);
    const view = this.core.arena.view;
    beginStep(view, ptr, stage.records, stage.recordCap);
    const status = stage.shards
      ? this.trainSharded(ptr, batch, stage.shards, stage.scratch)
      : this.core.variant.train(this.core.kernels)(ptr, stage.x, stage.y, batch, stage.scratch);
    const record = endStep(view, ptr, status);
    if (status !== Status.ok) throw this.failure(status, xs, ys);
    return trainResult(record, view, stage.records, stage.recordCap, this.inputs);
  }

  /** Mean loss on a batch, without changing anything. */
  evaluate(x: Samples, y: Samples): number {
    const { ptr, batch, stage, xs, ys } = this.load(x, y);
    const status = this.core.variant.evaluate(this.core.kernels)(ptr, stage.x, stage.y, batch, stage.scratch);
    if (status !== Status.ok) throw this.failure(status, xs, ys);
    return this.core.arena.view.getFloat64(ptr + Header.lossOut, true);
  }

  /** Loss and gradient of a batch in the training space, without changing anything. */
  gradient(x: Samples, y: Samples): Gradient {
    const { ptr, batch, stage, xs, ys } = this.load(x, y);
    const status = this.core.variant.gradient(this.core.kernels)(ptr, stage.x, stage.y, batch, stage.scratch);
    if (status !== Status.ok) throw this.failure(status, xs, ys);
    const { arena } = this.core;
    const at = (stage.scratch + stage.gradOffset) >>> 2;
    const nm = this.inputs * this.outputs;
    return {
      loss: arena.view.getFloat64(ptr + Header.lossOut, true),
      W: arena.f32.slice(at, at + nm),
      b: arena.f32.slice(at + nm, at + nm + this.outputs),
    };
  }

  /** ŷ for x (B×inputs): B×outputs, row-major, raw units. */
  predict(x: Samples): Float32Array {
    const { ptr, batch, stage, xs } = this.load(x);
    const status = this.core.variant.predict(this.core.kernels)(ptr, stage.x, batch, stage.scratch, stage.out);
    if (status !== Status.ok) throw this.failure(status, xs, xs);
    return this.core.arena.f32.slice(stage.out >>> 2, (stage.out >>> 2) + batch * this.outputs);
  }

  /**
   * Zero-copy input: views of the engine's staging buffers for a batch of
   * `batch` rows. Fill them and pass them to train/evaluate/gradient/predict,
   * which then skip copying. Valid until the engine next handles another shape.
   */
  stageBatch(batch: number): { x: Float32Array; y: Float32Array } {
    this.live();
    checkStagedRows(batch, this.core.maxBatch);
    const stage = this.core.stage(this.inputs, this.outputs, batch);
    const f32 = this.core.arena.f32;
    return {
      x: f32.subarray(stage.x >>> 2, (stage.x >>> 2) + batch * this.inputs),
      y: f32.subarray(stage.y >>> 2, (stage.y >>> 2) + batch * this.outputs),
    };
  }

  /** The inputs that bring the predictions closest to a target within constraints (raw units). */
  setpoint(request: SetpointRequest): SetpointResult {
    const ptr = this.live();
    return solveSetpoint(this.core.kernels, this.core.arena, ptr, this.inputs, this.outputs, this.progress().version, request);
  }

  /** The step count and parameter version, without reading the parameters. */
  progress(): { step: number; version: number } {
    const ptr = this.live();
    const view = this.core.arena.view;
    return { step: view.getFloat64(ptr + Header.step, true), version: view.getFloat64(ptr + Header.version, true) };
  }

  /** W and b in raw units, with the step and version they belong to. */
  params(): Params {
    const ptr = this.live();
    const { kernels, arena } = this.core;
    const nm = this.inputs * this.outputs;
    // a buffer of its own: the staging buffers may hold a batch the caller staged
    const out = arena.alloc(4 * (nm + this.outputs), false);
    try {
      kernels.f32_raw_params(ptr, out);
      const at = out >>> 2;
      const view = arena.view;
      const W = arena.f32.slice(at, at + nm);
      return {
        W,
        b: arena.f32.slice(at + nm, at + nm + this.outputs),
        step: view.getFloat64(ptr + Header.step, true),
        version: view.getFloat64(ptr + Header.version, true),
        importance: this.importance(ptr, W),
      };
    } finally {
      arena.release(out);
    }
  }

  /** W scaled by the spreads the statistics hold (population σ, as standardisation uses). */
  private importance(ptr: number, W: Float32Array): Float32Array | null {
    const { arena } = this.core;
    const m = this.inputs;
    const n = this.outputs;
    const count = arena.view.getFloat64(ptr + Header.count, true);
    if (!(count >= 2)) return null;
    const stats = (ptr + regions(m, n).stats) >>> 3;
    const f64 = arena.f64;
    const sigma = (m2: number) => (m2 > 0 ? Math.sqrt(m2 / count) : 0);
    const out = new Float32Array(n * m);
    for (let j = 0; j < n; j++) {
      const sy = sigma(f64[stats + 2 * m + n + j]!);
      for (let k = 0; k < m; k++) {
        const sx = sigma(f64[stats + m + k]!);
        out[j * m + k] = sy > 0 ? (W[j * m + k]! * sx) / sy : 0;
      }
    }
    return out;
  }

  /** Versioned, self-describing bytes of the whole state; restore() or engine.restoreModel() read them. */
  snapshot(): Uint8Array {
    return encodeSnapshot(this.readState());
  }

  /** The snapshot after every accepted step: here at once, as every step is done when train returns (a PoolModel waits for its queue). */
  settledSnapshot(): Promise<Uint8Array> {
    return Promise.resolve(this.snapshot());
  }

  /** Steps accepted and not finished: none here, train() finishes its step before it returns. */
  get queueDepth(): number {
    return 0;
  }

  /** Replaces this model's state (options included) by a snapshot of a model with the same shape. */
  restore(bytes: Uint8Array): void {
    this.restoreState(this.decodeFor(bytes));
  }

  /** @internal Decodes a snapshot and checks it fits this model. */
  decodeFor(bytes: Uint8Array): ModelState {
    this.live();
    const state = decodeSnapshot(bytes);
    if (state.options.inputs !== this.inputs || state.options.outputs !== this.outputs) {
      throw errors.shape(
        `snapshot holds a ${state.options.outputs}×${state.options.inputs} model; this model is ${this.outputs}×${this.inputs}`,
        { expected: [this.outputs, this.inputs], got: [state.options.outputs, state.options.inputs] },
      );
    }
    return state;
  }

  /** @internal Writes an already decoded and checked state. */
  restoreState(state: ModelState): void {
    writeState(this.core, this.live(), state);
    this.opts = state.options;
  }

  /** Releases the model's memory. Any later call fails with E_DISPOSED. */
  dispose(): void {
    if (this.ptr === 0) return;
    this.core.release(this.ptr, this);
    this.ptr = 0;
  }

  /** A data-parallel step, its shards run one after another (docs/ABI.md, shard.ts). */
  private trainSharded(ptr: number, batch: number, buffers: ShardBuffers, scratch: number): number {
    const { kernels, variant, arena } = this.core;
    const plan = planShards(batch, this.core.shardRows);
    const rejected = (status: number) => {
      const first = firstNonFiniteOf(arena.f32, buffers, batch, this.inputs, this.outputs);
      if (!first) return status;
      arena.view.setInt32(ptr + Header.badIndex, first.index, true);
      return first.status;
    };
    // statistics are kept with or without standardisation
    for (let i = 0; i < plan.count; i++) {
      const status = shardMoments(kernels, ptr, this.inputs, this.outputs, buffers, plan, i, scratch);
      if (status !== Status.ok) return rejected(status);
    }
    kernels.f32_moments_merge(ptr, buffers.moments, plan.count, plan.shardRows, batch, buffers.cand);
    for (let i = 0; i < plan.count; i++) {
      const status = shardGradient(kernels, variant, ptr, this.inputs, this.outputs, buffers, plan, i, scratch);
      if (status !== Status.ok) return rejected(status);
    }
    return variant.shardApply(kernels)(ptr, buffers.grads, plan.count, batch, buffers.cand, scratch);
  }

  /** Validates a batch and puts it in the staging buffers (unless it is already there). */
  private load(x: Samples, y?: Samples): { ptr: number; batch: number; stage: Stage; xs: FlatSamples["values"]; ys: FlatSamples["values"] } {
    const ptr = this.live();
    const xs = flatSamples(x, "x", this.inputs).values;
    const ys = y === undefined ? xs : flatSamples(y, "y", this.outputs).values;
    const batch = y === undefined ? rowsOf(xs.length, this.inputs, this.core.maxBatch) : batchOf(xs.length, ys.length, this.inputs, this.outputs, this.core.maxBatch);
    const stage = this.core.stage(this.inputs, this.outputs, batch);
    const f32 = this.core.arena.f32;
    const staged = (v: FlatSamples["values"], at: number) => v instanceof Float32Array && this.core.arena.owns(v.buffer) && v.byteOffset === at;
    if (!staged(xs, stage.x)) f32.set(xs, stage.x >>> 2);
    if (y !== undefined && !staged(ys, stage.y)) f32.set(ys, stage.y >>> 2);
    return { ptr, batch, stage, xs, ys };
  }

  private live(): number {
    if (this.ptr === 0) throw errors.disposed();
    return this.ptr;
  }

  /** @internal The pool moves a model between its two blocks. */
  rebind(ptr: number): void {
    this.ptr = ptr;
  }

  /** @internal The block currently holding this model's state. */
  get block(): number {
    return this.live();
  }

  /** @internal A training batch checked and flat, with its rows: what the pool copies in. */
  batchOf(x: Samples, y: Samples): { x: FlatSamples["values"]; y: FlatSamples["values"]; rows: number } {
    const xs = flatSamples(x, "x", this.inputs).values;
    const ys = flatSamples(y, "y", this.outputs).values;
    return { x: xs, y: ys, rows: batchOf(xs.length, ys.length, this.inputs, this.outputs, this.core.maxBatch) };
  }

  private failure(status: number, x: FlatSamples["values"], y: FlatSamples["values"]): Error {
    const view = this.core.arena.view;
    if (status === Status.nonFiniteX || status === Status.nonFiniteY) {
      const index = view.getInt32(this.ptr + Header.badIndex, true);
      const isX = status === Status.nonFiniteX;
      return errors.nonFinite(isX ? "x" : "y", index, isX ? this.inputs : this.outputs, Number((isX ? x : y)[index]));
    }
    if (status === Status.diverged) {
      return errors.diverged(view.getFloat64(this.ptr + Header.step, true) + 1, view.getFloat64(this.ptr + Header.lossOut, true));
    }
    return errors.kernel(`unexpected status ${status}`);
  }

  private readState(): ModelState {
    const ptr = this.live();
    const { arena } = this.core;
    const r = regions(this.inputs, this.outputs);
    const p = paramCount(this.inputs, this.outputs);
    const view = arena.view;
    const f32 = (offset: number) => arena.f32.slice((ptr + offset) >>> 2, ((ptr + offset) >>> 2) + p);
    const s = (ptr + r.stats) >>> 3;
    return {
      options: structuredClone(this.opts),
      step: view.getFloat64(ptr + Header.step, true),
      version: view.getFloat64(ptr + Header.version, true),
      count: view.getFloat64(ptr + Header.count, true),
      theta: f32(r.theta),
      s1: f32(r.s1),
      s2: f32(r.s2),
      stats: arena.f64.slice(s, s + 2 * (this.inputs + this.outputs)),
      anomaly: arena.f64.slice((ptr + r.anomaly) >>> 3, ((ptr + r.anomaly) >>> 3) + anomalyStateLength(this.inputs, this.outputs)),
      drift: readDriftState(driftSite(view, ptr, this.inputs, this.outputs)),
    };
  }
}

/** @internal The first `count` records a training step wrote at `records`. */
/** @internal The row count asked of stageBatch, validated. */
export function checkStagedRows(batch: number, maxBatch: number): void {
  if (!Number.isInteger(batch) || batch < 1 || batch > maxBatch) {
    throw errors.shape(`batch must be an integer from 1 to ${maxBatch} (got ${quote(batch)})`, { batch });
  }
}

/** Writes the header fields that encode the options. */
export function writeOptions(core: EngineCore, ptr: number, o: ResolvedModelOptions): void {
  const view = core.arena.view;
  const opt = o.optimizer;
  const nesterov = opt.type === "momentum" && opt.nesterov;
  const a = o.anomaly;
  writeHeader(view, ptr, {
    m: o.inputs,
    n: o.outputs,
    loss: o.loss,
    optimizer: opt.type,
    flags: (o.standardize ? Flags.standardize : 0) | (nesterov ? Flags.nesterov : 0) | (a ? Flags.anomaly : 0) | (a?.exclude ? Flags.exclude : 0),
    lr: opt.lr,
    l2: o.l2,
    delta: o.huberDelta,
    beta1: opt.type === "adam" ? opt.beta1 : opt.type === "momentum" ? opt.momentum : 0,
    beta2: opt.type === "adam" ? opt.beta2 : 0,
    eps: opt.type === "adam" ? opt.eps : 0,
    anomalyResidual: a?.residual,
    anomalyMargin: a?.margin,
    anomalyStuck: a?.stuck,
    anomalyWarmup: a?.warmup,
  });
  // a new or restored state is a new regime: the detector learns the loss level afresh
  writeDrift(driftSite(view, ptr, o.inputs, o.outputs), o.drift, opt.lr);
}

/** Writes a whole decoded state into the model block at `ptr`. */
export function writeState(core: EngineCore, ptr: number, state: ModelState): void {
  const { arena } = core;
  const { inputs: m, outputs: n } = state.options;
  const r = regions(m, n);
  writeOptions(core, ptr, state.options);
  const view = arena.view;
  view.setFloat64(ptr + Header.step, state.step, true);
  view.setFloat64(ptr + Header.version, state.version, true);
  view.setFloat64(ptr + Header.count, state.count, true);
  arena.f32.set(state.theta, (ptr + r.theta) >>> 2);
  arena.f32.set(state.s1, (ptr + r.s1) >>> 2);
  arena.f32.set(state.s2, (ptr + r.s2) >>> 2);
  arena.f64.set(state.anomaly, (ptr + r.anomaly) >>> 3);
  arena.f64.set(state.stats, (ptr + r.stats) >>> 3);
  restoreDriftState(driftSite(view, ptr, m, n), state.drift);
}
