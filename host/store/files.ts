// What the checkpoints and the log need from the file system to be crash-safe.
import { open, rm } from "node:fs/promises";
import { join } from "node:path";

/** Makes the folder's entries (new, renamed, removed files) survive a crash. */
export async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Whether the folder takes a synced write now: undefined if it does, else the error. */
export async function probeWritable(folder: string): Promise<Error | undefined> {
  const probe = join(folder, ".gradline-probe");
  try {
    const file = await open(probe, "w");
    try {
      // more than a block: a nearly full disk says so here, not on the next batch
      await file.write(new Uint8Array(64 * 1024));
      await file.datasync();
    } finally {
      await file.close();
    }
    await rm(probe);
    return undefined;
  } catch (error) {
    await rm(probe, { force: true }).catch(() => {});
    return error instanceof Error ? error : new Error(String(error));
  }
}
