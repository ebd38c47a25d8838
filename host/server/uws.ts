// Loads uWebSockets.js and refuses its pure-JS fallback. The npm package we alias
// (see docs/DESIGN.md) silently swaps in a slow JavaScript shim when its native binary
// does not load; a native addon's functions print as "[native code]", the shim's do not.
import { createRequire } from "node:module";
import { GradlineError } from "../base/errors.js";

export type Uws = typeof import("uWebSockets.js");

const require = createRequire(import.meta.url);

/** True when the module's App is the native binding. */
export function isNative(uws: Uws): boolean {
  return /\[native code\]/.test(Function.prototype.toString.call(uws.App));
}

export function loadUws(allowFallback: boolean): Uws {
  let uws: Uws;
  try {
    uws = require("uWebSockets.js") as Uws;
  } catch (cause) {
    throw new GradlineError("E_CONFIG", "cannot load uWebSockets.js; run npm install", {}, { cause });
  }
  if (!isNative(uws) && !allowFallback) {
    throw new GradlineError(
      "E_CONFIG",
      `uWebSockets.js loaded its pure-JS fallback instead of the native binary (Node ${process.version}, ABI ${process.versions.modules}, ${process.platform}-${process.arch}), ` +
        "which is far slower. Use Node 20 on a platform the binary supports, or start with --allow-fallback (GRADLINE_ALLOW_FALLBACK=1) to accept it.",
    );
  }
  return uws;
}
