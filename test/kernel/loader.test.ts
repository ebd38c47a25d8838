// gradline/kernel's loader on bad input: every refusal is a GradlineError with
// a message that says what to do, never a trap or a LinkError, and a memory the
// caller handed over is left as it was. The modules with another ABI version,
// foreign imports or missing exports are assembled by hand below.
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { pathToFileURL } from "node:url";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ABI_VERSION, compileKernel, createKernelMemory, GradlineError, instantiateKernel, loadKernel } from "../../host/kernel/index.js";

const wasmPath = new URL("../../build/gradline.wasm", import.meta.url);
const bytes = readFileSync(wasmPath);

// ---- a few bytes of the WebAssembly binary format, enough for one-function modules ----
const leb = (value: number): number[] => {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return out;
};
const sleb = (value: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && !(byte & 0x40)) || (value === -1 && byte & 0x40)) return [...out, byte];
    out.push(byte | 0x80);
  }
};
const name = (text: string): number[] => [...leb(text.length), ...new TextEncoder().encode(text)];
const vec = (items: number[][]): number[] => [...leb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];

interface TestModule {
  /** Functions `() -> i32` returning these constants, exported under these names. */
  exports?: Record<string, number>;
  /** "import": env.memory, shared, 1 to 65,536 pages, as gradline.wasm does (default); "own": a memory of its own. */
  memory?: "import" | "own";
  /** A further function import `() -> i32`. */
  imports?: [string, string][];
  /** Bytes an active data segment writes at address 0 on instantiation. */
  data?: number[];
}

function assemble({ exports = {}, memory = "import", imports = [], data }: TestModule): Uint8Array<ArrayBuffer> {
  const names = Object.keys(exports);
  const importEntries = imports.map(([module, field]) => [...name(module), ...name(field), 0x00, 0x00]);
  if (memory === "import") importEntries.push([...name("env"), ...name("memory"), 0x02, 0x03, ...leb(1), ...leb(65536)]);
  const body = (value: number) => {
    const code = [0x00, 0x41, ...sleb(value), 0x0b]; // no locals; i32.const value; end
    return [...leb(code.length), ...code];
  };
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, 0x00, 0x01, 0x7f]])), // type 0: () -> i32
    ...section(2, vec(importEntries)),
    ...section(3, vec(names.map(() => [0x00]))),
    ...(memory === "own" ? section(5, vec([[0x00, ...leb(1)]])) : []),
    ...section(7, vec(names.map((n, i) => [...name(n), 0x00, ...leb(imports.length + i)]))),
    ...section(10, vec(names.map((n) => body(exports[n]!)))),
    ...(data ? section(11, vec([[0x00, 0x41, 0x00, 0x0b, ...leb(data.length), ...data]])) : []),
  ]);
}

/** Resolves with the error `promise` rejects with; fails the test if it resolves. */
async function refusal(promise: Promise<unknown> | (() => unknown)): Promise<GradlineError> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(GradlineError);
    return error as GradlineError;
  }
  throw new Error("expected a refusal, and it succeeded");
}

describe("loading the kernel", () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/gradline.wasm") res.writeHead(200, { "Content-Type": "application/wasm" }).end(bytes);
      else res.writeHead(404, { "Content-Type": "text/html" }).end("<!doctype html><h1>Not Found</h1>");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => server.close());

  it("accepts bytes, an ArrayBuffer, a Response, a fetch's promise, a URL and a compiled module", async () => {
    const module = new WebAssembly.Module(bytes);
    const sources: unknown[] = [
      bytes, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), new Response(bytes),
      fetch(`${base}/gradline.wasm`), `${base}/gradline.wasm`, new URL(`${base}/gradline.wasm`), module,
    ];
    for (const source of sources) {
      const kernel = await loadKernel(source as Uint8Array);
      expect(kernel.exports.abi_version()).toBe(ABI_VERSION);
      expect(kernel.heapBase).toBeGreaterThan(0);
      expect(kernel.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
      // sizes read unsigned: a model of 2×1 takes its header plus regions, a few hundred bytes
      expect(kernel.exports.model_bytes(2, 1)).toBeGreaterThan(128);
    }
  });

  it("instantiates a compiled module over a memory of the caller's, as a worker does", async () => {
    const kernel = await loadKernel(bytes);
    const again = instantiateKernel(kernel.module, kernel.memory);
    expect(again.memory).toBe(kernel.memory);
    expect(again.exports.model_bytes(3, 2)).toBe(kernel.exports.model_bytes(3, 2));
  });

  it("refuses bytes that are not a WebAssembly module, saying what they begin with", async () => {
    const html = new TextEncoder().encode("<!doctype html><h1>Not Found</h1>");
    expect((await refusal(loadKernel(html))).message).toMatch(/the 33 bytes are not a WebAssembly module \(they begin 3c 21 64 6f 63 74 79 70; a module begins 00 61 73 6d\)/);
    expect((await refusal(loadKernel(new Uint8Array(0)))).message).toContain("begin with nothing");
    const truncated = await refusal(loadKernel(bytes.subarray(0, 1000)));
    expect(truncated.code).toBe("E_WASM");
    expect(truncated.message).toContain("does not compile");
  });

  it("refuses any random bytes with E_WASM, never a trap", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), fc.boolean(), async (random, magic) => {
        const candidate = magic ? Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...random]) : random;
        expect((await refusal(loadKernel(candidate))).code).toBe("E_WASM");
      }),
      { numRuns: 200 },
    );
  });

  it("refuses an HTTP error, a URL Node's fetch cannot read, and things that are no source", async () => {
    expect((await refusal(loadKernel(`${base}/missing.wasm`))).message).toMatch(new RegExp(`request from "${base}/missing.wasm" was answered with HTTP 404`));
    expect((await refusal(loadKernel(new Response("gone", { status: 410, statusText: "Gone" })))).message).toContain("HTTP 410 Gone");
    // the whole URL, however long the checkout's path
    const fileUrl = pathToFileURL(wasmPath.pathname);
    expect((await refusal(loadKernel(fileUrl))).message).toContain(`fetching ${JSON.stringify(fileUrl.href)} failed (`);
    expect((await refusal(loadKernel(fileUrl))).message).toContain("read the file yourself and pass its bytes");
    expect((await refusal(loadKernel(42 as unknown as Uint8Array))).message).toContain("expected the module's bytes, a URL, a Response or a WebAssembly.Module (got 42)");
    expect((await refusal(() => instantiateKernel(bytes as unknown as WebAssembly.Module, createKernelMemory()))).message).toContain("expected a compiled WebAssembly.Module");
  });

  it("refuses a module of another ABI version without touching the caller's memory", async () => {
    const other = assemble({ exports: { abi_version: 99, heap_base: 1024 }, data: Array(16).fill(0xaa) });
    const memory = createKernelMemory();
    new Uint8Array(memory.buffer).fill(7, 0, 64);
    const error = await refusal(loadKernel(other, { memory }));
    expect(error.message).toBe(`cannot load the gradline kernels: the module implements ABI version 99, and this host reads ABI version ${ABI_VERSION}: load the gradline.wasm of the same release as this code`);
    expect(Array.from(new Uint8Array(memory.buffer, 0, 64))).toEqual(Array(64).fill(7));
    expect((await refusal(() => instantiateKernel(new WebAssembly.Module(other), memory))).message).toContain("ABI version 99");
    expect(Array.from(new Uint8Array(memory.buffer, 0, 64))).toEqual(Array(64).fill(7));
  });

  it("refuses modules that are not gradline's: no abi_version, foreign imports, missing exports, another memory", async () => {
    expect((await refusal(loadKernel(assemble({ exports: { main: 0 } })))).message).toContain("exports no abi_version()");
    expect((await refusal(compileKernel(assemble({ exports: { abi_version: 1 }, imports: [["wasi_snapshot_preview1", "fd_write"]] })))).message)
      .toContain("it imports wasi_snapshot_preview1.fd_write (function), and gradline.wasm imports only env.memory and env.abort");
    expect((await refusal(loadKernel(assemble({ exports: { abi_version: ABI_VERSION, heap_base: 64 } })))).message)
      .toContain(`claims ABI version ${ABI_VERSION} but lacks the export model_bytes()`);
    expect((await refusal(loadKernel(assemble({ exports: { abi_version: ABI_VERSION }, memory: "own" })))).message)
      .toContain("it does not import env.memory (gradline.wasm works in a shared memory that the host provides)");
  });

  it("refuses a memory that is not shared, naming the fix", async () => {
    const plain = new WebAssembly.Memory({ initial: 1, maximum: 16 });
    const error = await refusal(loadKernel(bytes, { memory: plain }));
    expect(error.message).toContain("options.memory must be a shared WebAssembly.Memory (new WebAssembly.Memory({ initial, maximum, shared: true }))");
    expect(error.message).toContain("got a memory that is not shared");
    const module = new WebAssembly.Module(bytes);
    expect((await refusal(() => instantiateKernel(module, plain))).message).toContain("memory must be a shared WebAssembly.Memory");
    expect((await refusal(() => instantiateKernel(module, {} as WebAssembly.Memory))).message).toContain("(got a map)");
  });

  it("refuses memory sizes outside what the module declares", async () => {
    for (const [options, field] of [
      [{ initialPages: 0 }, "initialPages"], [{ initialPages: 1.5 }, "initialPages"], [{ initialPages: 32, maximumPages: 16 }, "initialPages"],
      [{ maximumPages: 65537 }, "maximumPages"], [{ maximumPages: Number.NaN }, "maximumPages"],
    ] as const) {
      const error = await refusal(() => createKernelMemory(options));
      expect(error.code).toBe("E_CONFIG");
      expect(error.message).toContain(field);
    }
  });
});
