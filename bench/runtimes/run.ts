// Prints measureSteps' figures as one line of JSON, in the runtime that runs
// this file: node, bun, or deno run --allow-read (all three read node:fs).
import { readFile } from "node:fs/promises";
import { measureSteps } from "./steps.js";

const runtime = globalThis as { Deno?: { version: { deno: string; v8: string } }; Bun?: { version: string } };
const name = runtime.Deno ? `deno ${runtime.Deno.version.deno} (V8 ${runtime.Deno.version.v8})`
  : runtime.Bun ? `bun ${runtime.Bun.version} (JavaScriptCore)`
  : `node ${process.versions.node} (V8 ${process.versions.v8})`;
const figures = await measureSteps(await readFile(new URL("../../../build/gradline.wasm", import.meta.url)));
console.log(JSON.stringify({ runtime: name, figures }));
