// The worker pool: Piscina workers over the engine's shared memory. The main
// thread owns allocation, memory growth and scheduling; a task carries byte
// offsets. Steps of one model run one at a time in arrival order (single
// writer), so any number of workers gives the bytes one thread would.
//
// A run of steps trains on a copy of the model block (its spare) and the main
// thread makes the copy current only when the task comes back: a worker that
// dies mid-step leaves the model exactly as it was.
import { recordCapacity, Status } from "../kernel/layout.js";
import { beginStep, endStep, trainResult } from "../engine/step.js";
import os from "node:os";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import { errors, quote, type GradlineError } from "../base/errors.js";
import type { Engine, EngineOptions } from "../engine/engine.js";
import { checkStagedRows, type Model, type TrainResult, type Samples } from "../engine/model.js";
import type { FlatSamples } from "../base/samples.js";
import { planShards, firstNonFiniteOf } from "../engine/shards.js";
import type { ModelOptions } from "../engine/options.js";
import type { ModelState } from "../engine/snapshot.js";
import type { WorkerData } from "./worker.js";
import * as T from "./tasks.js";
import { PoolModel } from "./model.js";
import { poolDefaults, resolvePoolLimits, type PoolOptions } from "./options.js";
import { recordBytes, type Pending, type PendingStep, type Run, type ShardJob, type ShardWork, type StepOutcome } from "./pending.js";

/** A Piscina pool of workers over one shared memory, scheduling models' steps. */
export class PoolEngine {
  readonly workers: number;
  private readonly ready: PoolModel[] = [];
  private readonly shardWork: ShardWork[] = [];
  private readonly models = new Set<PoolModel>();
  /** Tasks that may be on workers at once, and how many more may go now. */
  private readonly slots: number;
  private freeSlots: number;
  /** Freed batch buffers by exact size, for the next step of the same shape. */
  private readonly recycled = new Map<number, number[]>();
  private recycledTotal = 0;
  private pendingSteps = 0;
  private pendingBytes = 0;
  private closing = false;
  private closed?: Promise<void>;
  private drained?: () => void;

  /** @internal Use createEngine({ workers }). */
  constructor(
    /** @internal The in-process engine over the same memory: allocation and reads. */
    readonly local: Engine,
    private readonly piscina: Piscina,
    workers: number,
    private readonly limits: Required<Omit<PoolOptions, "workers">>,
  ) {
    this.workers = workers;
    this.slots = workers * poolDefaults.tasksPerWorker;
    this.freeSlots = this.slots;
  }

  /** Steps accepted and not yet finished, in all models. */
  get queueDepth(): number {
    return this.pendingSteps;
  }

  /** Bytes of batch data held for accepted, unfinished steps. */
  get queuedBytes(): number {
    return this.pendingBytes;
  }

  /** Tasks running on workers now. */
  get tasksInFlight(): number {
    return this.slots - this.freeSlots;
  }

  /** @internal The worker threads, for fault tests. */
  get threads(): readonly { terminate(): Promise<number> }[] {
    return this.piscina.threads;
  }

  createModel(options: ModelOptions): PoolModel {
    this.open();
    return this.adopt(this.local.createModel(options));
  }

  /** Memory one model of this shape takes: its committed block and the spare a step writes. */
  modelBytes(m: number, n: number): number {
    return 2 * this.local.modelBytes(m, n);
  }

  restoreModel(bytes: Uint8Array): PoolModel {
    this.open();
    return this.adopt(this.local.restoreModel(bytes));
  }

  /** Stops accepting work, finishes everything accepted, then stops the workers and frees the memory. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      if (!this.isDrained()) await new Promise<void>((resolve) => (this.drained = resolve));
      await this.piscina.destroy();
      this.local.close();
    })();
    return this.closed;
  }

  /** @internal */
  submitStep(model: PoolModel, x: Samples, y: Samples): Promise<TrainResult> {
    this.admit(model);
    const batch = model.committed.batchOf(x, y);
    const { rows } = batch;
    const m = model.inputs;
    const dataBytes = 4 * rows * (m + model.outputs);
    const bytes = dataBytes + recordBytes(rows);
    if (bytes > this.limits.maxQueuedBytes) {
      throw errors.shape(`a batch of ${bytes} bytes can never fit maxQueuedBytes (${this.limits.maxQueuedBytes}); split it`, { bytes, max: this.limits.maxQueuedBytes });
    }
    if (this.pendingBytes + bytes > this.limits.maxQueuedBytes) throw errors.busy("engine bytes", this.pendingBytes, this.limits.maxQueuedBytes);
    const buffer = this.takeStaged(model, batch.x, batch.y, rows, bytes) ?? this.copyIn(batch.x, batch.y, rows * m, bytes);
    this.pendingBytes += bytes;
    const recordCap = recordCapacity(rows);
    const promise = new Promise<TrainResult>((resolve, reject) => {
      model.queue.push({ kind: "step", buffer, bytes, rows, x: buffer, y: buffer + 4 * rows * m, records: buffer + dataBytes, recordCap, resolve, reject });
    });
    this.accepted(model);
    return promise;
  }

  /** @internal Views of a new batch buffer in the shared memory; train() on them takes it without copying. */
  stageBatch(model: PoolModel, rows: number): { x: Float32Array; y: Float32Array } {
    this.open();
    if (model.disposed) throw errors.disposed();
    checkStagedRows(rows, this.local.maxBatch);
    const bytes = 4 * rows * (model.inputs + model.outputs) + recordBytes(rows);
    const buffer = this.reuse(bytes) ?? this.local.arena.alloc(bytes, false);
    model.staged.set(buffer, { rows, bytes });
    const at = buffer >>> 2;
    const f32 = this.local.arena.f32;
    return { x: f32.subarray(at, at + rows * model.inputs), y: f32.subarray(at + rows * model.inputs, at + rows * (model.inputs + model.outputs)) };
  }

  /** Copies a batch into a new buffer of the shared memory: x's `xLength` values, then y. */
  private copyIn(x: FlatSamples["values"], y: FlatSamples["values"], xLength: number, bytes: number): number {
    const arena = this.local.arena;
    const buffer = this.reuse(bytes) ?? arena.alloc(bytes, false);
    arena.f32.set(x, buffer >>> 2);
    arena.f32.set(y, (buffer >>> 2) + xLength);
    return buffer;
  }

  /** The staged buffer that x and y are exactly the views of, now owned by the step; else undefined. */
  private takeStaged(model: PoolModel, x: FlatSamples["values"], y: FlatSamples["values"], rows: number, bytes: number): number | undefined {
    if (!(x instanceof Float32Array) || !(y instanceof Float32Array)) return undefined;
    const arena = this.local.arena;
    if (!arena.owns(x.buffer) || !arena.owns(y.buffer)) return undefined;
    const buffer = x.byteOffset;
    const staged = model.staged.get(buffer);
    if (staged?.rows !== rows || staged.bytes !== bytes || y.byteOffset !== buffer + 4 * rows * model.inputs) return undefined;
    model.staged.delete(buffer);
    return buffer;
  }

  /** @internal */
  submitRestore(model: PoolModel, state: ModelState): Promise<void> {
    this.admit(model);
    const promise = new Promise<void>((resolve, reject) => model.queue.push({ kind: "restore", state, resolve, reject }));
    this.accepted(model);
    return promise;
  }

  /** @internal */
  submitSnapshot(model: PoolModel): Promise<Uint8Array> {
    // not held to the step limits: a checkpoint of a busy model must not fail for being busy
    this.open();
    if (model.disposed) throw errors.disposed();
    const promise = new Promise<Uint8Array>((resolve, reject) => model.queue.push({ kind: "snapshot", resolve, reject }));
    this.accepted(model);
    return promise;
  }

  /** Refuses an operation on a closed engine or model, or beyond the step limits. */
  private admit(model: PoolModel): void {
    this.open();
    if (model.disposed) throw errors.disposed();
    if (model.pendingSteps >= this.limits.maxQueuedPerModel) throw errors.busy("model steps", model.pendingSteps, this.limits.maxQueuedPerModel);
    if (this.pendingSteps >= this.limits.maxQueuedSteps) throw errors.busy("engine steps", this.pendingSteps, this.limits.maxQueuedSteps);
  }

  private accepted(model: PoolModel): void {
    model.pendingSteps++;
    this.pendingSteps++;
    this.markReady(model);
    this.pump();
  }

  /** @internal */
  dispose(model: PoolModel): void {
    if (model.disposed) return;
    model.disposed = true;
    for (const op of model.queue.splice(0)) this.settle(model, op, errors.disposed());
    if (!model.busy) this.free(model);
  }

  private adopt(committed: Model): PoolModel {
    const bytes = this.local.kernels.model_bytes(committed.inputs, committed.outputs);
    let spare: number;
    try {
      spare = this.local.arena.alloc(bytes);
    } catch (error) {
      committed.dispose();
      throw error;
    }
    const model = new PoolModel(this, committed, spare);
    this.models.add(model);
    return model;
  }

  private free(model: PoolModel): void {
    for (const buffer of model.staged.keys()) this.local.arena.release(buffer);
    model.staged.clear();
    model.committed.dispose();
    this.local.arena.release(model.spare);
    this.models.delete(model);
    this.checkDrained();
  }

  private open(): void {
    if (this.closing) throw errors.disposed();
  }

  private markReady(model: PoolModel): void {
    if (!model.busy && !model.ready && model.queue.length > 0) {
      model.ready = true;
      this.ready.push(model);
    }
  }

  /** Sends work while workers are free: shards of data-parallel steps first, then runs of small steps. */
  private pump(): void {
    while (this.freeSlots > 0) {
      const shardWork = this.shardWork.shift();
      if (shardWork) {
        this.sendShards(shardWork);
        continue;
      }
      const runs = this.gatherRuns();
      if (runs.length > 0) this.sendRuns(runs);
      // gathering may have started a data-parallel job instead: its shards go out next
      else if (this.shardWork.length === 0) break;
    }
    this.checkDrained();
  }

  /**
   * Takes ready models in turn — a fair share of them per free worker — each
   * for at most maxStepsPerRun consecutive small steps, until the task holds
   * taskFlops of work. Restores at the head of a queue run here; a large step
   * starts its data-parallel job.
   */
  private gatherRuns(): Run[] {
    const runs: Run[] = [];
    const share = Math.ceil(this.ready.length / this.freeSlots);
    let flops = 0;
    while (flops < poolDefaults.taskFlops && runs.length < share) {
      const model = this.ready.shift();
      if (!model) break;
      model.ready = false;
      this.runStateOps(model);
      const head = model.queue[0];
      if (!head || head.kind !== "step") continue;
      if (head.rows > this.local.shardRows) {
        model.queue.shift();
        this.startShardJob(model, head);
        continue;
      }
      const steps: PendingStep[] = [];
      while (steps.length < poolDefaults.maxStepsPerRun && (steps.length === 0 || flops < poolDefaults.taskFlops)) {
        const next = model.queue[0];
        if (!next || next.kind !== "step" || next.rows > this.local.shardRows) break;
        model.queue.shift();
        steps.push(next);
        flops += 4 * next.rows * model.inputs * model.outputs;
      }
      model.busy = true;
      runs.push({ model, steps });
    }
    return runs;
  }

  /** Restores and snapshots at the head of the queue: they run here, between steps. */
  private runStateOps(model: PoolModel): void {
    for (let op = model.queue[0]; op !== undefined && op.kind !== "step"; op = model.queue[0]) {
      model.queue.shift();
      if (op.kind === "restore") {
        model.committed.restoreState(op.state);
        this.settle(model, op);
      } else {
        let bytes: Uint8Array;
        try {
          bytes = model.committed.snapshot();
        } catch (error) {
          this.settle(model, op, error as Error);
          continue;
        }
        this.settle(model, op, bytes);
      }
    }
  }

  private sendRuns(runs: Run[]): void {
    const k = this.local.kernels;
    let scratchBytes = 0;
    for (const { model, steps } of runs) {
      for (const s of steps) scratchBytes = Math.max(scratchBytes, k.scratch_bytes(model.inputs, model.outputs, s.rows));
    }
    let scratch: number;
    try {
      scratch = this.local.arena.alloc(scratchBytes, false);
    } catch (error) {
      for (const { model, steps } of runs) {
        for (const step of steps) this.settle(model, step, error as Error);
        this.idle(model);
      }
      return;
    }
    const task = T.encodeRuns(
      runs.map(({ model, steps }) => ({
        from: model.committed.block,
        to: model.spare,
        blockBytes: k.model_bytes(model.inputs, model.outputs),
        steps,
      })),
      scratch,
    );
    this.dispatch(task, scratch, (result, cause) => this.finishRuns(runs, result, cause));
  }

  /** Sends a task on a free slot; when it settles, frees the slot and its scratch, then hands over the outcome. */
  private dispatch(task: Float64Array, scratch: number, done: (result: Float64Array | undefined, cause?: unknown) => void): void {
    this.freeSlots--;
    const settle = (result: Float64Array | undefined, cause?: unknown) => {
      this.local.arena.release(scratch);
      this.freeSlots++;
      done(result, cause);
    };
    this.piscina.run(task).then((result: Float64Array) => settle(result), (cause: unknown) => settle(undefined, cause));
  }

  private finishRuns(runs: Run[], result: Float64Array | undefined, cause?: unknown): void {
    let at = 0;
    for (const { model, steps } of runs) {
      if (result) this.commit(model);
      for (const step of steps) {
        if (!result) {
          this.settle(model, step, errors.worker(cause));
        } else {
          const record = T.readStepRecord(result, at);
          this.settle(model, step, record.status === Status.ok
            ? trainResult(record, this.local.arena.view, step.records, step.recordCap, model.inputs)
            : record.status === Status.diverged
              ? errors.diverged(record.step + 1, record.loss)
              : this.nonFinite(model, step, record.status, record.badIndex));
        }
        at += T.kResultFields;
      }
      this.idle(model);
    }
    this.pump();
  }

  /** The spare block holds the state after the work just done: make it the model. */
  private commit(model: PoolModel): void {
    if (model.disposed) return;
    const previous = model.committed.block;
    model.committed.rebind(model.spare);
    model.spare = previous;
  }

  /** E_NONFINITE for a rejected step, `index` counting into the whole batch. */
  private nonFinite(model: PoolModel, step: PendingStep, status: number, index: number): Error {
    if (status !== Status.nonFiniteX && status !== Status.nonFiniteY) return errors.kernel(`unexpected status ${status}`);
    const isX = status === Status.nonFiniteX;
    // read from the step's own copy: the caller's arrays may be gone (a server frame's buffer is)
    const value = this.local.arena.f32[((isX ? step.x : step.y) >>> 2) + index]!;
    return errors.nonFinite(isX ? "x" : "y", index, isX ? model.inputs : model.outputs, value);
  }

  /** Settles an accepted operation (with its result, or an error) and releases what it held. */
  private settle(model: PoolModel, op: Pending, outcome?: StepOutcome | Uint8Array | Error): void {
    model.pendingSteps--;
    this.pendingSteps--;
    if (op.kind === "step") {
      this.recycle(op.buffer, op.bytes);
      this.pendingBytes -= op.bytes;
    }
    if (outcome instanceof Error) op.reject(outcome);
    else if (op.kind === "step") op.resolve(outcome as StepOutcome);
    else if (op.kind === "snapshot") op.resolve(outcome as Uint8Array);
    else op.resolve();
  }

  private reuse(bytes: number): number | undefined {
    const buffer = this.recycled.get(bytes)?.pop();
    if (buffer !== undefined) this.recycledTotal -= bytes;
    return buffer;
  }

  /** Keeps a freed batch buffer for the next batch of the same size, within recycledBytes. */
  private recycle(buffer: number, bytes: number): void {
    if (this.recycledTotal + bytes > poolDefaults.recycledBytes || this.closing) {
      this.local.arena.release(buffer);
      return;
    }
    const list = this.recycled.get(bytes);
    if (list) list.push(buffer);
    else this.recycled.set(bytes, [buffer]);
    this.recycledTotal += bytes;
  }

  /** A model's work finished: free it if it was disposed meanwhile, else queue what it has left. */
  private idle(model: PoolModel): void {
    model.busy = false;
    if (model.disposed) this.free(model);
    else this.markReady(model);
  }

  private startShardJob(model: PoolModel, step: PendingStep): void {
    model.busy = true;
    const { inputs: m, outputs: n } = model;
    const k = this.local.kernels;
    const arena = this.local.arena;
    const plan = planShards(step.rows, this.local.shardRows);
    const held: number[] = [];
    try {
      for (const bytes of [plan.count * k.moments_bytes(m, n), plan.count * k.shard_grad_bytes(m, n), k.moments_bytes(m, n)]) {
        held.push(arena.alloc(bytes, false));
      }
    } catch (error) {
      for (const buffer of held) arena.release(buffer);
      this.settle(model, step, error as Error);
      this.idle(model);
      return;
    }
    // shards write only the spare block (bad_index on rejection): readers of the committed block see nothing
    const from = model.committed.block;
    arena.u8.copyWithin(model.spare, from, from + k.model_bytes(m, n));
    const [moments, grads, cand] = held as [number, number, number];
    const job: ShardJob = {
      model,
      step,
      block: model.spare,
      plan,
      buffers: { x: step.x, y: step.y, moments, grads, cand },
      phase: T.TaskKind.moments, // statistics are kept with or without standardisation
      remaining: 0,
    };
    this.queuePhase(job);
  }

  /** Splits the shards into one contiguous group per worker; grouping never changes the result. */
  private queuePhase(job: ShardJob): void {
    const groups = Math.min(job.plan.count, this.workers);
    const per = Math.ceil(job.plan.count / groups);
    job.remaining = 0;
    for (let first = 0; first < job.plan.count; first += per) {
      const shards = Array.from({ length: Math.min(per, job.plan.count - first) }, (_, i) => first + i);
      this.shardWork.push({ job, shards });
      job.remaining++;
    }
  }

  private sendShards({ job, shards }: ShardWork): void {
    if (job.failure || job.rejected !== undefined) {
      // the step has failed already: skip the work, just count the group done
      this.shardGroupDone(job);
      return;
    }
    const { inputs: m, outputs: n } = job.model;
    let scratch: number;
    try {
      scratch = this.local.arena.alloc(this.local.kernels.scratch_bytes(m, n, job.plan.shardRows), false);
    } catch (error) {
      job.failure = error as GradlineError;
      this.shardGroupDone(job);
      return;
    }
    const task = T.encodeShards({
      kind: job.phase,
      model: job.block,
      m,
      n,
      shardRows: job.plan.shardRows,
      totalRows: job.plan.totalRows,
      ...job.buffers,
      scratch,
      shards,
    });
    this.dispatch(task, scratch, (result, cause) => this.finishShards(job, result, cause));
  }

  private finishShards(job: ShardJob, result: Float64Array | undefined, cause?: unknown): void {
    if (!result) job.failure ??= errors.worker(cause);
    else {
      for (const status of result) if (status !== Status.ok) job.rejected ??= status;
    }
    this.shardGroupDone(job);
    this.pump();
  }

  private shardGroupDone(job: ShardJob): void {
    if (--job.remaining > 0) return;
    const error = job.failure ?? (job.rejected !== undefined ? this.shardError(job, job.rejected) : undefined);
    if (!error && job.phase === T.TaskKind.moments) {
      this.local.kernels.f32_moments_merge(job.block, job.buffers.moments, job.plan.count, job.plan.shardRows, job.plan.totalRows, job.buffers.cand);
      job.phase = T.TaskKind.gradient;
      this.queuePhase(job);
      return;
    }
    this.finishShardJob(job, error ?? this.applyShards(job));
  }

  /** Reduction and update, O(shards · parameters): here, on the job's block. */
  private applyShards(job: ShardJob): StepOutcome | Error {
    const { model, block, plan, buffers } = job;
    const k = this.local.kernels;
    let scratch: number;
    try {
      scratch = this.local.stage(model.inputs, model.outputs, 1).scratch;
    } catch (error) {
      return error as Error;
    }
    const view = this.local.arena.view;
    // sharded steps are not checked for anomalies: no records
    beginStep(view, block, 0, 0);
    const status = this.local.variant.shardApply(k)(block, buffers.grads, plan.count, plan.totalRows, buffers.cand, scratch);
    const record = endStep(view, block, status);
    if (status !== Status.ok) return errors.diverged(record.step + 1, record.loss);
    this.commit(model);
    return trainResult(record, view, 0, 0, model.inputs);
  }

  private finishShardJob(job: ShardJob, outcome: StepOutcome | Error): void {
    for (const buffer of [job.buffers.moments, job.buffers.grads, job.buffers.cand]) this.local.arena.release(buffer);
    this.settle(job.model, job.step, outcome);
    this.idle(job.model);
  }

  /** The error a single thread would give: the batch's first non-finite value, x before y. */
  private shardError(job: ShardJob, status: number): Error {
    const first = firstNonFiniteOf(this.local.arena.f32, job.buffers, job.plan.totalRows, job.model.inputs, job.model.outputs);
    return first ? this.nonFinite(job.model, job.step, first.status, first.index) : errors.kernel(`unexpected status ${status}`);
  }

  private isDrained(): boolean {
    return this.pendingSteps === 0 && this.freeSlots === this.slots && this.ready.length === 0;
  }

  private checkDrained(): void {
    if (this.drained && this.isDrained()) {
      const done = this.drained;
      this.drained = undefined;
      done();
    }
  }
}

/** The compiled worker: from dist/ beside this file, or from dist/ when this file runs as TypeScript source. */
function workerFilename(): string {
  for (const candidate of ["./worker.js", "../../dist/host/pool/worker.js"]) {
    const path = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw errors.wasm("dist/host/pool/worker.js not found; run `npm run build`");
}

/** Starts `workers` Piscina workers over the in-process engine's memory and module. */
export function startPool(local: Engine, module: WebAssembly.Module, options: PoolOptions & EngineOptions): PoolEngine {
  const workers = options.workers ?? Math.min(os.availableParallelism(), 256);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
    throw errors.config("workers", `must be an integer from 0 (no threads) to 256 (got ${quote(workers)})`);
  }
  const limits = resolvePoolLimits(options);
  const workerData: WorkerData = { module, memory: local.arena.memory, kernel: local.variant.name };
  const piscina = new Piscina({
    filename: workerFilename(),
    minThreads: workers,
    maxThreads: workers,
    concurrentTasksPerWorker: poolDefaults.tasksPerWorker,
    idleTimeout: Number.MAX_SAFE_INTEGER,
    atomics: "sync",
    workerData,
  });
  // a worker that dies fails the task it held (handled there); with no task held, Piscina reports it here
  piscina.on("error", () => {});
  return new PoolEngine(local, piscina, workers, limits);
}
