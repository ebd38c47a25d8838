// Brings the kernel module up in any JavaScript runtime (Node, Bun, Deno, a
// browser page or a worker of any of them): the one way gradline, its workers
// and an embedder instantiate gradline.wasm. No runtime built-ins here: the
// caller hands over bytes, a URL, a Response or a compiled module.
import { errors, quote, messageOf } from "../base/errors.js";
import { ABI_VERSION } from "./layout.js";

/** The module's exports (docs/ABI.md). Pointers and sizes are unsigned byte offsets into the shared memory. */
export interface KernelExports {
  abi_version(): number;
  heap_base(): number;
  model_bytes(m: number, n: number): number;
  scratch_bytes(m: number, n: number, batch: number): number;
  scratch_grad_offset(m: number, n: number): number;
  f32_train__wasmsimd(model: number, x: number, y: number, batch: number, scratch: number): number;
  f32_train__scalar(model: number, x: number, y: number, batch: number, scratch: number): number;
  f32_evaluate__wasmsimd(model: number, x: number, y: number, batch: number, scratch: number): number;
  f32_evaluate__scalar(model: number, x: number, y: number, batch: number, scratch: number): number;
  f32_gradient__wasmsimd(model: number, x: number, y: number, batch: number, scratch: number): number;
  f32_gradient__scalar(model: number, x: number, y: number, batch: number, scratch: number): number;
  f32_predict__wasmsimd(model: number, x: number, batch: number, scratch: number, out: number): number;
  f32_predict__scalar(model: number, x: number, batch: number, scratch: number, out: number): number;
  f32_raw_params(model: number, out: number): void;
  moments_bytes(m: number, n: number): number;
  shard_grad_bytes(m: number, n: number): number;
  f32_shard_moments(model: number, x: number, y: number, rows: number, scratch: number, out: number): number;
  f32_moments_merge(model: number, moments: number, shards: number, shardRows: number, totalRows: number, cand: number): void;
  f32_shard_gradient__wasmsimd(model: number, x: number, y: number, rows: number, totalRows: number, cand: number, scratch: number, out: number): number;
  f32_shard_gradient__scalar(model: number, x: number, y: number, rows: number, totalRows: number, cand: number, scratch: number, out: number): number;
  f32_shard_apply__wasmsimd(model: number, grads: number, shards: number, totalRows: number, cand: number, scratch: number): number;
  f32_shard_apply__scalar(model: number, grads: number, shards: number, totalRows: number, cand: number, scratch: number): number;
  f32_peak__wasmsimd_madd12(iterations: number, a: number, c: number): number;
  setpoint_bytes(m: number, n: number): number;
  setpoint_offset(m: number, n: number, which: number): number;
  f64_setpoint(model: number, ws: number, lambda: number, maxIterations: number, tolerance: number): number;
  setpoint_newton_bytes(m: number, n: number): number;
  f64_setpoint__newton(model: number, ws: number, lambda: number, maxIterations: number, tolerance: number): number;
}

/** Every export, checked after instantiation; `true` marks a size or offset read unsigned (`usize` in the module). */
const exportsUnsigned = {
  abi_version: false, heap_base: true, model_bytes: true, scratch_bytes: true, scratch_grad_offset: true,
  f32_train__wasmsimd: false, f32_train__scalar: false, f32_evaluate__wasmsimd: false, f32_evaluate__scalar: false,
  f32_gradient__wasmsimd: false, f32_gradient__scalar: false, f32_predict__wasmsimd: false, f32_predict__scalar: false,
  f32_raw_params: false, moments_bytes: true, shard_grad_bytes: true, f32_shard_moments: false, f32_moments_merge: false,
  f32_shard_gradient__wasmsimd: false, f32_shard_gradient__scalar: false, f32_shard_apply__wasmsimd: false, f32_shard_apply__scalar: false,
  f32_peak__wasmsimd_madd12: false, setpoint_bytes: true, setpoint_offset: true, f64_setpoint: false,
  setpoint_newton_bytes: true, f64_setpoint__newton: false,
} as const satisfies Record<keyof KernelExports, boolean>;

/** What the kernels can be loaded from: the module's bytes, where to fetch them, a fetch's answer, or a compiled module. */
export type KernelSource = ArrayBuffer | ArrayBufferView | WebAssembly.Module | Response | PromiseLike<Response> | URL | string;

export interface KernelMemoryOptions {
  /** Initial size in 64 KiB pages. Default 16. */
  initialPages?: number;
  /** Limit in 64 KiB pages, at most 65,536 (4 GiB). Default 65,536. */
  maximumPages?: number;
}

export interface KernelOptions extends KernelMemoryOptions {
  /** A shared memory of your own (e.g. one a worker received); default: a new one of the sizes above. */
  memory?: WebAssembly.Memory;
}

export const kernelDefaults = Object.freeze({ initialPages: 16, maximumPages: 65536 });

/** The kernels, instantiated over one shared memory. */
export interface Kernel {
  /** The compiled module: post it with `memory` to a worker, which calls instantiateKernel(module, memory). */
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly exports: KernelExports;
  /** First byte the host may use: below it lives the module's static data. */
  readonly heapBase: number;
}

/** Compiles and loads the kernels; `options.memory` or a new shared memory becomes theirs. */
export async function loadKernel(source: KernelSource, options: KernelOptions = {}): Promise<Kernel> {
  const memory = options.memory ?? createKernelMemory(options);
  checkShared(memory, "options.memory");
  const module = await compileKernel(source);
  checkAbi(module);
  // the asynchronous form: browsers refuse to instantiate large modules synchronously on the main thread
  const instance = await WebAssembly.instantiate(module, importsFor(memory));
  return kernelOf(module, instance, memory);
}

/** Instantiates a compiled module over `memory`, synchronously: for workers and hosts that compiled already. */
export function instantiateKernel(module: WebAssembly.Module, memory: WebAssembly.Memory): Kernel {
  if (!(module instanceof WebAssembly.Module)) throw errors.wasm(`expected a compiled WebAssembly.Module (got ${quote(module)})`);
  checkModule(module);
  checkShared(memory, "memory");
  checkAbi(module);
  return kernelOf(module, new WebAssembly.Instance(module, importsFor(memory)), memory);
}

/** A shared memory the module can import: sizes checked, and a message that says why a browser refuses one. */
export function createKernelMemory(options: KernelMemoryOptions = {}): WebAssembly.Memory {
  const initial = options.initialPages ?? kernelDefaults.initialPages;
  const maximum = options.maximumPages ?? kernelDefaults.maximumPages;
  if (!Number.isInteger(maximum) || maximum < 1 || maximum > 65536) {
    throw errors.config("maximumPages", `must be an integer from 1 to 65536 (got ${quote(maximum)})`);
  }
  if (!Number.isInteger(initial) || initial < 1 || initial > maximum) {
    throw errors.config("initialPages", `must be an integer from 1 to maximumPages, ${maximum} (got ${quote(initial)})`);
  }
  try {
    return new WebAssembly.Memory({ initial, maximum, shared: true });
  } catch (cause) {
    throw errors.wasm(
      `this runtime refused a shared WebAssembly.Memory (${messageOf(cause)}); a browser allows one only on a cross-origin-isolated page ` +
        "(served with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)",
      cause,
    );
  }
}

/** Grows `memory` so that it holds at least `bytes`; views made before must be made again. */
export function growMemory(memory: WebAssembly.Memory, bytes: number): void {
  const missing = bytes - memory.buffer.byteLength;
  if (missing <= 0) return;
  try {
    memory.grow(Math.ceil(missing / 65536));
  } catch (cause) {
    throw errors.memoryGrow(bytes, cause);
  }
}

/** Compiles the module from any source, and checks that it is a gradline kernel module. */
export async function compileKernel(source: KernelSource): Promise<WebAssembly.Module> {
  const module = await compileFrom(source);
  checkModule(module);
  return module;
}

// `unknown`: WebAssembly.Module is an empty interface, which every object matches, so the union cannot narrow
async function compileFrom(source: unknown): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  if (typeof source === "string" || source instanceof URL) return compileFrom(await fetchModule(source));
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return compileBytes(source);
  if (isThenable(source)) return compileFrom(await source);
  if (typeof Response === "function" && source instanceof Response) return compileResponse(source);
  throw errors.wasm(`expected the module's bytes, a URL, a Response or a WebAssembly.Module (got ${quote(source)})`);
}

/** The caller's own URL, in full: the person reading the error needs the whole path (quote() cuts at 40 characters). */
const urlText = (url: string | URL): string => JSON.stringify(String(url));

async function fetchModule(url: string | URL): Promise<Response> {
  if (typeof fetch !== "function") throw errors.wasm(`this runtime has no fetch() to load ${urlText(url)}: pass the module's bytes`);
  try {
    return await fetch(url);
  } catch (cause) {
    // Node's fetch does not read file: URLs; Deno's and Bun's do
    throw errors.wasm(`fetching ${urlText(url)} failed (${messageOf(cause)}); read the file yourself and pass its bytes`, cause);
  }
}

async function compileResponse(response: Response): Promise<WebAssembly.Module> {
  const where = response.url ? ` from ${urlText(response.url)}` : "";
  if (!response.ok) throw errors.wasm(`the module's request${where} was answered with HTTP ${response.status} ${response.statusText}`.trimEnd());
  let bytes: ArrayBuffer;
  try {
    bytes = await response.arrayBuffer();
  } catch (cause) {
    throw errors.wasm(`reading the module${where} failed (${messageOf(cause)})`, cause);
  }
  return compileBytes(bytes, where);
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d]; // "\0asm"

async function compileBytes(source: ArrayBuffer | ArrayBufferView, where = ""): Promise<WebAssembly.Module> {
  const bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) {
    const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(" ");
    throw errors.wasm(`the ${bytes.length} bytes${where} are not a WebAssembly module (they begin ${head || "with nothing"}; a module begins 00 61 73 6d)`);
  }
  try {
    return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (cause) {
    throw errors.wasm(`the module${where} does not compile (${messageOf(cause)}); it needs SIMD128, threads and bulk memory`, cause);
  }
}

/** Imports and exports tell a gradline kernel module before anything is instantiated. */
function checkModule(module: WebAssembly.Module): void {
  for (const imp of WebAssembly.Module.imports(module)) {
    const known = imp.module === "env" && ((imp.name === "memory" && imp.kind === "memory") || (imp.name === "abort" && imp.kind === "function"));
    if (!known) throw errors.wasm(`this is not a gradline kernel module: it imports ${imp.module}.${imp.name} (${imp.kind}), and gradline.wasm imports only env.memory and env.abort`);
  }
  if (!WebAssembly.Module.imports(module).some((imp) => imp.module === "env" && imp.name === "memory")) {
    throw errors.wasm("this is not a gradline kernel module: it does not import env.memory (gradline.wasm works in a shared memory that the host provides)");
  }
  const version = WebAssembly.Module.exports(module).find((e) => e.name === "abi_version");
  if (version?.kind !== "function") throw errors.wasm("this is not a gradline kernel module of ABI version 1 or later: it exports no abi_version()");
}

/** Modules whose ABI version was read in this realm. */
const abiChecked = new WeakSet<WebAssembly.Module>();

/**
 * The memory every probe of this realm instantiates over, made once: each WebAssembly
 * memory reserves gigabytes of address space, and V8 caps the total. A new one per probe,
 * waiting for the collector, could push a real memory past the cap, where V8 falls back to
 * explicit bounds checks that another thread's growth reaches late (a worker's step then
 * traps out of bounds). One page is all gradline.wasm's static data needs.
 */
let probeMemory: WebAssembly.Memory | undefined;

/**
 * Reads abi_version() from an instance over a memory of the loader's own: instantiating
 * writes the module's data segments into its memory, and a module of another
 * release must not overwrite the static data of a memory already in use.
 */
function checkAbi(module: WebAssembly.Module): void {
  if (abiChecked.has(module)) return;
  let version: unknown;
  try {
    probeMemory ??= new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const probe = new WebAssembly.Instance(module, importsFor(probeMemory));
    version = (probe.exports.abi_version as () => number)();
  } catch (cause) {
    throw errors.wasm(`the module does not instantiate as gradline.wasm does (${messageOf(cause)}): it is not this release's kernel module`, cause);
  }
  if (version !== ABI_VERSION) {
    throw errors.wasm(`the module implements ABI version ${quote(version)}, and this host reads ABI version ${ABI_VERSION}: load the gradline.wasm of the same release as this code`);
  }
  abiChecked.add(module);
}

function checkShared(memory: WebAssembly.Memory, what: string): void {
  const shared = memory instanceof WebAssembly.Memory && Object.prototype.toString.call(memory.buffer) === "[object SharedArrayBuffer]";
  if (!shared) {
    throw errors.wasm(`${what} must be a shared WebAssembly.Memory (new WebAssembly.Memory({ initial, maximum, shared: true })): the module imports a shared memory (got ${memory instanceof WebAssembly.Memory ? "a memory that is not shared" : quote(memory)})`);
  }
}

function importsFor(memory: WebAssembly.Memory): WebAssembly.Imports {
  return {
    env: {
      memory,
      abort: (_message: number, _file: number, line: number, column: number) => {
        throw errors.kernel(`aborted at ${line}:${column}`);
      },
    },
  };
}

function kernelOf(module: WebAssembly.Module, instance: WebAssembly.Instance, memory: WebAssembly.Memory): Kernel {
  const raw = instance.exports as Record<string, unknown>;
  const exports: Record<string, unknown> = {};
  for (const [name, unsigned] of Object.entries(exportsUnsigned)) {
    const f = raw[name];
    if (typeof f !== "function") throw errors.wasm(`the module claims ABI version ${ABI_VERSION} but lacks the export ${name}()`);
    // JavaScript reads an i32 result as signed: sizes and offsets are read unsigned
    exports[name] = unsigned ? (...args: number[]) => (f as (...a: number[]) => number)(...args) >>> 0 : f;
  }
  const kernels = exports as unknown as KernelExports;
  return { module, memory, exports: kernels, heapBase: kernels.heap_base() };
}

function isThenable(value: unknown): value is PromiseLike<Response> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

