// Checkpoints in the data folder: one file per model, `<name>.ckpt`, holding the
// model's snapshot with a SHA-256 of it. Written atomically: a temporary file,
// fsync, rename over the old one, fsync of the folder; a crash leaves the old file
// or the new one, never a mix. A file that fails its checks is reported and skipped.
import { createHash } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Packr, Unpackr } from "msgpackr";
import { MODEL_NAME } from "../protocol/messages.js";

export const CHECKPOINT_FORMAT = "gradline.checkpoint";
export const CHECKPOINT_VERSION = 1;
const SUFFIX = ".ckpt";

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export interface Checkpoint {
  model: string;
  /** The engine snapshot (Model.snapshot()). */
  snapshot: Uint8Array;
  /** Loss of the model's last step, or null. */
  loss: number | null;
}

const sha256 = (bytes: Uint8Array): Uint8Array => createHash("sha256").update(bytes).digest();

export class CheckpointStore {
  constructor(readonly folder: string) {}

  /** Creates the folder if needed. */
  async init(): Promise<void> {
    await mkdir(this.folder, { recursive: true });
  }

  /** Every readable checkpoint, and a reason for each file that was not. */
  async loadAll(): Promise<{ checkpoints: Checkpoint[]; rejected: { file: string; reason: string }[] }> {
    const checkpoints: Checkpoint[] = [];
    const rejected: { file: string; reason: string }[] = [];
    for (const file of (await readdir(this.folder)).sort()) {
      // a temporary file is a write that never finished: the .ckpt beside it is the good one
      if (file.endsWith(`${SUFFIX}.tmp`)) await rm(join(this.folder, file), { force: true });
      if (!file.endsWith(SUFFIX)) continue;
      try {
        checkpoints.push(decodeCheckpoint(await readFile(join(this.folder, file)), file.slice(0, -SUFFIX.length)));
      } catch (error) {
        rejected.push({ file, reason: error instanceof Error ? error.message : String(error) });
      }
    }
    return { checkpoints, rejected };
  }

  async save(checkpoint: Checkpoint): Promise<void> {
    const bytes = packr.pack({
      format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, model: checkpoint.model,
      loss: checkpoint.loss, snapshot: checkpoint.snapshot, sha256: sha256(checkpoint.snapshot),
    });
    const path = this.pathOf(checkpoint.model);
    const temporary = `${path}.tmp`;
    const file = await open(temporary, "w");
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
    await this.syncFolder();
  }

  async remove(model: string): Promise<void> {
    await rm(this.pathOf(model), { force: true });
    await this.syncFolder();
  }

  private pathOf(model: string): string {
    // names are checked by the protocol; this keeps any other caller inside the folder too
    if (!MODEL_NAME.test(model)) throw new Error(`invalid model name ${JSON.stringify(model)}`);
    return join(this.folder, model + SUFFIX);
  }

  private async syncFolder(): Promise<void> {
    const folder = await open(this.folder, "r");
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  }
}

function decodeCheckpoint(bytes: Uint8Array, name: string): Checkpoint {
  const value = unpackr.unpack(bytes) as Record<string, unknown>;
  if (typeof value !== "object" || value === null || value.format !== CHECKPOINT_FORMAT) throw new Error("not a gradline checkpoint");
  if (value.version !== CHECKPOINT_VERSION) throw new Error(`checkpoint version ${String(value.version)} is not supported (this build reads ${CHECKPOINT_VERSION})`);
  if (value.model !== name) throw new Error(`holds model ${JSON.stringify(value.model)}, not ${JSON.stringify(name)}`);
  const snapshot = value.snapshot;
  const digest = value.sha256;
  if (!(snapshot instanceof Uint8Array) || !(digest instanceof Uint8Array)) throw new Error("snapshot or checksum missing");
  if (!Buffer.from(sha256(snapshot)).equals(Buffer.from(digest))) throw new Error("checksum mismatch: the file is corrupt");
  const loss = typeof value.loss === "number" ? value.loss : null;
  return { model: name, snapshot, loss };
}
