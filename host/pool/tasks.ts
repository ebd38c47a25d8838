// The messages between the pool's main thread and its workers. A task is a
// Float64Array of byte offsets into the shared memory and counts, never data;
// the k-prefixed constants below name every field, on both sides.

import type { StepRecord } from "../engine/step.js";

export const TaskKind = { runs: 1, moments: 2, gradient: 3 } as const;

// runs task: [kind, scratch, runCount, run…]
export const kRunsScratch = 1;
export const kRunsCount = 2;
export const kRunsHeader = 3;
// run: [from, to, blockBytes, stepCount, step…]: copy the model block `from` → `to`, then train on `to`
export const kRunFrom = 0;
export const kRunTo = 1;
export const kRunBytes = 2;
export const kRunSteps = 3;
export const kRunHeader = 4;
// step: [x, y, rows, records, recordCap]: anomaly records go to `records` (cap 0: none kept)
export const kStepX = 0;
export const kStepY = 1;
export const kStepRows = 2;
export const kStepRecords = 3;
export const kStepRecordCap = 4;
export const kStepFields = 5;
// runs result, per step in task order: [status, loss, step, version, badIndex, anomalies, excluded,
// drift statistic (−1: no alarm), drift threshold, loss level before the drift]
export const kResultStatus = 0;
export const kResultLoss = 1;
export const kResultStep = 2;
export const kResultVersion = 3;
export const kResultBadIndex = 4;
export const kResultAnomalies = 5;
export const kResultExcluded = 6;
export const kResultDrift = 7;
export const kResultDriftThreshold = 8;
export const kResultDriftBefore = 9;
export const kResultFields = 10;

/** Writes a step's record into a runs result (the worker's side). */
export function writeStepRecord(result: Float64Array, at: number, r: StepRecord): void {
  result[at + kResultStatus] = r.status;
  result[at + kResultLoss] = r.loss;
  result[at + kResultStep] = r.step;
  result[at + kResultVersion] = r.version;
  result[at + kResultBadIndex] = r.badIndex;
  result[at + kResultAnomalies] = r.found;
  result[at + kResultExcluded] = r.excluded;
  result[at + kResultDrift] = r.drift ? r.drift.statistic : -1;
  result[at + kResultDriftThreshold] = r.drift ? r.drift.threshold : 0;
  result[at + kResultDriftBefore] = r.drift ? r.drift.before : 0;
}

/** Reads it back (the main thread's side). */
export function readStepRecord(result: Float64Array, at: number): StepRecord {
  const step = result[at + kResultStep]!;
  return {
    status: result[at + kResultStatus]!, loss: result[at + kResultLoss]!, step, version: result[at + kResultVersion]!,
    badIndex: result[at + kResultBadIndex]!, found: result[at + kResultAnomalies]!, excluded: result[at + kResultExcluded]!,
    drift: result[at + kResultDrift]! >= 0
      ? { step, statistic: result[at + kResultDrift]!, threshold: result[at + kResultDriftThreshold]!, before: result[at + kResultDriftBefore]! }
      : null,
  };
}

// shard task (moments or gradient): [kind, model, m, n, shardRows, totalRows, x, y, moments, grads, cand, scratch, shardCount, shard…]
export const kShardModel = 1;
export const kShardM = 2;
export const kShardN = 3;
export const kShardRows = 4;
export const kShardTotalRows = 5;
export const kShardX = 6;
export const kShardY = 7;
export const kShardMoments = 8;
export const kShardGrads = 9;
export const kShardCand = 10;
export const kShardScratch = 11;
export const kShardCount = 12;
export const kShardHeader = 13;
// shard result: one status per shard, in task order

export interface StepTask {
  x: number;
  y: number;
  rows: number;
  records: number;
  recordCap: number;
}

export interface RunTask {
  from: number;
  to: number;
  blockBytes: number;
  steps: readonly StepTask[];
}

export function encodeRuns(runs: readonly RunTask[], scratch: number): Float64Array {
  const steps = runs.reduce((sum, r) => sum + r.steps.length, 0);
  const task = new Float64Array(kRunsHeader + runs.length * kRunHeader + steps * kStepFields);
  task[0] = TaskKind.runs;
  task[kRunsScratch] = scratch;
  task[kRunsCount] = runs.length;
  let at = kRunsHeader;
  for (const run of runs) {
    task[at + kRunFrom] = run.from;
    task[at + kRunTo] = run.to;
    task[at + kRunBytes] = run.blockBytes;
    task[at + kRunSteps] = run.steps.length;
    at += kRunHeader;
    for (const step of run.steps) {
      task[at + kStepX] = step.x;
      task[at + kStepY] = step.y;
      task[at + kStepRows] = step.rows;
      task[at + kStepRecords] = step.records;
      task[at + kStepRecordCap] = step.recordCap;
      at += kStepFields;
    }
  }
  return task;
}

export interface ShardTask {
  kind: typeof TaskKind.moments | typeof TaskKind.gradient;
  model: number;
  m: number;
  n: number;
  shardRows: number;
  totalRows: number;
  x: number;
  y: number;
  moments: number;
  grads: number;
  cand: number;
  scratch: number;
  shards: readonly number[];
}

export function encodeShards(t: ShardTask): Float64Array {
  const task = new Float64Array(kShardHeader + t.shards.length);
  task[0] = t.kind;
  task[kShardModel] = t.model;
  task[kShardM] = t.m;
  task[kShardN] = t.n;
  task[kShardRows] = t.shardRows;
  task[kShardTotalRows] = t.totalRows;
  task[kShardX] = t.x;
  task[kShardY] = t.y;
  task[kShardMoments] = t.moments;
  task[kShardGrads] = t.grads;
  task[kShardCand] = t.cand;
  task[kShardScratch] = t.scratch;
  task[kShardCount] = t.shards.length;
  task.set(t.shards, kShardHeader);
  return task;
}
