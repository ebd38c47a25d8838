// Bytes ↔ messages. Only plain MessagePack types go on the wire: maps with string
// keys, strings, integers, float64, booleans, nil, arrays and bin. Float arrays are
// bin holding little-endian float32 (every platform Node and browsers run on is
// little-endian, so a Float32Array's bytes are that already).
import { Packr, Unpackr } from "msgpackr";
import { errors } from "../engine/errors.js";

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
