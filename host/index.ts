// gradline as a library: createEngine, the in-process engine and the worker pool.
export * from "./engine/index.js";
export { createEngine, PoolEngine, PoolModel, poolDefaults, type PoolOptions, type InProcessEngineOptions, type PoolEngineOptions } from "./pool/index.js";
