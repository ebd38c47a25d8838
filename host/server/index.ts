export { startServer, type GradlineServer } from "./server.js";
export { serverDefaults, type ServerOptions } from "./options.js";
