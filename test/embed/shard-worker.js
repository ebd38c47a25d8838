// A worker of test/embed/embedding.js, in any runtime: instantiates the kernels
// over the memory it is sent and computes one shard's moments or gradient.
import { instantiateKernel } from "../../dist/host/kernel/index.js";

const web = typeof self === "object" && typeof self.postMessage === "function";
const port = web ? self : (await import("node:worker_threads")).parentPort;
let k;

function handle(message) {
  switch (message.op) {
    case "init":
      k = instantiateKernel(message.module, message.memory).exports;
      return 0;
    case "moments":
      return k.f32_shard_moments(message.model, message.x, message.y, message.rows, message.scratch, message.moments);
    case "gradient":
      return k.f32_shard_gradient__wasmsimd(message.model, message.x, message.y, message.rows, message.totalRows, message.cand, message.scratch, message.grads);
    default:
      throw new Error(`unknown op ${message.op}`);
  }
}

const answer = (message) => {
  try {
    port.postMessage({ status: handle(message) });
  } catch (error) {
    port.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
};
if (web) self.onmessage = (e) => answer(e.data);
else port.on("message", answer);
