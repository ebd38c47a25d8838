// Bytes ↔ messages. Only plain MessagePack types go on the wire: maps with string
// keys, strings, integers, float64, booleans, nil, arrays and bin. Float arrays are
// bin holding little-endian float32 (every platform Node and browsers run on is
// little-endian, so a Float32Array's bytes are that already).
import { Packr, Unpackr } from "msgpackr";
import { errors } from "../base/errors.js";

// No records, no bundled strings, no typed-array or Date extensions: what any
// MessagePack library writes and reads.
// Small maps as fixmap, as most encoders write them.
const packr = new Packr({ useRecords: false, bundleStrings: false, moreTypes: false, structuredClone: false, variableMapSize: true });
// msgpackr renames a "__proto__" key, so no decoded map can reach a prototype.
// 64-bit integers decode as numbers while exact, as BigInt beyond 2^53.
// ("auto" is in msgpackr's runtime, not yet in its type declarations.)
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "auto" as "number" });

/** Integer fields a peer reads as integers; msgpackr would write those above 2^32 as float64. */
const INTEGERS = new Set(["seq", "step", "version", "everySteps", "inputs", "outputs", "seed", "rows"]);

/** Encodes a message: Float32Array fields become bin, undefined fields are left out, at any depth. */
export function encode(message: object): Uint8Array {
  return packr.pack(toWire(message));
}

function toWire(value: unknown, key = ""): unknown {
  if (value instanceof Float32Array) return binOf(value);
  if (typeof value === "number") return value > 0xffffffff && Number.isSafeInteger(value) && INTEGERS.has(key) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map((item) => toWire(item));
  if (typeof value !== "object" || value === null || value instanceof Uint8Array) return value;
  const wire: Record<string, unknown> = {};
  for (const [field, item] of Object.entries(value)) if (item !== undefined) wire[field] = toWire(item, field);
  return wire;
}

// ---- the ack, by hand --------------------------------------------------------
// The one reply sent per training step, so written without the generic encoder: the
// same bytes encode() gives for { type: "ack", seq, model, loss, step, version }
// (test/protocol/codec.test.ts holds the two to each other).

const utf8 = new TextEncoder();
const ACK_TYPE = Uint8Array.from([0x86, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa3, 0x61, 0x63, 0x6b]); // fixmap 6, "type": "ack"
const KEY_SEQ = Uint8Array.from([0xa3, 0x73, 0x65, 0x71]);
const KEY_MODEL = Uint8Array.from([0xa5, 0x6d, 0x6f, 0x64, 0x65, 0x6c]);
const KEY_LOSS = Uint8Array.from([0xa4, 0x6c, 0x6f, 0x73, 0x73]);
const KEY_STEP = Uint8Array.from([0xa4, 0x73, 0x74, 0x65, 0x70]);
const KEY_VERSION = Uint8Array.from([0xa7, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e]);

/** A model name as MessagePack str (fixstr or str 8: names are at most 128 bytes of ASCII). */
export function encodeName(name: string): Uint8Array {
  const bytes = utf8.encode(name);
  const head = bytes.length < 32 ? [0xa0 | bytes.length] : [0xd9, bytes.length];
  const out = new Uint8Array(head.length + bytes.length);
  out.set(head);
  out.set(bytes, head.length);
  return out;
}

/** An ack frame; `name` from encodeName(). Integers as the generic encoder writes them, the loss as float64 unless integral. */
export function encodeAck(seq: number, name: Uint8Array, loss: number, step: number, version: number): Uint8Array {
  const out = new Uint8Array(ACK_TYPE.length + KEY_SEQ.length + 9 + KEY_MODEL.length + name.length + KEY_LOSS.length + 9 + KEY_STEP.length + 9 + KEY_VERSION.length + 9);
  const view = new DataView(out.buffer);
  let at = 0;
  const put = (bytes: Uint8Array) => {
    out.set(bytes, at);
    at += bytes.length;
  };
  const int = (v: number) => {
    if (v < 0x80) out[at++] = v;
    else if (v < 0x100) (out[at++] = 0xcc), (out[at++] = v);
    else if (v < 0x10000) (out[at++] = 0xcd), view.setUint16(at, v), (at += 2);
    else if (v <= 0xffffffff) (out[at++] = 0xce), view.setUint32(at, v), (at += 4);
    else (out[at++] = 0xd3), view.setBigInt64(at, BigInt(v)), (at += 8);
  };
  put(ACK_TYPE);
  put(KEY_SEQ);
  int(seq);
  put(KEY_MODEL);
  put(name);
  put(KEY_LOSS);
  if (Number.isInteger(loss) && loss >= 0 && loss <= 0xffffffff) int(loss);
  else (out[at++] = 0xcb), view.setFloat64(at, loss), (at += 8);
  put(KEY_STEP);
  int(step);
  put(KEY_VERSION);
  int(version);
  return out.subarray(0, at);
}

/** Decodes one frame to a value; anything but exactly one well-formed MessagePack value is E_DECODE. */
export function decode(frame: Uint8Array): unknown {
  try {
    return unpackr.unpack(frame);
  } catch (error) {
    throw errors.decode(error);
  }
}

/** The bytes of a float array, as the bin that carries it. */
export function binOf(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/**
 * The float32 values a bin holds: a view of the same bytes when they are 4-byte
 * aligned, else an aligned copy. A view shares the frame's lifetime.
 */
export function floatsOf(bytes: Uint8Array, field: string): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw errors.field(field, `holds ${bytes.byteLength} bytes, not a whole number of float32 values`);
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  return new Float32Array(Uint8Array.prototype.slice.call(bytes).buffer);
}
