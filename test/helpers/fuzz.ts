// Fuzz frames for the server, deterministic from a seed, and a runner that sends them.
//
// Frames (fuzzFrames) mix, from fast-check arbitraries sampled in seeded chunks:
// - structure-aware requests of every type in docs/PROTOCOL.md, fully valid (on a small
//   set of fuzz model names) or with fields valid, missing or junk: wrong types,
//   huge/negative/NaN/Inf numbers, 64-bit ints, nested junk, long strings, path
//   traversal, __proto__/constructor/prototype keys (top level and inside config),
//   bins of odd lengths, float bins holding NaN/Inf, arrays where bins belong,
//   extension types, duplicate and non-string keys, maps with toString/valueOf keys,
//   deep nesting (alone and inside config);
// - random bytes (0–2 KiB), bare or behind a plausible map header;
// - mutations of valid frames: bit flips, byte sets, truncation, insertion, deletion,
//   duplication, length fields corrupted;
// - text frames (valid UTF-8: answered with E_FRAME);
// - optionally frames over maxPayload and text frames of invalid UTF-8, both of which
//   make uWebSockets.js drop the connection (the runner expects that and reconnects).
// Each map is encoded by msgpackr's pack, @msgpack/msgpack's encode or a writer of our
// own that picks any valid width for each header (non-minimal ints, str 32, map 32 …).
//
// No frame contains a name from `forbidden` (a test's own models), and none creates a
// model larger than MAX_FUZZ_MODEL_PARAMS (see createsBigModel).
//
// runFuzz() sends the frames over several connections, pipelined within a window, and
// checks that every frame gets exactly one reply; it tallies reply types and error codes
// and keeps the frames behind any E_INTERNAL, stall or unexpected close, in hex.
// The sentinel helpers at the end (createSentinels, snapshotModel, snapshotDiff,
// sweepModels, serverAnswers) are the checks test/server/fuzz.test.ts and
// bench/fuzz.bench.ts share.
import fc from "fast-check";
import { pack } from "msgpackr";
import { encode as msgpackEncode, ExtData } from "@msgpack/msgpack";
import WebSocket from "ws";
import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { mulberry32 } from "../../host/engine/init.js";
import { decode } from "../../host/protocol/codec.js";
import { MODEL_NAME, REQUEST_TYPES } from "../../host/protocol/messages.js";
import type { WireClient } from "./wire.js";

// ---- values as they go on the wire -------------------------------------------

/** A MessagePack map as written: any keys, in this order, repeats allowed. */
export class WireMap {
  constructor(readonly entries: readonly (readonly [WireValue, WireValue])[]) {}
}
/** An extension value (type −128 … 127). */
export class Ext {
  constructor(readonly type: number, readonly data: Uint8Array) {}
}
/** A number written as float 32 (by our writer; the libraries write float 64). */
export class F32 {
  constructor(readonly value: number) {}
}
/** Where the frame's own unique seq goes (stream · 10⁹ + its index), so replies can be traced to frames. */
export class SeqSlot {
  static readonly it = new SeqSlot();
  private constructor() {}
}

export type WireValue =
  | null | undefined | boolean | number | bigint | string
  | Uint8Array | Float32Array | Float64Array | Int16Array | Date
  | F32 | Ext | WireMap | SeqSlot | readonly WireValue[];

export type Encoder = "msgpackr" | "msgpack" | "raw";

/** A fuzz model: a name and the shape its valid requests use. */
export interface FuzzModel { name: string; inputs: number; outputs: number }

/** Models the valid requests address (creates, trains, deletes …). Never a test's own models. */
export const FUZZ_MODELS: readonly FuzzModel[] = Object.freeze([
  { name: "fuzz-a", inputs: 3, outputs: 2 },
  { name: "fuzz-b", inputs: 1, outputs: 1 },
  { name: "fuzz-c", inputs: 8, outputs: 4 },
  { name: "fuzz-d", inputs: 2, outputs: 3 },
  { name: "fuzz-e", inputs: 16, outputs: 2 },
  // valid names that are also Object.prototype members: registries and metric labels must not care
  { name: "constructor", inputs: 2, outputs: 1 },
  { name: "toString", inputs: 1, outputs: 2 },
]);

/** Rows a valid train or predict carries (well under the test server's --max-rows). */
const VALID_ROWS = 8;

// ---- encoders ----------------------------------------------------------------

class Writer {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  at = 0;

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.at + n));
    grown.set(this.buf.subarray(0, this.at));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.at++] = v & 0xff;
  }
  u16(v: number): void {
    this.room(2);
    this.view.setUint16(this.at, v);
    this.at += 2;
  }
  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.at, v >>> 0);
    this.at += 4;
  }
  u64(v: bigint): void {
    this.room(8);
    this.view.setBigUint64(this.at, BigInt.asUintN(64, v));
    this.at += 8;
  }
  f32(v: number): void {
    this.room(4);
    this.view.setFloat32(this.at, v);
    this.at += 4;
  }
  f64(v: number): void {
    this.room(8);
    this.view.setFloat64(this.at, v);
    this.at += 8;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.at);
  }
}

const utf8 = new TextEncoder();
const bytesOf = (v: ArrayBufferView): Uint8Array => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

/**
 * Our own MessagePack writer: any valid width for each header (chosen by `pick`), float 32
 * on request, ext, duplicate and non-string keys. Everything a conforming peer may send.
 */
function writeRaw(w: Writer, value: WireValue, pick: () => number, seq: number): void {
  const wide = () => pick() < 0.2; // a wider header than needed
  const lenHeader = (n: number, fix: number | undefined, fixMax: number, c8: number | undefined, c16: number, c32: number) => {
    const r = pick();
    if (fix !== undefined && n <= fixMax && r < 0.8) return w.u8(fix | n);
    if (c8 !== undefined && n <= 0xff && r < 0.9) return (w.u8(c8), w.u8(n));
    if (n <= 0xffff && r < 0.95) return (w.u8(c16), w.u16(n));
    w.u8(c32);
    w.u32(n);
  };
  if (value === null) return w.u8(0xc0);
  if (value === undefined) return pick() < 0.5 ? w.u8(0xc0) : (w.u8(0xd4), w.u8(0), w.u8(0)); // msgpackr's undefined
  if (value === false || value === true) return w.u8(value ? 0xc3 : 0xc2);
  if (value instanceof SeqSlot) return writeRaw(w, seq, pick, seq);
  if (typeof value === "number") {
    if (Number.isInteger(value) && Math.abs(value) < 2 ** 63 && pick() > 0.05) return writeInt(w, BigInt(value), wide());
    if (Math.fround(value) === value && pick() < 0.3) return (w.u8(0xca), w.f32(value));
    return (w.u8(0xcb), w.f64(value));
  }
  if (typeof value === "bigint") {
    if (value >= -(2n ** 63n) && value < 2n ** 64n) return writeInt(w, value, wide());
    return (w.u8(0xcb), w.f64(Number(value)));
  }
  if (typeof value === "string") {
    const b = utf8.encode(value);
    lenHeader(b.length, 0xa0, 31, 0xd9, 0xda, 0xdb);
    return w.bytes(b);
  }
  if (value instanceof F32) return (w.u8(0xca), w.f32(value.value));
  if (value instanceof Date) {
    const ms = value.getTime();
    const secs = Math.floor(ms / 1000);
    if (secs >= 0 && secs < 2 ** 32 && ms % 1000 === 0) return (w.u8(0xd6), w.u8(0xff), w.u32(secs));
    w.u8(0xc7), w.u8(12), w.u8(0xff), w.u32(Math.max(0, ms % 1000) * 1e6);
    return w.u64(BigInt(secs));
  }
  if (ArrayBuffer.isView(value)) {
    const b = bytesOf(value);
    lenHeader(b.length, undefined, 0, 0xc4, 0xc5, 0xc6);
    return w.bytes(b);
  }
  if (value instanceof Ext) {
    const n = value.data.length;
    const fix = ({ 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 } as Record<number, number>)[n];
    if (fix !== undefined && pick() < 0.8) w.u8(fix);
    else lenHeader(n, undefined, 0, 0xc7, 0xc8, 0xc9);
    w.u8(value.type);
    return w.bytes(value.data);
  }
  if (value instanceof WireMap) {
    lenHeader(value.entries.length, 0x80, 15, undefined, 0xde, 0xdf);
    for (const [k, v] of value.entries) {
      writeRaw(w, k, pick, seq);
      writeRaw(w, v, pick, seq);
    }
    return;
  }
  lenHeader(value.length, 0x90, 15, undefined, 0xdc, 0xdd);
  for (const item of value) writeRaw(w, item, pick, seq);
}

function writeInt(w: Writer, v: bigint, wide: boolean): void {
  if (v >= 0n) {
    if (!wide && v < 128n) return w.u8(Number(v));
    if (!wide && v < 256n) return (w.u8(0xcc), w.u8(Number(v)));
    if (!wide && v < 65536n) return (w.u8(0xcd), w.u16(Number(v)));
    if (!wide && v < 2n ** 32n) return (w.u8(0xce), w.u32(Number(v)));
    if (v < 2n ** 63n && wide) return (w.u8(0xd3), w.u64(v)); // a positive int 64
    return (w.u8(0xcf), w.u64(v));
  }
  if (!wide && v >= -32n) return w.u8(Number(v) & 0xff);
  if (!wide && v >= -128n) return (w.u8(0xd0), w.u8(Number(v)));
  if (!wide && v >= -32768n) return (w.u8(0xd1), w.u16(Number(v) & 0xffff));
  if (!wide && v >= -(2n ** 31n)) return (w.u8(0xd2), w.u32(Number(v)));
  w.u8(0xd3);
  w.u64(v);
}

/** An own enumerable property, whatever its name ("__proto__" included). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The value as the libraries take it. */
function toJs(value: WireValue, encoder: "msgpackr" | "msgpack", seq: number): unknown {
  if (value instanceof SeqSlot) return seq;
  if (value instanceof F32) return value.value;
  if (value instanceof Ext) {
    if (encoder === "msgpack") return new ExtData(value.type, value.data);
    return value.type === 0 && value.data.length === 1 ? undefined : value.data; // msgpackr: no plain ext
  }
  if (value instanceof WireMap) {
    const stringKeys = value.entries.every(([k]) => typeof k === "string");
    if (!stringKeys && encoder === "msgpackr") return new Map(value.entries.map(([k, v]) => [toJs(k, encoder, seq), toJs(v, encoder, seq)]));
    const out: Record<string, unknown> = {};
    for (const [k, v] of value.entries) {
      const key = typeof k === "string" ? k : String(k);
      if (key === "__proto__") setOwn(out, key, toJs(v, encoder, seq));
      else out[key] = toJs(v, encoder, seq);
    }
    return out;
  }
  if (Array.isArray(value)) return value.map((item: WireValue) => toJs(item, encoder, seq));
  return value;
}

/** Encodes a value with the chosen encoder; `variant` seeds our writer's choices. */
export function encodeWith(encoder: Encoder, value: WireValue, seq: number, variant: number): Uint8Array {
  if (encoder !== "raw") {
    try {
      const js = toJs(value, encoder, seq);
      // copies: msgpackr's result is a view of a buffer it reuses
      return encoder === "msgpackr" ? new Uint8Array(pack(js)) : msgpackEncode(js, { useBigInt64: true }).slice();
    } catch {
      // a value that library cannot write (our writer can)
    }
  }
  const w = new Writer();
  writeRaw(w, value, mulberry32(variant), seq);
  return w.done();
}

// ---- finding the headers of an encoded frame (for length-field corruption) ----

interface Header { at: number; kind: "fix" | "len"; width: number; fixMask: number }

/** The length-carrying headers (str, bin, array, map, ext) of a well-formed frame, in order. */
export function scanHeaders(b: Uint8Array): Header[] {
  const out: Header[] = [];
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let at = 0;
  const len = (width: number) => (width === 1 ? view.getUint8(at + 1) : width === 2 ? view.getUint16(at + 1) : view.getUint32(at + 1));
  const skip = (): void => {
    if (at >= b.length) throw new RangeError("end");
    const t = b[at]!;
    if (t < 0x80 || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return void at++;
    if (t <= 0x8f) return items(0x0f, (t & 0x0f) * 2, 1);
    if (t <= 0x9f) return items(0x0f, t & 0x0f, 1);
    if (t <= 0xbf) return (out.push({ at, kind: "fix", width: 0, fixMask: 0x1f }), void (at += 1 + (t & 0x1f)));
    const sized: Record<number, [number, "bin" | "ext" | "num"]> = {
      0xc4: [1, "bin"], 0xc5: [2, "bin"], 0xc6: [4, "bin"], 0xd9: [1, "bin"], 0xda: [2, "bin"], 0xdb: [4, "bin"],
      0xc7: [1, "ext"], 0xc8: [2, "ext"], 0xc9: [4, "ext"],
    };
    const s = sized[t];
    if (s) {
      const [width, kind] = s;
      const n = len(width);
      out.push({ at, kind: "len", width, fixMask: 0 });
      return void (at += 1 + width + (kind === "ext" ? 1 : 0) + n);
    }
    if (t === 0xdc || t === 0xdd) return items(0, len(t === 0xdc ? 2 : 4), t === 0xdc ? 3 : 5, t === 0xdc ? 2 : 4);
    if (t === 0xde || t === 0xdf) return items(0, 2 * len(t === 0xde ? 2 : 4), t === 0xde ? 3 : 5, t === 0xde ? 2 : 4);
    const fixed: Record<number, number> = { 0xca: 5, 0xcb: 9, 0xcc: 2, 0xcd: 3, 0xce: 5, 0xcf: 9, 0xd0: 2, 0xd1: 3, 0xd2: 5, 0xd3: 9, 0xd4: 3, 0xd5: 4, 0xd6: 6, 0xd7: 10, 0xd8: 18 };
    at += fixed[t] ?? 1;
  };
  const items = (fixMask: number, count: number, headerSize: number, width = 0) => {
    out.push(fixMask ? { at, kind: "fix", width: 0, fixMask } : { at, kind: "len", width, fixMask: 0 });
    at += headerSize;
    for (let i = 0; i < count; i++) skip();
  };
  try {
    skip();
  } catch {
    // a frame we cannot walk: whatever headers were found
  }
  return out;
}

// ---- arbitraries ---------------------------------------------------------------

const INTERESTING_INTS = [
  0, 1, -1, 2, 3, 31, 32, -32, -33, 127, 128, 255, 256, 65535, 65536, 65537, 2 ** 26, 2 ** 26 + 1, 16777216, 16777217,
  2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 86_400_000, 86_400_001, 100_000, 100_001, 1_000_000_000,
  Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53, 2 ** 60,
];
const INTERESTING_BIGINTS = [0n, 1n, -1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n), 2n ** 63n - 1n, 2n ** 63n, -(2n ** 63n), 2n ** 64n - 1n];
const INTERESTING_DOUBLES = [
  NaN, Infinity, -Infinity, -0, 0.5, 1.5, -1.5, 1e-8, 1e-45, 5e-324, 1e-300, 0.99999999, 1 - 2 ** -53, 1 + 2 ** -52,
  3.4028234663852886e38, 3.5e38, 1e39, 1e300, Number.MAX_VALUE, -Number.MAX_VALUE, 0.1, 1e10,
];
const NASTY_STRINGS = [
  "", " ", "../x", "/etc/passwd", "a/../../b", "..", ".", "../../../../../../etc/shadow", "..\\..\\x", "C:\\Windows\\win.ini",
  "%2e%2e%2fx", "fuzz-a/../fuzz-b", "fuzz-a/", "/fuzz-a", "./fuzz-a", "fuzz-a\u0000", "\u0000", "fuzz-a\n", "fuzz a", "-fuzz",
  ".hidden", "_x", "__proto__", "prototype", "hasOwnProperty", "valueOf", "__defineGetter__", "fuzz-\u00e4", "\ud800", "\uffff",
  "\u{1f4a5}", "\u202efuzz", "FUZZ-A", "fuzz-a ", "%s%s%s%n", "${process.exit()}", "<script>", "'; DROP TABLE models; --",
  "x".repeat(129), "NUL", "con", "aux.txt", "fuzz-a.snapshot", "fuzz-a.tmp", "E_INTERNAL",
];
const FIELD_NAMES = [
  "type", "seq", "model", "x", "y", "config", "protocol", "client", "everySteps", "minIntervalMs", "target", "weights", "lower",
  "upper", "fixed", "current", "maxMove", "lambda", "maxIterations", "tolerance", "reachTolerance", "method", "inputs", "outputs",
  "loss", "optimizer", "lr", "init", "W", "b", "__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty",
];
const PROTO_KEYS = ["__proto__", "constructor", "prototype"];

const f32Bytes = (values: ArrayLike<number>): Uint8Array => bytesOf(Float32Array.from(values));

/** n float32 values from a seed, in a style: plain, wide, huge (to diverge), zero, constant (stuck), integral or tiny. */
function floatBin(n: number, seed: number, style: number): Uint8Array {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  const kind = style % 7;
  if (kind === 3) return bytesOf(out);
  if (kind === 4) return bytesOf(out.fill((next() * 2 - 1) * 10));
  const scale = [1, 1e4, 1e30, 0, 0, 100, 1e-30][kind]!;
  for (let i = 0; i < n; i++) out[i] = (next() * 2 - 1) * scale;
  if (kind === 5) for (let i = 0; i < n; i++) out[i] = Math.round(out[i]!);
  return bytesOf(out);
}

/** n bytes from a seed. */
function randomBytes(n: number, seed: number): Uint8Array {
  const next = mulberry32(seed);
  const words = new Uint32Array(Math.ceil(n / 4));
  for (let i = 0; i < words.length; i++) words[i] = next() * 4294967296;
  return new Uint8Array(words.buffer, 0, n);
}

/** The bytes of the parts, one after the other. */
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const anyInt = fc.oneof(fc.constantFrom(...INTERESTING_INTS), fc.integer(), fc.integer({ min: -300, max: 300 }));
const anyDouble = fc.oneof(fc.constantFrom(...INTERESTING_DOUBLES), fc.double());
const anyBigint = fc.oneof(fc.constantFrom(...INTERESTING_BIGINTS), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }));
const anyNumber: fc.Arbitrary<WireValue> = fc.oneof(
  { arbitrary: anyInt, weight: 4 },
  { arbitrary: anyDouble, weight: 3 },
  { arbitrary: anyBigint, weight: 1 },
  { arbitrary: fc.float().map((v) => new F32(v)), weight: 1 },
);
const longString = fc
  .tuple(fc.integer({ min: 129, max: 8_000 }), fc.constantFrom("a", "\u00e9", "\u{1f4a5}", "/", "../", "\u0000"))
  .map(([n, unit]) => unit.repeat(Math.ceil(n / unit.length)));
const anyString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY_STRINGS), weight: 12 },
  { arbitrary: fc.string({ maxLength: 24 }), weight: 6 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 24 }), weight: 3 },
  { arbitrary: longString, weight: 1 },
);
/** Bins of odd and even lengths, float bins holding NaN/Inf, other typed arrays. */
const anyBin: fc.Arbitrary<WireValue> = fc.oneof(
  fc.uint8Array({ maxLength: 23 }),
  fc.tuple(fc.integer({ min: 0, max: 4096 }), fc.nat()).map(([n, s]) => floatBin(n, s, 0).subarray(0, n)),
  fc.array(fc.constantFrom(NaN, Infinity, -Infinity, 0, 1, -1, 3.5e38, 1e-45, -0), { minLength: 1, maxLength: 12 }).map(f32Bytes),
  fc.array(fc.double(), { maxLength: 4 }).map((v) => Float64Array.from(v)),
  fc.array(fc.integer({ min: -32768, max: 32767 }), { maxLength: 5 }).map((v) => Int16Array.from(v)),
  fc.array(fc.float(), { maxLength: 6 }).map((v) => Float32Array.from(v)),
);
/** Extension values: msgpackr's own types (0x40–0x7f), the timestamp (−1), its undefined (0) and any other. */
const anyExt: fc.Arbitrary<WireValue> = fc.oneof(
  fc.tuple(fc.integer({ min: -128, max: 127 }), fc.uint8Array({ maxLength: 20 })).map(([t, d]) => new Ext(t, d)),
  fc.tuple(fc.integer({ min: 0x40, max: 0x7f }), fc.uint8Array({ maxLength: 20 })).map(([t, d]) => new Ext(t, d)),
  fc.tuple(fc.constantFrom(-1, 0), fc.constantFrom(0, 1, 4, 8, 12, 3)).chain(([t, n]) => fc.uint8Array({ minLength: n, maxLength: n }).map((d) => new Ext(t, d))),
  fc.integer({ min: -8.64e15, max: 8.64e15 }).map((ms) => new Date(ms)),
);
/** Maps whose keys shadow Object.prototype's methods: String(), template literals and `+ ""` throw on them. */
const hostileMap: fc.Arbitrary<WireValue> = fc.oneof(
  fc.tuple(fc.constantFrom("toString", "valueOf", "toJSON", "constructor", "hasOwnProperty", "__proto__", "then"), fc.oneof(anyNumber, anyString, fc.constant<WireValue>(null))).map(([k, v]) => new WireMap([[k, v]])),
  fc.tuple(anyNumber, anyString).map(([a, b]) => new WireMap([["valueOf", a], ["toString", b]])),
);
const leaf: fc.Arbitrary<WireValue> = fc.oneof(
  { arbitrary: fc.constantFrom<WireValue>(null, undefined, true, false), weight: 2 },
  { arbitrary: anyNumber, weight: 4 },
  { arbitrary: anyString, weight: 3 },
  { arbitrary: anyBin, weight: 2 },
  { arbitrary: anyExt, weight: 1 },
  { arbitrary: hostileMap, weight: 1 },
);
const anyKey: fc.Arbitrary<WireValue> = fc.oneof(
  { arbitrary: fc.constantFrom(...FIELD_NAMES), weight: 6 },
  { arbitrary: anyString, weight: 2 },
  { arbitrary: fc.oneof(anyInt, fc.constant(null), fc.uint8Array({ maxLength: 3 }), fc.constant([1, 2] as WireValue)), weight: 1 },
);
/** Any value, nested a few levels. */
const junk: fc.Arbitrary<WireValue> = fc.letrec<{ value: WireValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", maxDepth: 3 },
    { arbitrary: leaf, weight: 8 },
    { arbitrary: fc.array(tie("value"), { maxLength: 5 }), weight: 1 },
    { arbitrary: fc.array(fc.tuple(anyKey, tie("value")), { maxLength: 5 }).map((e) => new WireMap(e)), weight: 1 },
  ),
})).value;

type Entry = readonly [WireValue, WireValue];
const MISSING = null;
type Field = Entry | typeof MISSING;

/** A field: valid, junk (or `bad`, values just wrong for it) or missing. */
function field(key: string, valid: fc.Arbitrary<WireValue>, bad?: fc.Arbitrary<WireValue>, weights = { valid: 6, junk: 3, missing: 1 }): fc.Arbitrary<Field> {
  const wrong = bad ? fc.oneof(bad, bad, junk) : junk;
  return fc.oneof(
    { arbitrary: valid.map((v): Field => [key, v]), weight: weights.valid },
    { arbitrary: wrong.map((v): Field => [key, v]), weight: weights.junk },
    { arbitrary: fc.constant<Field>(MISSING), weight: weights.missing },
  );
}

/** Keys that are not the request's own: unknown fields, __proto__ & co, repeats of its own keys. */
const extraEntries: fc.Arbitrary<Entry[]> = fc.oneof(
  { arbitrary: fc.constant<Entry[]>([]), weight: 6 },
  { arbitrary: fc.array(fc.tuple(anyKey, junk), { minLength: 1, maxLength: 3 }), weight: 2 },
  { arbitrary: fc.tuple(fc.constantFrom(...PROTO_KEYS), junk).map((e) => [e]), weight: 2 },
);

/** Builds a request map: shuffled or in order, with extra keys. */
function requestMap(type: string, fields: fc.Arbitrary<Field>[]): fc.Arbitrary<WireValue> {
  const otherTypes = fc.constantFrom<WireValue>(...REQUEST_TYPES, "Train", "train ", "welcome", "ack", "error", "update", "", ...PROTO_KEYS, "toString");
  const typeField = field("type", fc.constant(type), fc.oneof(otherTypes, anyString), { valid: 12, junk: 1, missing: 1 });
  const seqField = field("seq", fc.oneof({ arbitrary: fc.constant<WireValue>(SeqSlot.it), weight: 12 }, { arbitrary: fc.constantFrom<WireValue>(0, Number.MAX_SAFE_INTEGER, 2 ** 32, 2n ** 53n - 1n, 1.0), weight: 1 }), fc.constantFrom<WireValue>(-1, 1.5, "1", NaN, Infinity, 2 ** 53, 2n ** 53n, -(2n ** 63n), null, [1], true), { valid: 12, junk: 1, missing: 1 });
  return fc.tuple(typeField, seqField, fc.tuple(...fields), extraEntries, fc.nat()).map(([t, s, fs, extra, order]) => {
    const entries = [t, s, ...fs].filter((e): e is Entry => e !== MISSING).concat(extra);
    if (order % 3 === 0) shuffle(entries, order);
    return new WireMap(entries);
  });
}

function shuffle<T>(items: T[], seed: number): void {
  const next = mulberry32(seed);
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

const fuzzModel = fc.constantFrom(...FUZZ_MODELS);
/** Names that break the name rule (path traversal & co) or are random strings that do. */
const badName: fc.Arbitrary<WireValue> = fc.oneof(
  fc.constantFrom(...NASTY_STRINGS.filter((s) => !MODEL_NAME.test(s))),
  anyString.filter((s) => !MODEL_NAME.test(s)),
);
const nameOf = (model: FuzzModel) => fc.oneof({ arbitrary: fc.constant<WireValue>(model.name), weight: 5 }, { arbitrary: fuzzModel.map((m): WireValue => m.name), weight: 1 });

/** x (or y) for a model: whole rows of finite float32, of any style. */
const rowsBin = (width: number, rows: fc.Arbitrary<number> = fc.integer({ min: 1, max: VALID_ROWS })) =>
  fc.tuple(rows, fc.nat(), fc.nat({ max: 20 })).map(([r, seed, style]): WireValue => floatBin(r * width, seed, style < 14 ? 0 : style));
/** x or y values that are wrong: odd lengths, NaN/Inf, too many rows, arrays, strings … */
const badRows = (width: number, maxRows: number): fc.Arbitrary<WireValue> => fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 4 * width * 2 }), fc.nat()).map(([n, s]) => floatBin(n, s, 0).subarray(0, n % 4 === 0 ? n + 1 : n)),
  fc.tuple(fc.integer({ min: 1, max: 4 }), fc.nat(), fc.constantFrom(NaN, Infinity, -Infinity)).map(([r, s, bad]) => {
    const values = new Float32Array(floatBin(r * width, s, 0).buffer.slice(0));
    values[s % values.length] = bad;
    return bytesOf(values);
  }),
  fc.tuple(fc.integer({ min: maxRows + 1, max: maxRows + 64 }), fc.nat()).map(([r, s]) => floatBin(r * width, s, 0)),
  fc.tuple(fc.integer({ min: 1, max: 5 }), fc.nat()).map(([r, s]) => floatBin(r * width + 1, s, 0)),
  fc.constant(new Uint8Array(0)),
  fc.array(fc.double(), { maxLength: 2 * width }),
  fc.array(fc.float().map((v) => new F32(v)), { maxLength: 2 * width }),
);

const validOptimizer = fc.oneof(
  fc.constantFrom<WireValue>("sgd", "momentum", "adam"),
  fc.record({ lr: fc.double({ min: 1e-5, max: 0.5, noNaN: true }) }).map((o) => new WireMap([["type", "sgd"], ["lr", o.lr]])),
  fc.tuple(fc.double({ min: 1e-5, max: 0.1, noNaN: true }), fc.double({ min: 0, max: 0.99, noNaN: true }), fc.boolean()).map(([lr, m, n]) => new WireMap([["type", "momentum"], ["lr", lr], ["momentum", m], ["nesterov", n]])),
  fc.tuple(fc.double({ min: 1e-5, max: 0.1, noNaN: true }), fc.double({ min: 0, max: 0.99, noNaN: true }), fc.double({ min: 0.9, max: 0.999, noNaN: true })).map(([lr, b1, b2]) => new WireMap([["type", "adam"], ["lr", lr], ["beta1", b1], ["beta2", b2], ["eps", 1e-8]])),
);
const badOptimizer = fc.oneof(
  fc.constantFrom<WireValue>("SGD", "rmsprop", ""),
  fc.tuple(fc.constantFrom("sgd", "momentum", "adam", "nope"), fc.constantFrom("lr", "momentum", "beta1", "beta2", "eps", "nesterov", "type", ...PROTO_KEYS), fc.oneof(anyNumber, junk))
    .map(([type, key, v]) => new WireMap([["type", type], [key, v]])),
);
const driftMap = fc.tuple(fc.constantFrom("delta", "threshold", "warmup", "alpha", "onDrift", "boost", "boostSteps", ...PROTO_KEYS), fc.oneof(anyNumber, fc.constantFrom<WireValue>("report", "reset", "boost", null), junk))
  .map(([k, v]) => new WireMap([[k, v]]));
const anomalyMap = fc.tuple(fc.constantFrom("residual", "margin", "stuck", "warmup", "exclude", ...PROTO_KEYS), fc.oneof(anyNumber, fc.boolean(), junk))
  .map(([k, v]) => new WireMap([[k, v]]));
const badShape = fc.oneof(
  { arbitrary: fc.constantFrom<WireValue>(0, -1, 65537, 2 ** 26, 2 ** 32, 1.5, NaN, Infinity, "3", true, null, 2n ** 53n, 2n ** 63n, new F32(2.5)), weight: 4 },
  { arbitrary: hostileMap, weight: 1 },
);

/** A create's config: valid options or any mix of wrong ones, __proto__ & co inside. */
function configOf(model: FuzzModel): fc.Arbitrary<WireValue> {
  const shape = (n: number) => fc.oneof({ arbitrary: fc.constant<WireValue>(n), weight: 8 }, { arbitrary: fc.constantFrom<WireValue>(n + 0.0, BigInt(n), new F32(n)), weight: 1 });
  const options = fc.tuple(
    field("inputs", shape(model.inputs), badShape, { valid: 12, junk: 1, missing: 1 }),
    field("outputs", shape(model.outputs), badShape, { valid: 12, junk: 1, missing: 1 }),
    field("loss", fc.constantFrom("mse", "huber"), fc.constantFrom("MSE", "l1", "", "huber\u0000"), { valid: 2, junk: 1, missing: 6 }),
    field("huberDelta", fc.double({ min: 0.01, max: 10, noNaN: true }), anyNumber, { valid: 1, junk: 1, missing: 8 }),
    field("optimizer", validOptimizer, badOptimizer, { valid: 3, junk: 1, missing: 6 }),
    field("l2", fc.double({ min: 0, max: 0.1, noNaN: true }), anyNumber, { valid: 1, junk: 1, missing: 8 }),
    field("standardize", fc.boolean(), fc.constantFrom<WireValue>(0, 1, "true", null), { valid: 2, junk: 1, missing: 6 }),
    field("seed", fc.integer({ min: 0, max: 2 ** 32 - 1 }), anyNumber, { valid: 2, junk: 1, missing: 6 }),
    field("drift", fc.oneof(fc.constantFrom<WireValue>(true, false, null), driftMap), driftMap, { valid: 2, junk: 1, missing: 6 }),
    field("anomaly", fc.oneof(fc.constantFrom<WireValue>(true, false, null), anomalyMap), anomalyMap, { valid: 2, junk: 1, missing: 6 }),
  );
  const extra = fc.oneof(
    { arbitrary: fc.constant<Entry[]>([]), weight: 10 },
    { arbitrary: fc.tuple(fc.constantFrom(...PROTO_KEYS, "init", "colour", "shardRows", "kernel"), junk).map((e): Entry[] => [e]), weight: 2 },
    { arbitrary: fc.tuple(fc.constantFrom(...PROTO_KEYS), fc.constant(new WireMap([["standardize", false], ["inputs", 9999]]))).map((e): Entry[] => [e]), weight: 1 },
    { arbitrary: fc.array(fc.tuple(anyKey, junk), { minLength: 1, maxLength: 3 }), weight: 1 },
  );
  return fc.tuple(options, extra).map(([fs, more]) => new WireMap([...fs.filter((e): e is Entry => e !== MISSING), ...more]));
}

const numberList = (n: number, lo = -10, hi = 10) => fc.array(fc.double({ min: lo, max: hi, noNaN: true }), { minLength: n, maxLength: n });
const badList = (n: number): fc.Arbitrary<WireValue> => fc.oneof(
  fc.array(anyNumber, { maxLength: n + 2 }),
  numberList(n + 1),
  numberList(Math.max(0, n - 1)),
  fc.tuple(numberList(n), fc.nat(), fc.constantFrom<WireValue>(NaN, Infinity, -Infinity, null, "1", [1])).map(([l, i, bad]) => l.map((v, j) => (j === i % n ? bad : v)) as WireValue),
  fc.constant(f32Bytes(new Array(n).fill(1))),
);

/** Requests of every type for one model, each field valid, wrong or missing. */
function requestsFor(model: FuzzModel, maxRows: number): fc.Arbitrary<WireValue> {
  const { inputs: m, outputs: n } = model;
  const name = field("model", nameOf(model), badName, { valid: 8, junk: 2, missing: 1 });
  const optionalList = (key: string, len: number, lo?: number, hi?: number) => field(key, numberList(len, lo, hi), badList(len), { valid: 1, junk: 1, missing: 6 });
  return fc.oneof(
    { arbitrary: requestMap("hello", [field("protocol", fc.constantFrom<WireValue>(1, 1.0, 1n, new F32(1)), fc.constantFrom<WireValue>(0, 2, -1, "1", 2n ** 64n - 1n, null)), field("client", anyString, junk, { valid: 3, junk: 1, missing: 3 })]), weight: 1 },
    { arbitrary: requestMap("create", [name, field("config", configOf(model), fc.oneof(junk, fc.constant<WireValue>([m, n])))]), weight: 4 },
    { arbitrary: requestMap("open", [name]), weight: 1 },
    { arbitrary: requestMap("train", [name, field("x", rowsBin(m), badRows(m, maxRows)), field("y", rowsBin(n, fc.constant(1)), badRows(n, maxRows))]), weight: 6 },
    { arbitrary: requestMap("predict", [name, field("x", rowsBin(m), badRows(m, maxRows))]), weight: 2 },
    { arbitrary: requestMap("params", [name]), weight: 1 },
    { arbitrary: requestMap("subscribe", [name, field("everySteps", fc.integer({ min: 1, max: 2 ** 32 }), fc.constantFrom<WireValue>(0, -1, 2 ** 32 + 1, 1.5, "1", 2n ** 63n), { valid: 3, junk: 1, missing: 3 }), field("minIntervalMs", fc.integer({ min: 0, max: 86_400_000 }), fc.constantFrom<WireValue>(-1, 86_400_001, 0.5, Infinity, "0"), { valid: 3, junk: 1, missing: 3 })]), weight: 1 },
    { arbitrary: requestMap("unsubscribe", [name]), weight: 1 },
    { arbitrary: requestMap("list", []), weight: 1 },
    // mostly refused: a delete that succeeds ends the model the other requests address
    { arbitrary: requestMap("delete", [field("model", nameOf(model), badName, { valid: 1, junk: 3, missing: 1 })]), weight: 1 },
    {
      arbitrary: requestMap("setpoint", [
        name,
        field("target", numberList(n), badList(n), { valid: 8, junk: 2, missing: 1 }),
        optionalList("weights", n, 0, 5),
        optionalList("lower", m, -100, 0),
        optionalList("upper", m, 0, 100),
        field("fixed", fc.array(fc.option(fc.double({ min: -5, max: 5, noNaN: true }), { nil: null }), { minLength: m, maxLength: m }), badList(m), { valid: 1, junk: 1, missing: 6 }),
        optionalList("current", m),
        optionalList("maxMove", m, 0, 10),
        field("lambda", fc.double({ min: 0, max: 1, noNaN: true }), anyNumber, { valid: 1, junk: 1, missing: 6 }),
        field("maxIterations", fc.integer({ min: 1, max: 200 }), fc.oneof(anyNumber, fc.constant<WireValue>(100_000)), { valid: 1, junk: 1, missing: 6 }),
        field("tolerance", fc.double({ min: 1e-12, max: 1e-3, noNaN: true }), anyNumber, { valid: 1, junk: 1, missing: 6 }),
        field("reachTolerance", fc.double({ min: 1e-9, max: 1, noNaN: true }), anyNumber, { valid: 1, junk: 1, missing: 6 }),
        field("method", fc.constantFrom("auto", "newton", "fista"), anyString, { valid: 1, junk: 1, missing: 6 }),
      ]),
      weight: 2,
    },
  );
}

/** A fully valid request on a fuzz model (trains mostly), so the models do get created, trained, read and deleted. */
function validRequest(model: FuzzModel): fc.Arbitrary<WireValue> {
  const { name, inputs: m, outputs: n } = model;
  const head = (type: string): Entry[] => [["type", type], ["seq", SeqSlot.it], ["model", name]];
  const config = fc.tuple(fc.boolean(), validOptimizer, fc.integer({ min: 0, max: 3 })).map(([standardize, optimizer, seed]) => new WireMap([["inputs", m], ["outputs", n], ["standardize", standardize], ["optimizer", optimizer], ["seed", seed]]));
  const train = fc.tuple(fc.integer({ min: 1, max: VALID_ROWS }), fc.nat(), fc.nat({ max: 30 }))
    .map(([rows, seed, style]) => new WireMap([...head("train"), ["x", floatBin(rows * m, seed, style < 25 ? 0 : style)], ["y", floatBin(rows * n, seed + 1, style < 25 ? 0 : style)]]));
  return fc.oneof(
    { arbitrary: train, weight: 12 },
    { arbitrary: fc.constant(new WireMap([...head("create"), ["config", new WireMap([["inputs", m], ["outputs", n]])]])), weight: 2 },
    { arbitrary: config.map((c) => new WireMap([...head("create"), ["config", c]])), weight: 1 },
    { arbitrary: rowsBin(m).map((x) => new WireMap([...head("predict"), ["x", x]])), weight: 2 },
    { arbitrary: fc.constantFrom("params", "open", "unsubscribe").map((t) => new WireMap(head(t))), weight: 2 },
    { arbitrary: fc.constant(new WireMap([...head("subscribe"), ["everySteps", 50], ["minIntervalMs", 200]])), weight: 1 },
    { arbitrary: fc.constant(new WireMap(head("delete"))), weight: 1 },
    { arbitrary: fc.tuple(numberList(n), fc.option(numberList(m, -5, 0)), fc.option(numberList(m, 0, 5))).map(([target, lower, upper]) => new WireMap([...head("setpoint"), ["target", target], ...(lower ? [["lower", lower] as Entry] : []), ...(upper ? [["upper", upper] as Entry] : [])])), weight: 1 },
    { arbitrary: fc.constant(new WireMap([["type", "list"], ["seq", SeqSlot.it]])), weight: 1 },
    { arbitrary: fc.constant(new WireMap([["type", "hello"], ["seq", SeqSlot.it], ["protocol", 1], ["client", "fuzz"]])), weight: 1 },
  );
}

// ---- frame specs ---------------------------------------------------------------

export type FrameKind = "valid" | "structured" | "mutated" | "random" | "deep" | "text" | "oversize" | "badUtf8";
/** Kinds after which uWebSockets.js may drop the connection (sent alone, with nothing awaiting a reply). */
export const CLOSING_KINDS: readonly FrameKind[] = ["oversize", "badUtf8"];

type Mutation = readonly [op: number, at: number, value: number];

type FrameSpec =
  | { kind: "valid" | "structured"; encoder: Encoder; value: WireValue; variant: number; fragments: number }
  | { kind: "mutated"; encoder: Encoder; value: WireValue; variant: number; mutations: Mutation[]; fragments: number }
  | { kind: "random"; length: number; seed: number; prefix: number }
  | { kind: "deep"; depth: number; inConfig: boolean; asMap: boolean }
  | { kind: "text"; text: string }
  | { kind: "oversize"; extra: number; seed: number }
  | { kind: "badUtf8"; bytes: Uint8Array };

export interface FrameOptions {
  /** The server's maxPayload: every frame but "oversize" stays below it. */
  maxPayload: number;
  /** The server's maxRows: some trains go beyond it. */
  maxRows: number;
  /** Weight of frames that close the connection (oversize, invalid UTF-8 text), out of ~10,000. Default 0. */
  closingWeight?: number;
}

const encoderArb = fc.constantFrom<Encoder>("msgpackr", "msgpack", "raw");
const fragmentsArb = fc.oneof({ arbitrary: fc.constant(1), weight: 30 }, { arbitrary: fc.integer({ min: 2, max: 4 }), weight: 1 });
const mutationsArb = fc.array(fc.tuple(fc.nat({ max: 9 }), fc.nat(), fc.nat()), { minLength: 1, maxLength: 4 });

function specArb(options: FrameOptions): fc.Arbitrary<FrameSpec> {
  // one arbitrary per model, built once (chain() would build one per value)
  const anyRequest = fc.oneof(...FUZZ_MODELS.map((model) => requestsFor(model, options.maxRows)));
  const anyValid = fc.oneof(...FUZZ_MODELS.map(validRequest));
  const closing = options.closingWeight ?? 0;
  const arbs: fc.WeightedArbitrary<FrameSpec>[] = [
    { arbitrary: fc.record({ kind: fc.constant("valid" as const), encoder: encoderArb, value: anyValid, variant: fc.nat(), fragments: fragmentsArb }), weight: 1500 },
    { arbitrary: fc.record({ kind: fc.constant("structured" as const), encoder: encoderArb, value: anyRequest, variant: fc.nat(), fragments: fragmentsArb }), weight: 4000 },
    { arbitrary: fc.record({ kind: fc.constant("structured" as const), encoder: encoderArb, value: junk, variant: fc.nat(), fragments: fragmentsArb }), weight: 300 },
    { arbitrary: fc.record({ kind: fc.constant("mutated" as const), encoder: encoderArb, value: fc.oneof(anyValid, anyRequest), variant: fc.nat(), mutations: mutationsArb, fragments: fragmentsArb }), weight: 2200 },
    {
      arbitrary: fc.record({
        kind: fc.constant("random" as const),
        length: fc.oneof(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 256 }), fc.integer({ min: 0, max: 2048 })),
        seed: fc.nat(),
        prefix: fc.nat({ max: 3 }),
      }),
      weight: 1500,
    },
    { arbitrary: fc.record({ kind: fc.constant("deep" as const), depth: fc.oneof(fc.integer({ min: 2, max: 200 }), fc.integer({ min: 200, max: 2000 }), fc.integer({ min: 2000, max: 10_000 }), fc.integer({ min: 10_000, max: 30_000 })), inConfig: fc.boolean(), asMap: fc.boolean() }), weight: 25 },
    {
      arbitrary: fc.record({
        kind: fc.constant("text" as const),
        text: fc.oneof(fc.string({ maxLength: 64 }), fc.constant('{"type":"list","seq":1}'), fc.constant(""), longString, fc.constantFrom(...NASTY_STRINGS)),
      }),
      weight: 400,
    },
  ];
  if (closing > 0) {
    arbs.push({ arbitrary: fc.record({ kind: fc.constant("oversize" as const), extra: fc.integer({ min: 1, max: 4096 }), seed: fc.nat() }), weight: closing });
    arbs.push({
      arbitrary: fc.record({
        kind: fc.constant("badUtf8" as const),
        bytes: fc.constantFrom(Uint8Array.of(0xff), Uint8Array.of(0xc0, 0x80), Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.of(0x61, 0xe2, 0x82), Uint8Array.of(0xf8, 0x88, 0x80, 0x80, 0x80)),
      }),
      weight: closing,
    });
  }
  return fc.oneof(...arbs);
}

const INTERESTING_BYTES = [0x00, 0xff, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc4, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcf, 0xd3, 0xd4, 0xd8, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0];

/** Applies mutations to a copy of an encoded frame. */
function mutate(frame: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b: Uint8Array = Uint8Array.from(frame);
  for (const [op, at, value] of mutations) {
    const i = b.length === 0 ? 0 : at % b.length;
    switch (op) {
      case 0: // bit flip
      case 1:
        if (b.length) b[i] = b[i]! ^ (1 << (value % 8));
        break;
      case 2: // an interesting byte
        if (b.length) b[i] = INTERESTING_BYTES[value % INTERESTING_BYTES.length]!;
        break;
      case 3: // truncation
        b = b.slice(0, i);
        break;
      case 4: // insertion
        b = concat(b.subarray(0, i), randomBytes(1 + (value % 8), value), b.subarray(i));
        break;
      case 5: // deletion
        b = concat(b.subarray(0, i), b.subarray(i + 1 + (value % 4)));
        break;
      case 6: // duplication of a chunk
        b = concat(b.subarray(0, i), b.subarray(i, i + 1 + (value % 16)), b.subarray(i));
        break;
      default: { // a length field corrupted
        const headers = scanHeaders(b);
        if (headers.length === 0) break;
        const h = headers[at % headers.length]!;
        const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
        if (h.kind === "fix") {
          const old = b[h.at]! & h.fixMask;
          const next = [0, old + 1, old - 1, h.fixMask, value][value % 5]! & h.fixMask;
          b[h.at] = (b[h.at]! & ~h.fixMask) | next;
        } else if (h.at + h.width < b.length) {
          const max = 2 ** (8 * h.width) - 1;
          const old = h.width === 1 ? view.getUint8(h.at + 1) : h.width === 2 ? view.getUint16(h.at + 1) : view.getUint32(h.at + 1);
          const next = Math.max(0, Math.min(max, [0, old + 1, old - 1, max, max >>> 1, value][value % 6]!));
          if (h.width === 1) view.setUint8(h.at + 1, next);
          else if (h.width === 2) view.setUint16(h.at + 1, next);
          else view.setUint32(h.at + 1, next);
        }
      }
    }
  }
  return b;
}

/** Nested arrays or maps, `depth` deep, alone or as a create's config option. */
function deepFrame(depth: number, inConfig: boolean, asMap: boolean, seq: number): Uint8Array {
  const w = new Writer();
  const str = (text: string) => {
    const b = utf8.encode(text);
    w.u8(0xa0 | b.length);
    w.bytes(b);
  };
  if (inConfig) {
    // {type: "create", seq, model: "fuzz-a", config: {inputs: 3, outputs: 2, drift|anomaly: <deep>}}
    w.u8(0x84), str("type"), str("create"), str("seq"), writeInt(w, BigInt(seq), false), str("model"), str("fuzz-a"), str("config");
    w.u8(0x83), str("inputs"), w.u8(3), str("outputs"), w.u8(2), str(asMap ? "anomaly" : "drift");
  }
  const level = asMap ? Uint8Array.of(0x81, 0xa1, 0x6b) : Uint8Array.of(0x91); // {"k": …} or [ … ]
  for (let i = 0; i < depth; i++) w.bytes(level);
  w.u8(0xc0);
  return w.done();
}

const MAP_PREFIXES = [
  Uint8Array.of(0x83, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa5, 0x74, 0x72, 0x61, 0x69, 0x6e), // {type: "train", …
  Uint8Array.of(0x82, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa6, 0x63, 0x72, 0x65, 0x61, 0x74, 0x65), // {type: "create", …
  Uint8Array.of(0xde, 0x00, 0x04, 0xa3, 0x73, 0x65, 0x71, 0x01), // map 16 {seq: 1, …
];

export interface FuzzFrame {
  /** Index in its stream. */
  index: number;
  /** The seq of a request that carries its own (stream · 10⁹ + index): replies name it. */
  seq: number;
  kind: FrameKind;
  /** Binary frame, or a string for a text frame. */
  data: Uint8Array | string;
  /** Sent as this many WebSocket fragments (binary only). */
  fragments: number;
  /** Text frame of these bytes (not UTF-8). */
  text?: boolean;
}

function render(spec: FrameSpec, index: number, seq: number, options: FrameOptions): Omit<FuzzFrame, "seq"> {
  const limit = options.maxPayload - 64;
  const fit = (b: Uint8Array) => (b.length > limit ? b.subarray(0, limit) : b);
  switch (spec.kind) {
    case "valid":
    case "structured":
      return { index, kind: spec.kind, data: fit(encodeWith(spec.encoder, spec.value, seq, spec.variant)), fragments: spec.fragments };
    case "mutated":
      return { index, kind: "mutated", data: fit(mutate(encodeWith(spec.encoder, spec.value, seq, spec.variant), spec.mutations)), fragments: spec.fragments };
    case "random": {
      const body = randomBytes(spec.length, spec.seed);
      return { index, kind: "random", data: spec.prefix < MAP_PREFIXES.length ? concat(MAP_PREFIXES[spec.prefix]!, body) : body, fragments: 1 };
    }
    case "deep":
      return { index, kind: "deep", data: fit(deepFrame(spec.depth, spec.inConfig, spec.asMap, seq)), fragments: 1 };
    case "text": {
      const text = Buffer.byteLength(spec.text) > limit ? spec.text.slice(0, limit >> 2) : spec.text;
      return { index, kind: "text", data: text, fragments: 1 };
    }
    case "oversize": {
      const data = randomBytes(options.maxPayload + spec.extra, spec.seed);
      data.set(MAP_PREFIXES[0]!);
      return { index, kind: "oversize", data, fragments: 1 + (spec.seed % 2) };
    }
    case "badUtf8":
      return { index, kind: "badUtf8", data: spec.bytes, fragments: 1, text: true };
  }
}

/** Frames per fast-check sample call. */
const CHUNK = 500;

/** Most parameters (inputs × outputs) of a model a fuzz frame may create. */
export const MAX_FUZZ_MODEL_PARAMS = 4096;
const CREATE_KEYS = ["create", "inputs", "outputs"].map((key) => Buffer.from(key));

/**
 * Whether a frame would create a model larger than MAX_FUZZ_MODEL_PARAMS (a mutation can turn
 * `inputs: 8` into `inputs: 25600`). Such a create is valid, and its memory stays with the
 * engine's WebAssembly memory, which never shrinks: tens of MiB that would blur the leak check.
 */
function createsBigModel(bytes: Buffer): boolean {
  if (!CREATE_KEYS.every((key) => bytes.includes(key))) return false;
  let value: unknown;
  try {
    value = decode(bytes);
  } catch {
    return false;
  }
  const config = typeof value === "object" && value !== null ? (value as Record<string, unknown>).config : undefined;
  if (typeof config !== "object" || config === null) return false;
  const size = (v: unknown) => (typeof v === "bigint" ? Number(v) : typeof v === "number" ? v : 1);
  const { inputs, outputs } = config as Record<string, unknown>;
  return size(inputs) * size(outputs) > MAX_FUZZ_MODEL_PARAMS;
}

/**
 * An endless, deterministic stream of fuzz frames: the same seed and stream give the
 * same frames. Frames that contain any of `forbidden` (the names of a test's own models)
 * are left out, so nothing in the stream can address them; so are those that would create
 * a model of more than MAX_FUZZ_MODEL_PARAMS parameters.
 */
export function* fuzzFrames(seed: number, stream: number, options: FrameOptions & { forbidden?: readonly string[] }): Generator<FuzzFrame> {
  const arb = specArb(options);
  const forbidden = (options.forbidden ?? []).map((name) => Buffer.from(name));
  let index = 0;
  for (let chunk = 0; ; chunk++) {
    const chunkSeed = (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(stream + 1, 0x85ebca6b) + Math.imul(chunk + 1, 0xc2b2ae35)) | 0;
    for (const spec of fc.sample(arb, { seed: chunkSeed, numRuns: CHUNK })) {
      const seq = stream * 1e9 + index;
      const frame: FuzzFrame = { ...render(spec, index, seq, options), seq };
      index++;
      const bytes = typeof frame.data === "string" ? Buffer.from(frame.data) : Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
      if (forbidden.some((name) => bytes.includes(name)) || (typeof frame.data !== "string" && createsBigModel(bytes))) continue;
      yield frame;
    }
  }
}

export const hex = (data: Uint8Array | string, max = 512): string => {
  const b = typeof data === "string" ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const s = b.subarray(0, max).toString("hex").replace(/(..)/g, "$1 ").trim();
  return b.length > max ? `${s} … (${b.length} bytes)` : s;
};

// ---- the runner ----------------------------------------------------------------

export type Reply = Record<string, unknown>;

export interface RunOptions extends FrameOptions {
  url: string;
  seed: number;
  /** Frames to send in all (split evenly over the connections). */
  frames: number;
  /** Stop sending after this many seconds, whatever `frames` says. */
  seconds?: number;
  connections: number;
  /** Most frames a connection has awaiting their reply. */
  window: number;
  /** Names no frame may contain. */
  forbidden: readonly string[];
  /** Every this many frames sent (in all), onCheckpoint runs (sending goes on meanwhile). */
  checkpointEvery?: number;
  onCheckpoint?: (sent: number) => Promise<void> | void;
  /** A connection with frames outstanding and no reply for this long has stalled. Default 15 s. */
  stallMs?: number;
}

export interface Incident {
  what: string;
  /** The reply or close that showed it. */
  detail: string;
  /** The frames that may have caused it (hex), the likeliest first. */
  frames: string[];
}

export interface RunReport {
  sent: number;
  bytes: number;
  byKind: Record<string, number>;
  replies: number;
  pushes: number;
  replyTypes: Record<string, number>;
  errors: Record<string, number>;
  /** Frames of the closing kinds sent, and what they got. */
  closing: { sent: number; closed: number; answered: number };
  reconnects: number;
  /** E_INTERNAL replies, stalls, unexpected closes, surplus replies, undecodable replies. */
  incidents: Incident[];
  ms: number;
}

const bump = (counts: Record<string, number>, key: string, by = 1) => void (counts[key] = (counts[key] ?? 0) + by);

/** One fuzzing connection: sends its stream's frames within the window, reconnecting when the server closes it. */
class FuzzConnection {
  private ws!: WebSocket;
  private outstanding = 0;
  private lastReply = performance.now();
  private waiting: (() => void) | undefined;
  private closedBy: { code: number; reason: string } | undefined;
  /** Recent frames (for incident reports), by seq and in send order. */
  private readonly recent: FuzzFrame[] = [];
  private readonly bySeq = new Map<number, FuzzFrame>();

  constructor(private readonly url: string, private readonly report: RunReport, private readonly window: number, private readonly stallMs: number) {}

  async connect(): Promise<void> {
    const ws = new WebSocket(this.url, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    ws.on("error", () => {}); // a drop surfaces as "close"
    this.ws = ws;
    this.closedBy = undefined;
    this.outstanding = 0;
    ws.on("message", (data: Buffer) => this.onReply(data));
    ws.on("close", (code: number, reason: Buffer) => {
      this.closedBy = { code, reason: reason.toString() };
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  private onReply(data: Buffer): void {
    let reply: Reply;
    try {
      reply = decode(data) as Reply;
    } catch (error) {
      this.report.incidents.push({ what: "undecodable reply", detail: `${String(error)}: ${hex(data)}`, frames: this.lastFrames(3) });
      return;
    }
    const type = String(reply.type);
    if (type === "update" || type === "drift" || (type === "deleted" && reply.seq === undefined)) {
      this.report.pushes++;
      return;
    }
    this.report.replies++;
    this.lastReply = performance.now();
    bump(this.report.replyTypes, type);
    if (type === "error") {
      const code = String(reply.code);
      bump(this.report.errors, code);
      if (code === "E_INTERNAL") {
        const bySeq = typeof reply.seq === "number" ? this.bySeq.get(reply.seq) : undefined;
        this.report.incidents.push({ what: "E_INTERNAL", detail: JSON.stringify(reply), frames: bySeq ? [hex(bySeq.data, 4096)] : this.lastFrames(8) });
      }
    }
    if (--this.outstanding < 0) {
      this.outstanding = 0;
      this.report.incidents.push({ what: "a reply no frame asked for", detail: JSON.stringify(reply).slice(0, 300), frames: this.lastFrames(3) });
    }
    if (this.outstanding < this.window) this.wake();
  }

  private lastFrames(n: number): string[] {
    return this.recent.slice(-n).reverse().map((f) => `${f.kind}${f.text ? " (text)" : ""}: ${hex(f.data)}`);
  }

  private remember(frame: FuzzFrame): void {
    this.recent.push(frame);
    this.bySeq.set(frame.seq, frame);
    if (this.recent.length > 2 * this.window + 16) this.bySeq.delete(this.recent.shift()!.seq);
  }

  /** Waits until `done()` or the connection closes; a stall (frames outstanding, no reply for stallMs) is an incident. */
  private async until(done: () => boolean): Promise<"done" | "closed" | "stalled"> {
    this.lastReply = performance.now();
    for (;;) {
      if (done()) return "done";
      if (this.closedBy) return "closed";
      if (performance.now() - this.lastReply > this.stallMs) return "stalled";
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.wake(), 250);
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private send(frame: FuzzFrame): void {
    const data = frame.data;
    this.remember(frame);
    this.report.sent++;
    this.report.bytes += typeof data === "string" ? Buffer.byteLength(data) : data.byteLength;
    bump(this.report.byKind, frame.kind);
    if (typeof data === "string") return this.ws.send(data);
    if (frame.text) return this.ws.send(data, { binary: false });
    if (frame.fragments <= 1 || data.length < 2) return this.ws.send(data, { binary: true });
    const cuts = Array.from({ length: frame.fragments - 1 }, (_, k) => Math.floor(((k + 1) * data.length) / frame.fragments));
    let from = 0;
    for (const [k, cut] of [...cuts, data.length].entries()) {
      this.ws.send(data.subarray(from, cut), { binary: true, fin: k === cuts.length });
      from = cut;
    }
  }

  private async lost(what: string): Promise<void> {
    const detail = this.closedBy ? `closed ${this.closedBy.code} ${JSON.stringify(this.closedBy.reason)} with ${this.outstanding} frame(s) unanswered` : `${this.outstanding} frame(s) unanswered for ${this.stallMs} ms`;
    this.report.incidents.push({ what, detail, frames: this.lastFrames(Math.min(8, Math.max(1, this.outstanding))) });
    this.ws.terminate();
    await this.reconnect();
  }

  /** The server could not be reached again (it crashed?): this connection stops. */
  dead = false;

  private async reconnect(): Promise<void> {
    this.report.reconnects++;
    try {
      await this.connect();
    } catch (error) {
      this.dead = true;
      this.report.incidents.push({ what: "server unreachable", detail: `reconnecting: ${String(error)}`, frames: this.lastFrames(8) });
    }
  }

  async run(frames: Iterator<FuzzFrame>, quota: number, deadline: number, sentSoFar: { n: number; onSent: () => void }): Promise<void> {
    for (let k = 0; k < quota && performance.now() < deadline && !this.dead; k++) {
      const frame = frames.next().value as FuzzFrame;
      if (CLOSING_KINDS.includes(frame.kind)) {
        // alone on the connection: nothing else can be lost when it drops
        const idle = await this.until(() => this.outstanding === 0);
        if (idle !== "done") await this.lost(idle === "closed" ? "unexpected close" : "stall");
        if (this.dead) break;
        this.report.closing.sent++;
        this.send(frame);
        this.outstanding = 1;
        const end = await this.until(() => this.outstanding === 0);
        if (end === "done") this.report.closing.answered++;
        else if (end === "closed") {
          this.report.closing.closed++;
          await this.reconnect();
        } else await this.lost("stall after a closing frame");
      } else {
        if (this.outstanding >= this.window) {
          const room = await this.until(() => this.outstanding < this.window);
          if (room !== "done") await this.lost(room === "closed" ? "unexpected close" : "stall");
        }
        if (this.closedBy) await this.lost("unexpected close");
        if (this.dead) break;
        this.send(frame);
        this.outstanding++;
      }
      sentSoFar.n++;
      sentSoFar.onSent();
    }
    if (this.dead) return;
    const end = await this.until(() => this.outstanding === 0);
    if (end !== "done") await this.lost(end === "closed" ? "unexpected close" : "stall at the end");
  }

  close(): void {
    if (!this.dead) this.ws.close();
  }
}

/** Sends fuzz frames to a server and reports what came back. */
export async function runFuzz(options: RunOptions): Promise<RunReport> {
  const report: RunReport = {
    sent: 0, bytes: 0, byKind: {}, replies: 0, pushes: 0, replyTypes: {}, errors: {},
    closing: { sent: 0, closed: 0, answered: 0 }, reconnects: 0, incidents: [], ms: 0,
  };
  const started = performance.now();
  const deadline = options.seconds === undefined ? Infinity : started + options.seconds * 1000;
  const connections = Array.from({ length: options.connections }, () => new FuzzConnection(options.url, report, options.window, options.stallMs ?? 15_000));
  await Promise.all(connections.map((c) => c.connect()));
  // checkpoints run beside the senders, one at a time, when the count crosses each multiple
  let checkpoints = Promise.resolve();
  let nextCheckpoint = options.checkpointEvery ?? Infinity;
  const counter = {
    n: 0,
    onSent: () => {
      if (counter.n < nextCheckpoint || !options.onCheckpoint) return;
      const at = counter.n;
      nextCheckpoint += options.checkpointEvery!;
      checkpoints = checkpoints.then(() => options.onCheckpoint!(at));
    },
  };
  const quota = (i: number) => Math.floor(options.frames / options.connections) + (i < options.frames % options.connections ? 1 : 0);
  await Promise.all(connections.map((c, i) => c.run(fuzzFrames(options.seed, i, options), quota(i), deadline, counter)));
  await checkpoints;
  for (const c of connections) c.close();
  report.ms = performance.now() - started;
  return report;
}

// ---- process probes -----------------------------------------------------------

/** Resident set size of a process, in MiB (Linux). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!kb) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb[1]) / 1024;
}

/** GET /healthz of the server behind a ws:// URL: status code and body. */
export async function healthz(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url.replace(/^ws/, "http").replace(/\/$/, "")}/healthz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Compact "CODE n, CODE n" of a tally, largest first. */
export function tally(counts: Record<string, number>): string {
  return Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ");
}

// ---- models the fuzz must not touch -------------------------------------------

/** Two models of different shapes and options that no fuzz frame names (their names are `forbidden`). */
export const SENTINELS = [
  { name: "sentinel-a", config: { inputs: 4, outputs: 3, optimizer: { type: "adam", lr: 0.01 }, seed: 11 } },
  { name: "sentinel-b", config: { inputs: 7, outputs: 1, loss: "huber", optimizer: { type: "momentum", lr: 0.05, nesterov: true }, standardize: false, seed: 5 } },
] as const;
export const SENTINEL_NAMES: readonly string[] = SENTINELS.map((s) => s.name);

/** A model as seen from outside: its params reply and its description (open). */
export interface ModelSnapshot { W: Uint8Array; b: Uint8Array; importance: unknown; version: unknown; step: unknown; info: Reply }

export async function snapshotModel(client: WireClient, name: string, seq: () => number): Promise<ModelSnapshot> {
  const params = await client.call({ type: "params", seq: seq(), model: name });
  if (params.type !== "params") throw new Error(`params of ${name}: ${JSON.stringify(params)}`);
  const info = await client.call({ type: "open", seq: seq(), model: name });
  if (info.type !== "model") throw new Error(`open ${name}: ${JSON.stringify(info)}`);
  delete info.seq;
  return { W: params.W as Uint8Array, b: params.b as Uint8Array, importance: params.importance, version: params.version, step: params.step, info };
}

/** What differs between two snapshots of a model ([] when they are the same, byte for byte). */
export function snapshotDiff(after: ModelSnapshot, before: ModelSnapshot): string[] {
  const same = (a: unknown, b: unknown) => (a instanceof Uint8Array && b instanceof Uint8Array ? Buffer.compare(a, b) === 0 : isDeepStrictEqual(a, b));
  const diff: string[] = [];
  if (!same(after.W, before.W)) diff.push("W");
  if (!same(after.b, before.b)) diff.push("b");
  if (!same(after.importance, before.importance)) diff.push("importance");
  if (after.version !== before.version || after.step !== before.step) diff.push(`version/step ${String(before.version)}/${String(before.step)} → ${String(after.version)}/${String(after.step)}`);
  if (!same(after.info, before.info)) diff.push("description (open)");
  return diff;
}

/** Creates the sentinels, trains each a few steps (seeded data) and returns their snapshots. */
export async function createSentinels(client: WireClient, seed: number, seq: () => number): Promise<Map<string, ModelSnapshot>> {
  const next = mulberry32(seed);
  const batch = (n: number) => Float32Array.from({ length: n }, () => next() * 2 - 1);
  const out = new Map<string, ModelSnapshot>();
  for (const { name, config } of SENTINELS) {
    const created = await client.call({ type: "create", seq: seq(), model: name, config });
    if (created.type !== "model" || created.created !== true) throw new Error(`create ${name}: ${JSON.stringify(created)}`);
    for (let step = 1; step <= 5; step++) {
      const rows = 3 + step;
      const ack = await client.call({ type: "train", seq: seq(), model: name, x: batch(rows * config.inputs), y: batch(rows * config.outputs) });
      if (ack.type !== "ack" || ack.step !== step) throw new Error(`train ${name}: ${JSON.stringify(ack)}`);
    }
    out.set(name, await snapshotModel(client, name, seq));
  }
  return out;
}

/** Deletes every model but `keep` (what the fuzz created), so the server's model count stays small. */
export async function sweepModels(client: WireClient, keep: readonly string[], seq: () => number): Promise<{ deleted: number; problems: string[] }> {
  const problems: string[] = [];
  let deleted = 0;
  const list = await client.call({ type: "list", seq: seq() });
  if (list.type !== "models") return { deleted, problems: [`list: ${JSON.stringify(list)}`] };
  for (const { model } of list.models as { model: string }[]) {
    if (keep.includes(model)) continue;
    const gone = await client.call({ type: "delete", seq: seq(), model });
    if (gone.type === "deleted") deleted++;
    // deleted meanwhile by a fuzz frame: fine
    else if (gone.code !== "E_NOT_FOUND") problems.push(`delete ${model}: ${JSON.stringify(gone).slice(0, 300)}`);
  }
  client.log.length = 0;
  return { deleted, problems };
}

/** The server answers hello and /healthz (a problem's description, or undefined). */
export async function serverAnswers(client: WireClient, url: string, seq: () => number): Promise<string | undefined> {
  const welcome = await client.call({ type: "hello", seq: seq(), protocol: 1 });
  if (welcome.type !== "welcome") return `hello got ${JSON.stringify(welcome)}`;
  const health = await healthz(url);
  if (health.status !== 200 || health.body.status !== "ok") return `/healthz ${health.status} ${JSON.stringify(health.body)}`;
  return undefined;
}

/** What the watch of a fuzzed server found: problems, RSS samples, fuzz models swept. */
export interface ServerWatch {
  problems: string[];
  rss: { sent: number; mib: number }[];
  swept: number;
  /** Run between frames: the server is alive and answering; its RSS; the fuzz's models swept away. */
  check(sent: number): Promise<void>;
}

/** Watches the server process `pid` through `client` (a connection of its own). `client()` is read at each check: a caller may reopen it. */
export function watchServer(pid: number, url: string, client: () => WireClient, alive: () => boolean, exitOf: () => string, seq: () => number, sampled?: (sent: number, mib: number) => void): ServerWatch {
  const watch: ServerWatch = {
    problems: [],
    rss: [{ sent: 0, mib: rssMiB(pid) }],
    swept: 0,
    async check(sent: number) {
      try {
        if (!alive()) return void watch.problems.push(`at ${sent}: the server exited (${exitOf()})`);
        const problem = await serverAnswers(client(), url, seq);
        if (problem) watch.problems.push(`at ${sent}: ${problem}`);
        const sweep = await sweepModels(client(), SENTINEL_NAMES, seq);
        watch.swept += sweep.deleted;
        watch.problems.push(...sweep.problems.map((p) => `at ${sent}: ${p}`));
        const mib = rssMiB(pid);
        watch.rss.push({ sent, mib });
        sampled?.(sent, mib);
      } catch (error) {
        watch.problems.push(`at ${sent}: ${String(error)}`);
      }
    },
  };
  return watch;
}
