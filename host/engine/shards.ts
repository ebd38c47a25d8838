// Data-parallel steps: a batch of more than `shardRows` rows is split at fixed
// row boundaries into shards. The kernels (assembly/shard.ts) merge and reduce
// shard by shard in index order, so a step's result depends on shardRows only:
// the in-process engine and a pool of any size produce the same bytes.
import type { KernelExports } from "./wasm.js";
import type { KernelVariant } from "./kernels.js";
import { Status } from "./layout.js";

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

/** Turns a shard-relative bad index (from the model header) into one relative to the whole batch. */
export function wholeBatchIndex(plan: ShardPlan, shard: number, status: number, relative: number, m: number, n: number): number {
  return firstRow(plan, shard) * (status === Status.nonFiniteX ? m : n) + relative;
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
