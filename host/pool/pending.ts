// What the pool has accepted and not yet finished: a model's queued operations, the
// runs of steps a task carries, and a data-parallel step in progress.
import { ANOMALY_RECORD_BYTES, recordCapacity } from "../kernel/layout.js";
import type { GradlineError } from "../base/errors.js";
import type { TrainResult } from "../engine/step.js";
import type { ShardBuffers, ShardPlan } from "../engine/shards.js";
import type { ModelState } from "../engine/snapshot.js";
import type * as T from "./tasks.js";
import type { PoolModel } from "./model.js";

export interface PendingStep {
  kind: "step";
  buffer: number;
  bytes: number;
  rows: number;
  x: number;
  y: number;
  /** Anomaly records of the step, after x and y in the same buffer (recordCap 0: no room). */
  records: number;
  recordCap: number;
  resolve(result: TrainResult): void;
  reject(error: Error): void;
}

export interface PendingRestore {
  kind: "restore";
  state: ModelState;
  resolve(): void;
  reject(error: Error): void;
}

/** A snapshot taken after every operation accepted before it. */
export interface PendingSnapshot {
  kind: "snapshot";
  resolve(bytes: Uint8Array): void;
  reject(error: Error): void;
}

export type Pending = PendingStep | PendingRestore | PendingSnapshot;

/**
 * One data-parallel step in progress: its shards go out in phases, merge and
 * apply run here. It works on the model's spare block (a copy), which becomes
 * the model when the step succeeds.
 */
export interface ShardJob {
  model: PoolModel;
  step: PendingStep;
  block: number;
  plan: ShardPlan;
  buffers: ShardBuffers;
  phase: typeof T.TaskKind.moments | typeof T.TaskKind.gradient;
  remaining: number;
  /** The status of a shard that rejected its input (the error names the batch's first bad value). */
  rejected?: number;
  failure?: GradlineError;
}

export interface ShardWork {
  job: ShardJob;
  shards: number[];
}

export interface Run {
  model: PoolModel;
  steps: PendingStep[];
}

/**
 * Bytes of anomaly records a step of `rows` rows has room for. Always reserved: a
 * restore queued ahead of the step may turn tracking on.
 */
export function recordBytes(rows: number): number {
  return ANOMALY_RECORD_BYTES * recordCapacity(rows);
}

/** A step's result as a task reports it. */
export type StepOutcome = TrainResult;
