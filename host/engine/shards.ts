// Data-parallel steps: a batch of more than `shardRows` rows is split at fixed
// row boundaries into shards. The kernels (assembly/shard.ts) merge and reduce
// shard by shard in index order, so a step's result depends on shardRows only:
// the in-process engine and a pool of any size produce the same bytes.
import type { KernelExports } from "../kernel/loader.js";
import type { KernelVariant } from "./kernels.js";
import { Status } from "../kernel/layout.js";

/** Default rows per shard. Part of a model's numerics: changing it changes results of large steps. */
export const DEFAULT_SHARD_ROWS = 1024;

export interface ShardPlan {
  count: number;
  shardRows: number;
  totalRows: number;
}

export function planShards(totalRows: number, shardRows: number): ShardPlan {
  return { count: Math.ceil(totalRows / shardRows), shardRows, totalRows };
}

export const firstRow = (plan: ShardPlan, i: number) => i * plan.shardRows;
export const rowsOf = (plan: ShardPlan, i: number) => Math.min(plan.shardRows, plan.totalRows - i * plan.shardRows);

/** Where a sharded step's buffers live: the batch, one scratch per worker, and the shards' outputs. */
export interface ShardBuffers {
  x: number;
  y: number;
  /** moments_bytes(m, n) per shard. */
  moments: number;
  /** shard_grad_bytes(m, n) per shard. */
  grads: number;
  /** Candidate statistics (model statistics layout). */
  cand: number;
}

/**
 * The first NaN or ±Inf of a batch in the shared memory, x before y, as one
 * whole-batch step reports it (a shard that rejects may not hold the first).
 */
export function firstNonFiniteOf(f32: Float32Array, b: { x: number; y: number }, rows: number, m: number, n: number): { status: number; index: number } | undefined {
  for (const [at, length, status] of [[b.x >>> 2, rows * m, Status.nonFiniteX], [b.y >>> 2, rows * n, Status.nonFiniteY]] as const) {
    for (let i = 0; i < length; i++) if (!Number.isFinite(f32[at + i]!)) return { status, index: i };
  }
  return undefined;
}

/** The per-shard calls, shared by the in-process engine and the pool's workers. */
export function shardMoments(k: KernelExports, model: number, m: number, n: number, b: ShardBuffers, plan: ShardPlan, i: number, scratch: number): number {
  const row = firstRow(plan, i);
  return k.f32_shard_moments(model, b.x + 4 * row * m, b.y + 4 * row * n, rowsOf(plan, i), scratch, b.moments + i * k.moments_bytes(m, n));
}

export function shardGradient(
  k: KernelExports, variant: KernelVariant, model: number, m: number, n: number, b: ShardBuffers, plan: ShardPlan, i: number, scratch: number,
): number {
  const row = firstRow(plan, i);
  return variant.shardGradient(k)(
    model, b.x + 4 * row * m, b.y + 4 * row * n, rowsOf(plan, i), plan.totalRows, b.cand, scratch, b.grads + i * k.shard_grad_bytes(m, n),
  );
}
