// Decoded value → typed request, or an error naming the field. Only types and
// ranges are checked here; shapes against the model are the server's business.
import { errors } from "../base/errors.js";
import {
  MODEL_NAME, PROTOCOL_VERSION, REQUEST_TYPES, type HelloRequest, type Request, type RequestType, type Seq, type SetpointRequestMessage, type WireModelConfig,
} from "./messages.js";

type Fields = Record<string, unknown>;

/** A decoded MessagePack map: a plain object, not an extension's class (Date, msgpackr's 0xc1 marker …). */
const isMap = (v: unknown): v is Fields =>
  typeof v === "object" && v !== null && [Object.prototype, null].includes(Object.getPrototypeOf(v) as object | null);

const own = (map: Fields, key: string): unknown => (Object.hasOwn(map, key) ? map[key] : undefined);

/** The seq of a decoded value if it has a valid one: lets an error answer even a bad request. */
export function seqOf(value: unknown): Seq | undefined {
  if (!isMap(value)) return undefined;
  const seq = own(value, "seq");
  const n = typeof seq === "bigint" && seq <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(seq) : seq;
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * Validates a decoded frame as a request. Its float arrays (train's x and y, predict's
 * x) are views of two reusable buffers: valid until the next call, so use them at once.
 */
export function parseRequest(value: unknown): Request {
  if (!isMap(value)) throw errors.message(`the frame holds ${describe(value)}, not a map`);
  const type = own(value, "type");
  if (typeof type !== "string") throw errors.message(`field "type" is ${describe(type)}`);
  if (!(REQUEST_TYPES as readonly string[]).includes(type)) throw errors.unknownType(type, REQUEST_TYPES);
  const seq = integer(value, "seq", 0, Number.MAX_SAFE_INTEGER);
  const known = type as RequestType;
  switch (known) {
    case "hello": {
      const protocol = integer(value, "protocol", 0, Number.MAX_SAFE_INTEGER);
      if (protocol !== PROTOCOL_VERSION) throw errors.version(protocol, PROTOCOL_VERSION);
      const hello: HelloRequest = { type: "hello", seq, protocol };
      const client = optional(value, "client", text);
      if (client !== undefined) hello.client = client;
      const clientId = optional(value, "clientId", (m, f) => {
        const id = text(m, f);
        if (!CLIENT_ID.test(id)) throw errors.field(f, `must be 1 to 128 printable ASCII characters (got ${JSON.stringify(id.slice(0, 40))}${id.length > 40 ? "…" : ""})`);
        return id;
      });
      if (clientId !== undefined) hello.clientId = clientId;
      return hello;
    }
    case "create":
      return { type: "create", seq, model: modelName(value), config: modelConfig(value) };
    case "train":
      return { type: "train", seq, model: modelName(value), x: floats(value, "x", 0), y: floats(value, "y", 1) };
    case "predict":
      return { type: "predict", seq, model: modelName(value), x: floats(value, "x", 0) };
    case "subscribe":
      return {
        type: "subscribe", seq, model: modelName(value),
        everySteps: optional(value, "everySteps", (v, f) => integer(v, f, 1, 2 ** 32)) ?? 1,
        minIntervalMs: optional(value, "minIntervalMs", (v, f) => integer(v, f, 0, 86_400_000)) ?? 0,
      };
    case "list":
      return { type: "list", seq };
    case "setpoint":
      return setpointRequest(value, seq);
    case "import":
      return { type: "import", seq, model: modelName(value), snapshot: bin(value, "snapshot") };
    case "open":
    case "export":
    case "params":
    case "unsubscribe":
    case "delete":
      return { type: known, seq, model: modelName(value) };
  }
}

/** A client id: stable across its connections, e.g. a UUID or "plc-7". */
const CLIENT_ID = /^[\x21-\x7e]{1,128}$/;

/** Largest maxIterations a client may ask: a solve runs on the server's main thread. */
export const MAX_SETPOINT_ITERATIONS = 100_000;

function setpointRequest(map: Fields, seq: Seq): SetpointRequestMessage {
  const request: SetpointRequestMessage = { type: "setpoint", seq, model: modelName(map), target: numbers(map, "target", false) as number[] };
  for (const field of ["weights", "lower", "upper", "current", "maxMove"] as const) {
    const v = optional(map, field, (m, f) => numbers(m, f, false) as number[]);
    if (v !== undefined) request[field] = v;
  }
  const fixed = optional(map, "fixed", (m, f) => numbers(m, f, true));
  if (fixed !== undefined) request.fixed = fixed;
  for (const field of ["lambda", "tolerance", "reachTolerance"] as const) {
    const v = optional(map, field, (m, f) => number(m, f));
    if (v !== undefined) request[field] = v;
  }
  const iterations = optional(map, "maxIterations", (m, f) => integer(m, f, 1, MAX_SETPOINT_ITERATIONS));
  if (iterations !== undefined) request.maxIterations = iterations;
  const method = optional(map, "method", text);
  if (method !== undefined) request.method = method as SetpointRequestMessage["method"];
  return request;
}

/** An array of numbers (ints or floats; with `nils`, nil entries too). */
function numbers(map: Fields, field: string, nils: boolean): (number | null)[] {
  const value = own(map, field);
  if (value === undefined) throw errors.field(field, "is missing");
  if (!Array.isArray(value)) throw errors.field(field, `must be an array of numbers (got ${describe(value)})`);
  return value.map((v: unknown, i) => {
    if (nils && v === null) return null;
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number") throw errors.field(`${field}[${i}]`, `must be a number${nils ? " or nil" : ""} (got ${describe(v)})`);
    return n;
  });
}

function number(map: Fields, field: string): number {
  const value = own(map, field);
  if (typeof value !== "number") throw errors.field(field, `must be a number (got ${describe(value)})`);
  return value;
}

function integer(map: Fields, field: string, min: number, max: number): number {
  const raw = own(map, field);
  if (raw === undefined) throw errors.field(field, "is missing");
  const value = typeof raw === "bigint" && raw >= BigInt(min) && raw <= BigInt(max) ? Number(raw) : raw;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw errors.field(field, `must be an integer from ${min} to ${max} (got ${describe(raw)})`);
  }
  return value;
}

function text(map: Fields, field: string): string {
  const value = own(map, field);
  if (value === undefined) throw errors.field(field, "is missing");
  if (typeof value !== "string") throw errors.field(field, `must be a string (got ${describe(value)})`);
  return value;
}

function modelName(map: Fields): string {
  const name = text(map, "model");
  if (!MODEL_NAME.test(name)) {
    throw errors.field("model", `must be 1 to 128 of A–Z a–z 0–9 . _ - and start with a letter or digit (got ${JSON.stringify(name.slice(0, 140))})`);
  }
  return name;
}

// Float arrays land in these (unshared, 8-aligned) before the engine copies them into
// its shared memory: a copy into shared memory from a source that is not aligned like
// the destination runs byte by byte, and a frame's bins sit wherever the encoder put them.
const bounce = [new Float32Array(1024), new Float32Array(1024)];

function floats(map: Fields, field: string, slot: 0 | 1): Float32Array {
  const value = own(map, field);
  if (value === undefined) throw errors.field(field, "is missing");
  if (!(value instanceof Uint8Array)) throw errors.field(field, `must be bin holding little-endian float32 values (got ${describe(value)})`);
  if (value.byteLength % 4 !== 0) throw errors.field(field, `holds ${value.byteLength} bytes, not a whole number of float32 values`);
  const length = value.byteLength >>> 2;
  if (bounce[slot]!.length < length) bounce[slot] = new Float32Array(Math.max(length, 2 * bounce[slot]!.length));
  const out = bounce[slot]!.subarray(0, length);
  new Uint8Array(out.buffer, 0, value.byteLength).set(value);
  return out;
}

/** A bin, copied: the frame's bytes are not kept past the request. */
function bin(map: Fields, field: string): Uint8Array {
  const value = own(map, field);
  if (value === undefined) throw errors.field(field, "is missing");
  if (!(value instanceof Uint8Array)) throw errors.field(field, `must be bin (got ${describe(value)})`);
  return value.slice();
}

function optional<T>(map: Fields, field: string, read: (map: Fields, field: string) => T): T | undefined {
  return own(map, field) === undefined || own(map, field) === null ? undefined : read(map, field);
}

/** The model options of a create: a map of plain values the engine validates. */
function modelConfig(map: Fields): WireModelConfig {
  const config = own(map, "config");
  if (!isMap(config)) throw errors.field("config", `must be a map of model options (got ${describe(config)})`);
  if (Object.hasOwn(config, "init")) throw errors.field("config.init", "is not accepted over the wire; models start from their seed");
  return plainMap(config, "config") as unknown as WireModelConfig;
}

/** A copy holding only strings, numbers, booleans and maps of those; integers sent as uint64 become numbers. */
/** Maps nested in a config: the options go 2 deep; this leaves room and keeps recursion shallow. */
const MAX_CONFIG_DEPTH = 8;

function plainMap(map: Fields, path: string, depth = 1): Fields {
  if (depth > MAX_CONFIG_DEPTH) throw errors.field(path.length > 200 ? `${path.slice(0, 200)}…` : path, `is nested more than ${MAX_CONFIG_DEPTH} maps deep`);
  const out: Fields = {};
  for (const [key, value] of Object.entries(map)) {
    const field = `${path}.${key}`;
    if (typeof value === "bigint" && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) out[key] = Number(value);
    // nil means "off" for the features a resolved config reports as nil (drift, anomaly), so a config
    // read from the server can be sent back as it is; anywhere else it is refused
    else if (value === null && path === "config" && (key === "drift" || key === "anomaly")) out[key] = null;
    else if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") out[key] = value;
    else if (isMap(value)) out[key] = plainMap(value, field, depth + 1);
    else throw errors.field(field, `must be a string, number, boolean or map of those (nil only for drift and anomaly) (got ${describe(value)})`);
  }
  return out;
}

/** A short description of a value's wire type, for error messages. */
function describe(value: unknown): string {
  if (value === undefined) return "missing";
  if (value === null) return "nil";
  if (value instanceof Uint8Array) return `bin of ${value.byteLength} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (isMap(value)) return "a map";
  if (value instanceof Date) return "a timestamp";
  if (typeof value === "object") return `a ${value.constructor?.name ?? "non-map"} value`;
  return `${typeof value} ${String(value)}`;
}
