// gradline's server from a program of your own: memory-only or with a data folder,
// closed gracefully on SIGTERM or SIGINT (accepted work finished, last checkpoint round).
//   node examples/server.mjs
import { startServer } from "gradline";

const server = await startServer({ port: 0, data: "./data" }); // loopback, a free port
console.log(server.url); // ws://127.0.0.1:<port>/
for (const signal of ["SIGTERM", "SIGINT"]) process.once(signal, () => void server.close());
