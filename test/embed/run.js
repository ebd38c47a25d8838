// Runs test/embed/embedding.js in the runtime that runs this file (node, bun,
// deno run --allow-read) and prints its report as one line of JSON.
import { runEmbedding } from "./embedding.js";

const wasm = new URL("../../build/gradline.wasm", import.meta.url);
const bytes = typeof Deno === "object" ? await Deno.readFile(wasm) : await (await import("node:fs/promises")).readFile(wasm);
const runtime = typeof Deno === "object" ? `deno ${Deno.version.deno}` : typeof Bun === "object" ? `bun ${Bun.version}` : `node ${process.versions.node}`;
const report = await runEmbedding(bytes);
console.log(JSON.stringify({ runtime, ...report }));
