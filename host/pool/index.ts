// createEngine: a pool of workers by default, or everything in-process with { workers: 0 }.
import { createInProcessEngine, type Engine, type EngineOptions } from "../engine/engine.js";
import { startPool, type PoolEngine, type PoolOptions } from "./pool.js";

export { PoolEngine, PoolModel, poolDefaults, type PoolOptions } from "./pool.js";

/** Options of an engine without threads: every call runs on the calling thread, synchronously. */
export interface InProcessEngineOptions extends EngineOptions {
  workers: 0;
}

/** Options of a pool engine: train() is queued and runs on worker threads. */
export interface PoolEngineOptions extends EngineOptions, PoolOptions {}

export function createEngine(options: InProcessEngineOptions): Promise<Engine>;
export function createEngine(options?: PoolEngineOptions): Promise<PoolEngine>;
export async function createEngine(options: EngineOptions & PoolOptions = {}): Promise<Engine | PoolEngine> {
  const local = await createInProcessEngine(options);
  if (options.workers === 0) return local;
  try {
    return startPool(local, local.module, options);
  } catch (error) {
    local.close();
    throw error;
  }
}
