// The pool's options, their defaults and their checks.
import { integerOption } from "../base/validate.js";

export interface PoolOptions {
  /** Worker threads. Default: the number of cores (os.availableParallelism()). */
  workers?: number;
  /** Steps one model may have accepted and not yet finished; beyond it train() fails with E_BUSY. Default 1024. */
  maxQueuedPerModel?: number;
  /** Steps the whole engine may have accepted and not yet finished. Default 65,536. */
  maxQueuedSteps?: number;
  /** Bytes of batch data the engine may hold for accepted, unfinished steps. Default 256 MiB. */
  maxQueuedBytes?: number;
}

export const poolDefaults = Object.freeze({
  maxQueuedPerModel: 1024,
  maxQueuedSteps: 65_536,
  maxQueuedBytes: 256 * 2 ** 20,
  /** Consecutive steps of one model in one task, so one busy line cannot hold a worker for long. */
  maxStepsPerRun: 64,
  /** FLOPs gathered into one task before it is sent while queues are full: amortises dispatch (30–50 µs). */
  taskFlops: 4_000_000,
  /** Tasks handed to each worker at once: the next one waits in its queue, so it never idles between tasks. */
  tasksPerWorker: 2,
  /** Bytes of freed batch buffers kept for reuse (exact sizes, O(1)), instead of returning them to the allocator. */
  recycledBytes: 32 * 2 ** 20,
});

/** The queue limits, checked; defaults filled in. */
export function resolvePoolLimits(options: PoolOptions): Required<Omit<PoolOptions, "workers">> {
  return {
    maxQueuedPerModel: integerOption(options.maxQueuedPerModel, "maxQueuedPerModel", 1, poolDefaults.maxQueuedPerModel),
    maxQueuedSteps: integerOption(options.maxQueuedSteps, "maxQueuedSteps", 1, poolDefaults.maxQueuedSteps),
    maxQueuedBytes: integerOption(options.maxQueuedBytes, "maxQueuedBytes", 1, poolDefaults.maxQueuedBytes),
  };
}
