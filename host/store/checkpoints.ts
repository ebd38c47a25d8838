// Checkpoints in the data folder: per model `<name>.ckpt` and the generation before
// it, `<name>.ckpt.prev`. A file holds the model's snapshot, the log position it
// covers (lsn), the recently applied (client, seq) pairs and a SHA-256 of all that.
// Written atomically: a temporary file, fsync, the current file renamed to .prev,
// the temporary renamed to current, fsync of the folder. A crash leaves whole files
// only; a file that fails its checks is reported and the generation before it used.
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { copyFile, mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Packr, Unpackr } from "msgpackr";
import { quote, messageOf } from "../base/errors.js";
import { MODEL_NAME } from "../base/names.js";
import { syncFolder } from "./files.js";

export const CHECKPOINT_FORMAT = "gradline.checkpoint";
/** 2 added lsn, floor and applied; version 1 files are still read. */
export const CHECKPOINT_VERSION = 2;
const CURRENT = ".ckpt";
const PREVIOUS = ".ckpt.prev";

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export interface Checkpoint {
  model: string;
  /** The engine snapshot (Model.snapshot()). */
  snapshot: Uint8Array;
  /** Loss of the model's last step, or null. */
  loss: number | null;
  /** The last log record the snapshot holds. */
  lsn: number;
  /** The log must be kept from here on for this model to be rebuilt without this file (the previous generation's lsn). */
  floor: number;
  /** Recently applied trains by (client, seq), encoded by AppliedTrains. */
  applied: Uint8Array | null;
}

/** A model's readable checkpoint files, newest generation first. */
export interface StoredModel {
  name: string;
  generations: { file: string; current: boolean; checkpoint: Checkpoint }[];
}

export interface Rejected {
  file: string;
  reason: string;
}

const sha256 = (bytes: Uint8Array): Uint8Array => createHash("sha256").update(bytes).digest();

export class CheckpointStore {
  constructor(readonly folder: string) {}

  /** Creates the folder if needed. */
  async init(): Promise<void> {
    await mkdir(this.folder, { recursive: true });
  }

  /**
   * The readable checkpoints of every model in the folder, newest generation first,
   * and a reason for each file that could not be read.
   */
  async loadAll(): Promise<{ models: StoredModel[]; rejected: Rejected[] }> {
    const models: StoredModel[] = [];
    const rejected: Rejected[] = [];
    const files = await readdir(this.folder);
    const names = new Set<string>();
    for (const file of files) {
      // a temporary file is a write that never finished: the files beside it are the good ones
      if (file.endsWith(".tmp")) await rm(join(this.folder, file), { force: true }).catch(() => {});
      else if (file.endsWith(CURRENT)) names.add(file.slice(0, -CURRENT.length));
      else if (file.endsWith(PREVIOUS)) names.add(file.slice(0, -PREVIOUS.length));
    }
    for (const name of [...names].sort()) {
      if (!MODEL_NAME.test(name)) {
        // no request could have made it: a file put there by hand
        rejected.push({ file: files.find((f) => f === name + CURRENT || f === name + PREVIOUS)!, reason: "not a valid model name (docs/PROTOCOL.md)" });
        continue;
      }
      const generations: StoredModel["generations"] = [];
      for (const suffix of [CURRENT, PREVIOUS]) {
        const file = name + suffix;
        if (!files.includes(file)) {
          if (suffix === CURRENT) rejected.push({ file, reason: "missing (a crash between the renames of a checkpoint; the previous generation is there)" });
          continue;
        }
        try {
          generations.push({ file, current: suffix === CURRENT, checkpoint: decodeCheckpoint(await readFile(join(this.folder, file)), name) });
        } catch (error) {
          rejected.push({ file, reason: messageOf(error) });
        }
      }
      models.push({ name, generations });
    }
    return { models, rejected };
  }

  /** Copies a file of the folder to `<file>.damaged` (or .damaged-2, … beside an older copy), synced, and returns the copy's name. */
  async keepCopy(file: string): Promise<string> {
    for (let n = 1; ; n++) {
      const name = `${file}.damaged${n === 1 ? "" : `-${n}`}`;
      try {
        await copyFile(join(this.folder, file), join(this.folder, name), constants.COPYFILE_EXCL);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EEXIST") continue;
        throw error;
      }
      // the copy's bytes on disk before its name: a round may delete the original next
      const copy = await open(join(this.folder, name), "r+");
      try {
        await copy.sync();
      } finally {
        await copy.close();
      }
      await syncFolder(this.folder);
      return name;
    }
  }

  /**
   * Renames a current checkpoint that could not be used to `.ckpt.damaged`, so the
   * next save does not push it over the good previous generation. Best effort.
   */
  async setAside(model: string): Promise<void> {
    const path = this.pathOf(model);
    await rename(path, `${path}.damaged`).then(() => syncFolder(this.folder), () => {});
  }

  async save(checkpoint: Checkpoint): Promise<void> {
    const body = packr.pack({
      model: checkpoint.model, loss: checkpoint.loss, lsn: checkpoint.lsn, floor: checkpoint.floor,
      snapshot: checkpoint.snapshot, applied: checkpoint.applied,
    });
    const bytes = packr.pack({ format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, body, sha256: sha256(body) });
    const path = this.pathOf(checkpoint.model);
    const temporary = `${path}.tmp`;
    const file = await open(temporary, "w");
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(path, path.slice(0, -CURRENT.length) + PREVIOUS).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
    });
    await rename(temporary, path);
    await syncFolder(this.folder);
  }

  /** Removes both generations. */
  async remove(model: string): Promise<void> {
    const path = this.pathOf(model);
    await rm(path, { force: true });
    await rm(path.slice(0, -CURRENT.length) + PREVIOUS, { force: true });
    await syncFolder(this.folder);
  }

  private pathOf(model: string): string {
    // names are checked by the protocol; this keeps any other caller inside the folder too
    if (!MODEL_NAME.test(model)) throw new Error(`invalid model name ${JSON.stringify(model)}`);
    return join(this.folder, model + CURRENT);
  }
}

function decodeCheckpoint(bytes: Uint8Array, name: string): Checkpoint {
  let value: Record<string, unknown>;
  try {
    value = unpackr.unpack(bytes) as Record<string, unknown>;
  } catch {
    throw new Error("not readable (truncated or not a checkpoint)");
  }
  if (typeof value !== "object" || value === null || value.format !== CHECKPOINT_FORMAT) throw new Error("not a gradline checkpoint");
  if (value.version === 1) return decodeVersion1(value, name);
  if (value.version !== CHECKPOINT_VERSION) throw new Error(`checkpoint version ${quote(value.version)} is not supported (this build reads 1 and ${CHECKPOINT_VERSION})`);
  const { body, sha256: digest } = value;
  if (!(body instanceof Uint8Array) || !(digest instanceof Uint8Array)) throw new Error("body or checksum missing");
  if (!Buffer.from(sha256(body)).equals(Buffer.from(digest))) throw new Error("checksum mismatch: the file is corrupt");
  const fields = unpackr.unpack(body) as Record<string, unknown>;
  if (fields.model !== name) throw new Error(`holds model ${JSON.stringify(fields.model)}, not ${JSON.stringify(name)}`);
  const { snapshot, applied, lsn, floor } = fields;
  if (!(snapshot instanceof Uint8Array)) throw new Error("snapshot missing");
  if (!Number.isSafeInteger(lsn) || !Number.isSafeInteger(floor)) throw new Error("lsn or floor missing");
  return {
    model: name, snapshot, loss: typeof fields.loss === "number" ? fields.loss : null,
    lsn: lsn as number, floor: floor as number, applied: applied instanceof Uint8Array ? applied : null,
  };
}

/** Version 1 (written at shutdown only, before the log): its model holds everything, lsn 0. */
function decodeVersion1(value: Record<string, unknown>, name: string): Checkpoint {
  if (value.model !== name) throw new Error(`holds model ${JSON.stringify(value.model)}, not ${JSON.stringify(name)}`);
  const { snapshot, sha256: digest } = value;
  if (!(snapshot instanceof Uint8Array) || !(digest instanceof Uint8Array)) throw new Error("snapshot or checksum missing");
  if (!Buffer.from(sha256(snapshot)).equals(Buffer.from(digest))) throw new Error("checksum mismatch: the file is corrupt");
  return { model: name, snapshot, loss: typeof value.loss === "number" ? value.loss : null, lsn: 0, floor: 0, applied: null };
}
