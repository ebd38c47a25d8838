// gradline as a library: createEngine (the in-process engine and the worker pool),
// the server and the client.
export * from "./engine/index.js";
export { createEngine, PoolEngine, PoolModel, poolDefaults, type PoolOptions, type InProcessEngineOptions, type PoolEngineOptions } from "./pool/index.js";
export {
  startServer, serverDefaults, createLogger, lineLogger, silentLogger, type GradlineServer, type ServerOptions, type Logger, type LogLevel, type LogFormat,
} from "./server/index.js";
export * from "./client/index.js";
export { PROTOCOL_VERSION, type ModelInfo, type ServerLimits, type WireModelConfig } from "./protocol/messages.js";
