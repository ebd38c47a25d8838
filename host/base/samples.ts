// Sample arrays as gradline takes them (x, y, predict's x): which kinds are accepted,
// how they are checked, and how they become the float32 the kernels and the wire use.
// Pure, with no engine or Node import, so that the browser client validates exactly
// as the library does.
import { errors, quote } from "./errors.js";

/** Typed arrays of numbers (BigInt64Array and BigUint64Array hold bigints: not these). */
export type NumericArray =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array;

/** Row-major values, flat, or as rows of equal length. */
export type Samples = NumericArray | readonly number[] | readonly (readonly number[] | NumericArray)[];

/** A sample argument, flat and checked: every entry is a number. */
export interface FlatSamples {
  values: NumericArray | readonly number[];
  /** The row length, when given as rows (else undefined: the model's width applies). */
  width: number | undefined;
}

const samplesTypes = "a Float32Array, Float64Array or other typed array of numbers, an array of numbers, or an array of rows";

function isNumericArray(value: unknown): value is NumericArray {
  return ArrayBuffer.isView(value) && !(value instanceof DataView) && !(value instanceof BigInt64Array) && !(value instanceof BigUint64Array);
}

/** What a wrong argument is, for the message that refuses it. */
function kindOf(value: unknown): string {
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  return quote(value);
}

/**
 * Checks a sample argument and returns its values flat. `width` is the model's row
 * length where known (rows must then have it); rows are copied into one Float32Array,
 * flat arrays are returned as they are.
 */
export function flatSamples(value: unknown, name: "x" | "y", width: number | undefined): FlatSamples {
  if (isNumericArray(value)) return { values: value, width: undefined };
  if (!Array.isArray(value)) throw errors.shape(`${name} must be ${samplesTypes} (got ${kindOf(value)})`, { got: kindOf(value) });
  if (!value.some((row) => Array.isArray(row) || isNumericArray(row))) {
    for (let i = 0; i < value.length; i++) if (typeof value[i] !== "number") throw errors.nonFinite(name, i, width, value[i]);
    return { values: value as readonly number[], width: undefined };
  }
  const rowWidth = width ?? rowLength(value[0], name, 0);
  const flat = new Float32Array(value.length * rowWidth);
  for (let r = 0; r < value.length; r++) {
    const row: unknown = value[r];
    if (rowLength(row, name, r) !== rowWidth) {
      throw errors.shape(`${name}[${r}] has ${(row as ArrayLike<unknown>).length} values; every row of ${name} must have ${rowWidth}`, { row: r, length: (row as ArrayLike<unknown>).length, width: rowWidth });
    }
    for (let c = 0; c < rowWidth; c++) {
      const v = (row as ArrayLike<unknown>)[c];
      if (typeof v !== "number") throw errors.nonFinite(name, r * rowWidth + c, rowWidth, v);
      flat[r * rowWidth + c] = v;
    }
  }
  return { values: flat, width: rowWidth };
}

function rowLength(row: unknown, name: string, r: number): number {
  if (Array.isArray(row) || isNumericArray(row)) return row.length;
  throw errors.shape(`${name}[${r}] is ${kindOf(row)}, not a row: ${name} must be all numbers or all rows`, { row: r });
}

/** Rows in x (B × inputs values), checked against the model's shape and the batch limit. */
export function rowsOf(length: number, inputs: number, maxBatch: number): number {
  if (length === 0 || length % inputs !== 0) {
    throw errors.shape(`x has ${length} values; it must hold B rows of ${inputs} inputs (B ≥ 1)`, { length, inputs });
  }
  const batch = length / inputs;
  if (batch > maxBatch) throw errors.shape(`batch of ${batch} rows exceeds the engine's maxBatch of ${maxBatch}`, { batch, maxBatch });
  return batch;
}

/** Rows in a training batch: x whole rows, y as many rows of outputs. */
export function batchOf(xLength: number, yLength: number, inputs: number, outputs: number, maxBatch: number): number {
  const batch = rowsOf(xLength, inputs, maxBatch);
  if (yLength !== batch * outputs) {
    throw errors.shape(`y has ${yLength} values; x holds ${batch} rows, so y must hold ${batch} × ${outputs} = ${batch * outputs}`, { length: yLength, expected: batch * outputs });
  }
  return batch;
}

/**
 * The values as float32, ready for the wire: a Float32Array as it is, anything else
 * converted. Each converted value must be finite as float32 (1e39 is not): the first
 * that is not is refused as the kernels would refuse it.
 */
export function float32Of(flat: FlatSamples, name: "x" | "y"): Float32Array {
  const { values, width } = flat;
  const out = values instanceof Float32Array ? values : Float32Array.from(values);
  for (let i = 0; i < out.length; i++) if (!Number.isFinite(out[i]!)) throw errors.nonFinite(name, i, width, values[i]!);
  return out;
}
