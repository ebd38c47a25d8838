// Where one step's buffers go: the batch, the predictions, the scratch block,
// the anomaly records and, for a data-parallel step, the shards' outputs. One
// plan serves gradline's engine (inside a block from its allocator) and an
// embedder (from heap_base, in a memory of their own).
import type { Kernel, KernelExports } from "./loader.js";
import { growMemory } from "./loader.js";
import { ANOMALY_RECORD_BYTES, alignUp, recordCapacity } from "./layout.js";

/** Byte offsets of a step's buffers from the start of their block, every one ALIGN-aligned. */
export interface StepLayout {
  /** Batch inputs: f32[batch × m], row-major. */
  x: number;
  /** Batch targets: f32[batch × n]. */
  y: number;
  /** Predictions: f32[batch × n]. */
  out: number;
  /** scratch_bytes(m, n, batch). */
  scratch: number;
  /** Byte offset of the gradient inside scratch. */
  gradOffset: number;
  /** Anomaly records: recordCap × ANOMALY_RECORD_BYTES. */
  records: number;
  recordCap: number;
  /** A data-parallel step's shard outputs (docs/ABI.md, "Data-parallel steps"), when asked for. */
  shards?: { count: number; moments: number; grads: number; cand: number };
  /** Bytes of the whole block. */
  bytes: number;
}

/** The buffers for batches of up to `batch` rows; with `shards`, room for that many shards' moments and gradients too. */
export function stepLayout(k: KernelExports, m: number, n: number, batch: number, shards?: number): StepLayout {
  const x = 0;
  const y = alignUp(x + 4 * batch * m);
  const out = alignUp(y + 4 * batch * n);
  const scratch = alignUp(out + 4 * batch * n);
  const records = alignUp(scratch + k.scratch_bytes(m, n, batch));
  const recordCap = recordCapacity(batch);
  const end = alignUp(records + ANOMALY_RECORD_BYTES * recordCap);
  const layout: StepLayout = { x, y, out, scratch, gradOffset: k.scratch_grad_offset(m, n), records, recordCap, bytes: end };
  if (shards !== undefined) {
    const moments = end;
    const grads = alignUp(moments + shards * k.moments_bytes(m, n));
    const cand = alignUp(grads + shards * k.shard_grad_bytes(m, n));
    layout.shards = { count: shards, moments, grads, cand };
    layout.bytes = alignUp(cand + k.moments_bytes(m, n));
  }
  return layout;
}

/** A layout's offsets as addresses, its block starting at `base` (sizes and counts as they are). */
export function atAddress(layout: StepLayout, base: number): StepLayout {
  const placed: StepLayout = {
    ...layout,
    x: base + layout.x, y: base + layout.y, out: base + layout.out, scratch: base + layout.scratch, records: base + layout.records,
  };
  const shards = layout.shards;
  if (shards) placed.shards = { count: shards.count, moments: base + shards.moments, grads: base + shards.grads, cand: base + shards.cand };
  return placed;
}

/** Absolute addresses of one model block and its step buffers. */
export interface ModelPlacement extends StepLayout {
  model: number;
  /** First byte after everything placed: where the next placement may start. */
  end: number;
}

/**
 * For an embedder: a model block of shape (m, n) at `at` (default heap_base(),
 * rounded up to ALIGN), its step buffers after it, and the memory grown to hold
 * them. Zero the model block before writing its header if the memory was used.
 */
export function placeModel(kernel: Kernel, shape: { m: number; n: number; batch: number; shards?: number }, at = kernel.heapBase): ModelPlacement {
  const { m, n, batch, shards } = shape;
  const k = kernel.exports;
  const model = alignUp(Math.max(at, kernel.heapBase));
  const base = alignUp(model + k.model_bytes(m, n));
  const rel = stepLayout(k, m, n, batch, shards);
  const placed: ModelPlacement = { ...atAddress(rel, base), model, end: base + rel.bytes };
  growMemory(kernel.memory, placed.end);
  return placed;
}
