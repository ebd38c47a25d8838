// The single-thread truth the pool is held to: the same batches, in the same
// order, trained by the in-process engine.
import { createEngine, type ModelOptions } from "../../host/index.js";

export interface Batch {
  x: Float32Array;
  y: Float32Array;
}

/** Snapshot bytes after training `batches` in order on one thread. */
export async function singleThreadSnapshot(options: ModelOptions, batches: readonly Batch[], shardRows?: number): Promise<Uint8Array> {
  const engine = await createEngine({ workers: 0, ...(shardRows ? { shardRows } : {}) });
  const model = engine.createModel(options);
  for (const b of batches) model.train(b.x, b.y);
  const bytes = model.snapshot();
  engine.close();
  return bytes;
}
