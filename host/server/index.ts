export { startServer, type GradlineServer } from "./server.js";
export { serverDefaults, type ServerOptions, type TokenGrant } from "./options.js";
export { createLogger, lineLogger, silentLogger, type Logger, type LogLevel, type LogFormat } from "./log.js";
