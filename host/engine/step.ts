// The two ends of a training step on a model block, the same for every path that trains
// (the in-process Model, a pool worker's run of steps, the pool's data-parallel apply):
// before the kernel, the block's per-step header fields are set for this step; after it,
// the version and the drift detector move on an applied step and the header is read
// into one record. No runtime built-ins: a worker runs this too.
import { ANOMALY_RECORD_BYTES, AnomalyKind, Header, Status } from "../kernel/layout.js";
import { driftSite, driftStep, type DriftEvent } from "./drift.js";

/** What a step left in the block, whatever ran it. */
export interface StepRecord {
  status: number;
  /** Loss of the batch before the update (the kernel's loss_out). */
  loss: number;
  step: number;
  version: number;
  /** First non-finite element of the rejected array (status 1 or 2). */
  badIndex: number;
  /** Anomalies the kernel found: the first min(found, recordCap) are in the record buffer. */
  found: number;
  excluded: number;
  drift: DriftEvent | null;
}

/**
 * Points the step's anomaly records at its buffer and clears the counters: a copied
 * block (a pool's spare) carries the previous step's values, and a step the kernel
 * does not check (no anomaly flag, a data-parallel step) leaves them as they are.
 */
export function beginStep(view: DataView, block: number, records: number, recordCap: number): void {
  view.setInt32(block + Header.anomalyOut, records, true);
  view.setInt32(block + Header.anomalyCap, recordCap, true);
  view.setInt32(block + Header.anomalyCount, 0, true);
  view.setInt32(block + Header.anomalyExcluded, 0, true);
}

/** After the kernel returned `status`: an applied step takes the next version and feeds the drift detector. */
export function endStep(view: DataView, block: number, status: number): StepRecord {
  const applied = status === Status.ok;
  if (applied) view.setFloat64(block + Header.version, view.getFloat64(block + Header.version, true) + 1, true);
  const loss = view.getFloat64(block + Header.lossOut, true);
  const step = view.getFloat64(block + Header.step, true);
  const m = view.getInt32(block + Header.m, true);
  const n = view.getInt32(block + Header.n, true);
  return {
    status, loss, step,
    version: view.getFloat64(block + Header.version, true),
    badIndex: view.getInt32(block + Header.badIndex, true),
    found: view.getInt32(block + Header.anomalyCount, true),
    excluded: view.getInt32(block + Header.anomalyExcluded, true),
    drift: applied ? driftStep(driftSite(view, block, m, n), loss, step) : null,
  };
}

/** One flagged reading: `sample` is the row in the batch. */
export interface Anomaly {
  sample: number;
  field: "x" | "y";
  /** Input (field x) or output (field y) index. */
  column: number;
  kind: "residual" | "range" | "stuck";
  /** residual: |standardised residual|; range: distance beyond the widened range, in ranges; stuck: identical readings in a row. */
  score: number;
}

/** What a training step answers (Model.train, PoolModel.train, a server's ack). */
export interface TrainResult {
  /** Mean loss of the batch before the update, in the training space. */
  loss: number;
  /** Optimiser steps taken, this one included. */
  step: number;
  /** Parameter version after the update. */
  version: number;
  /** A change in the process, detected on the loss stream at this step; else null. */
  drift: DriftEvent | null;
  /** Flagged readings of this batch (empty when tracking is off or the batch was sharded). */
  anomalies: Anomaly[];
  /** Flagged readings found beyond the room for them (rows + 64 records): counted, not listed. */
  dropped: number;
  /** Samples left out of the update (anomaly.exclude). */
  excluded: number;
}

/** An applied step's record as its answer, the flagged readings read from the step's record buffer. */
export function trainResult(record: StepRecord, view: DataView, records: number, recordCap: number, m: number): TrainResult {
  const listed = Math.min(record.found, recordCap);
  return {
    loss: record.loss, step: record.step, version: record.version, drift: record.drift,
    anomalies: readAnomalies(view, records, listed, m), dropped: record.found - listed, excluded: record.excluded,
  };
}

/** The first `count` anomaly records at `records`. */
export function readAnomalies(view: DataView, records: number, count: number, m: number): Anomaly[] {
  const out: Anomaly[] = [];
  for (let i = 0, at = records; i < count; i++, at += ANOMALY_RECORD_BYTES) {
    const field = view.getInt32(at + 4, true);
    out.push({
      sample: view.getInt32(at, true),
      field: field < m ? "x" : "y",
      column: field < m ? field : field - m,
      kind: AnomalyKind[view.getInt32(at + 8, true) as 1 | 2 | 3],
      score: view.getFloat32(at + 12, true),
    });
  }
  return out;
}
