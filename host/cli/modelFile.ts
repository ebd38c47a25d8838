// A model as a file: what `gradline export` writes, `gradline train --save` writes and
// `gradline import` reads. The snapshot bytes (docs/API.md, model.snapshot()) are the
// model itself, carried unchanged so an import restores it bit for bit; the name, the
// resolved config and W, b beside them are for people and other tools to read.
// JSON (snapshot as base64, W and b as numbers) or MessagePack (snapshot, W, b as bin).
import { Packr } from "msgpackr";
import type { ResolvedModelOptions } from "../engine/options.js";
import { messageOf } from "../base/errors.js";

export const MODEL_FILE_FORMAT = "gradline-model";
export type ModelFileFormat = "json" | "msgpack";

export interface ModelFile {
  model: string;
  config: ResolvedModelOptions;
  step: number;
  version: number;
  loss: number | null;
  W: Float32Array;
  b: Float32Array;
  snapshot: Uint8Array;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** float32 values as little-endian bytes (the wire's bin layout), whatever the machine's order. */
function bytesOf(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

export function encodeModelFile(file: ModelFile, format: ModelFileFormat): Uint8Array {
  const head = { format: MODEL_FILE_FORMAT, formatVersion: 1, model: file.model, config: file.config, step: file.step, version: file.version, loss: file.loss };
  if (format === "msgpack") return packr.pack({ ...head, W: bytesOf(file.W), b: bytesOf(file.b), snapshot: file.snapshot });
  const json = { ...head, W: Array.from(file.W), b: Array.from(file.b), snapshot: Buffer.from(file.snapshot).toString("base64") };
  return new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`);
}

/** The model's name and snapshot from a file of either format; anything else is refused with a reason. */
export function decodeModelFile(bytes: Uint8Array): { model: string; snapshot: Uint8Array; format: ModelFileFormat } {
  const format: ModelFileFormat = bytes[0] === 0x7b /* "{" */ ? "json" : "msgpack";
  let value: unknown;
  try {
    value = format === "json" ? JSON.parse(new TextDecoder().decode(bytes)) : packr.unpack(bytes);
  } catch (error) {
    throw new Error(`it is neither a JSON nor a MessagePack model file (${messageOf(error)})`);
  }
  const file = value as Record<string, unknown> | null;
  if (typeof file !== "object" || file === null || file.format !== MODEL_FILE_FORMAT) throw new Error(`it is not a model file (no "format": "${MODEL_FILE_FORMAT}")`);
  if (file.formatVersion !== 1) throw new Error(`its formatVersion ${JSON.stringify(file.formatVersion)} is not 1`);
  if (typeof file.model !== "string") throw new Error(`its "model" is not a name`);
  const snapshot = format === "json"
    ? typeof file.snapshot === "string" ? new Uint8Array(Buffer.from(file.snapshot, "base64")) : undefined
    : file.snapshot instanceof Uint8Array ? file.snapshot : undefined;
  if (snapshot === undefined) throw new Error(`its "snapshot" is missing or not ${format === "json" ? "base64 text" : "bin"}`);
  return { model: file.model, snapshot, format };
}
