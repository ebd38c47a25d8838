export { startServer, type GradlineServer } from "./server.js";
export { serverDefaults, type ServerOptions, type TokenGrant } from "./options.js";
