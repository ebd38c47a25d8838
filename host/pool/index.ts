// createEngine: a pool of workers by default, or everything in-process with { workers: 0 }.
import { createInProcessEngine, type Engine, type EngineOptions } from "../engine/engine.js";
import { startPool, type PoolEngine } from "./pool.js";
import type { PoolOptions } from "./options.js";

export { PoolEngine } from "./pool.js";
export { PoolModel } from "./model.js";
export { poolDefaults, type PoolOptions } from "./options.js";

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
