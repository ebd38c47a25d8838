// Node's side of loading the kernels: finding build/gradline.wasm on disk and
// compiling it once per process. Everything else (checks, memory,
// instantiation) is the runtime-neutral loader's, host/kernel/loader.ts.
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { errors, messageOf } from "../base/errors.js";
import { compileKernel } from "../kernel/loader.js";

/** The release build, searched upwards from this file so it works from host/ and from dist/host/. */
export function defaultWasmPath(): string {
  for (const up of ["../../build/gradline.wasm", "../../../build/gradline.wasm"]) {
    const path = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw errors.wasm("build/gradline.wasm not found; run `npm run build`");
}

let compiled: Promise<WebAssembly.Module> | undefined;

/** Compiles the module from a path or bytes; the default build once per process (workers each compile their own). */
export function compileKernels(source?: string | Uint8Array): Promise<WebAssembly.Module> {
  if (source !== undefined) return compile(source);
  compiled ??= compile(defaultWasmPath());
  return compiled;
}

async function compile(source: string | Uint8Array): Promise<WebAssembly.Module> {
  if (typeof source !== "string") return compileKernel(source);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(source);
  } catch (cause) {
    throw errors.wasm(`cannot read ${source} (${messageOf(cause)})`, cause);
  }
  return compileKernel(bytes);
}
