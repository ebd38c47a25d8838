// The write-ahead log on real files: what is appended is read back in order, one
// sync covers every record that arrived meanwhile (group commit), a write cut short
// or a flipped bit ends its segment without taking the records before it, and
// rotation plus truncation drop exactly the segments below the given lsn.
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resolveModelOptions } from "../../host/engine/options.js";
import { encodeRecord, WriteAheadLog, type WalEntry } from "../../host/store/wal.js";

const folders: string[] = [];
const fresh = async () => {
  const folder = await mkdtemp(join(tmpdir(), "gradline-wal-"));
  folders.push(folder);
  return folder;
};

const train = (i: number, client: string | null = "plc-1"): WalEntry => ({
  kind: "train", model: "line", client, seq: 1000 + i,
  x: Float32Array.from({ length: 6 }, (_, k) => i + k / 8), y: Float32Array.from({ length: 2 }, (_, k) => -i - k),
});

/** A fresh folder whose one segment holds records 1 … 10. */
async function tenRecords(): Promise<{ folder: string; segment: string; path: string; whole: Buffer }> {
  const folder = await fresh();
  const { wal } = await WriteAheadLog.open(folder);
  await appendAll(wal, Array.from({ length: 10 }, (_, i) => train(i)));
  await wal.close();
  const [segment] = await readdir(folder);
  const path = join(folder, segment!);
  return { folder, segment: segment!, path, whole: await readFile(path) };
}

/** Appends every entry at once; resolves when all are durable (rejects on the first error). */
function appendAll(wal: WriteAheadLog, entries: WalEntry[]): Promise<number[]> {
  return Promise.all(entries.map((entry) => new Promise<number>((resolve, reject) => {
    const { lsn } = wal.append(entry, (error) => (error ? reject(error) : resolve(lsn)));
  })));
}

describe("write-ahead log", () => {
  afterAll(async () => {
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
  });

  it("reads back every kind of record, in order, with lsns 1, 2, 3 …; one sync covers a burst", async () => {
    const folder = await fresh();
    const { wal, records } = await WriteAheadLog.open(folder);
    expect(records).toEqual([]);
    const options = resolveModelOptions({ inputs: 3, outputs: 2, optimizer: { type: "adam", lr: 0.003 }, anomaly: false });
    const entries: WalEntry[] = [
      { kind: "create", model: "line", options },
      ...Array.from({ length: 500 }, (_, i) => train(i, i % 3 === 0 ? null : `plc-${i % 2}`)),
      { kind: "cancel", model: "line", target: 7 },
      { kind: "delete", model: "line" },
    ];
    const lsns = await appendAll(wal, entries);
    expect(lsns).toEqual(entries.map((_, i) => i + 1));
    // 503 records appended in one turn of the event loop: one write and one sync
    expect(wal.syncs).toBe(1);
    await wal.close();

    const again = await WriteAheadLog.open(folder);
    expect(again.damage).toEqual([]);
    expect(again.records).toEqual(entries.map((entry, i) => ({ ...entry, lsn: i + 1 })));
    expect(again.wal.next).toBe(entries.length + 1);
    await again.wal.close();
  });

  it("records appended while a sync is under way go out together in the next one", async () => {
    const { wal } = await WriteAheadLog.open(await fresh());
    const done: Promise<number[]>[] = [];
    for (let burst = 0; burst < 20; burst++) {
      done.push(appendAll(wal, Array.from({ length: 50 }, (_, i) => train(burst * 50 + i))));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(done);
    expect(wal.records).toBe(1000);
    expect(wal.syncs).toBeLessThan(20);
    await wal.close();
  });

  it("a record cut short or with a flipped bit ends its segment; the records before it are read", async () => {
    const { folder, segment, path, whole } = await tenRecords();
    const size = whole.length / 10;

    // a crash in the middle of the 11th record's write: a torn tail
    const eleventh = encodeRecord({ ...train(10), lsn: 11 });
    await appendFile(path, eleventh.subarray(0, eleventh.length - 5));
    let read = await WriteAheadLog.open(folder);
    expect(read.records.map((r) => r.lsn)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(read.damage).toEqual([{ file: segment, offset: whole.length, unread: eleventh.length - 5, reason: "a record cut short", torn: true }]);
    await read.wal.close();

    // the same length of other bytes (a copy of record 1, an lsn already read) is no torn write: corruption
    await writeFile(path, Buffer.concat([whole, whole.subarray(0, eleventh.length - 5)]));
    read = await WriteAheadLog.open(folder);
    expect(read.damage).toEqual([{ file: segment, offset: whole.length, unread: eleventh.length - 5, reason: "a record cut short", torn: false }]);
    await read.wal.close();

    const flipped = Buffer.from(whole);
    flipped[4 * size + 40]! ^= 0x10; // inside record 5's body
    await writeFile(path, flipped);
    read = await WriteAheadLog.open(folder);
    expect(read.records.map((r) => r.lsn)).toEqual([1, 2, 3, 4]);
    expect(read.damage[0]).toMatchObject({ offset: 4 * size, unread: 6 * size, reason: "checksum mismatch", torn: false });
    // appends go on above what was read, in a new segment
    expect(read.wal.next).toBe(5);
    await appendAll(read.wal, [train(99)]);
    await read.wal.close();
    expect((await readdir(folder)).length).toBe(2);
  });

  it("a torn tail stays torn after the next start wrote on; a flipped bit in the last whole frame is corruption; zeros are a tear", async () => {
    const { folder, segment, path, whole } = await tenRecords();
    const eleventh = encodeRecord({ ...train(10), lsn: 11 });
    await appendFile(path, eleventh.subarray(0, 30)); // the first crash, in the 11th record's write
    // the restart reads 1 … 10 and writes 11 … 13 in a new segment; then a second crash
    let read = await WriteAheadLog.open(folder);
    await appendAll(read.wal, [train(20), train(21), train(22)]);
    await read.wal.close();
    read = await WriteAheadLog.open(folder);
    expect(read.records.map((r) => r.lsn)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(read.damage).toEqual([{ file: segment, offset: whole.length, unread: 30, reason: "a record cut short", torn: true }]);
    await read.wal.close();

    // one bit of the last acknowledged frame: its length is whole, so no write was cut short
    const only = await fresh();
    const path2 = join(only, "wal-0000000000000001.log");
    const flipped = Buffer.from(whole);
    flipped[whole.length - 3]! ^= 0x01;
    await writeFile(path2, flipped);
    read = await WriteAheadLog.open(only);
    expect(read.damage).toMatchObject([{ reason: "checksum mismatch", torn: false }]);
    await read.wal.close();
    // the file grew by zeros that never got their data: a tear
    await writeFile(path2, Buffer.concat([whole, Buffer.alloc(64)]));
    read = await WriteAheadLog.open(only);
    expect(read.records).toHaveLength(10);
    expect(read.damage).toMatchObject([{ offset: whole.length, unread: 64, torn: true }]);
    await read.wal.close();
  });

  it("a segment of random bytes is corruption, never a torn write", async () => {
    let seed = 7;
    const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24);
    for (let trial = 0; trial < 200; trial++) {
      const folder = await fresh();
      await writeFile(join(folder, "wal-0000000000000001.log"), Uint8Array.from({ length: 1 + (trial % 97) * 13 }, random));
      const read = await WriteAheadLog.open(folder);
      expect(read.records).toEqual([]);
      for (const d of read.damage) if (d.unread >= 16) expect(d.torn, JSON.stringify(d)).toBe(false);
      await read.wal.close();
    }
  });

  it("a log file removed from the middle is reported as missing lsns", async () => {
    const folder = await fresh();
    const { wal } = await WriteAheadLog.open(folder);
    for (let k = 0; k < 3; k++) {
      await appendAll(wal, Array.from({ length: 4 }, (_, i) => train(4 * k + i)));
      await wal.rotate();
    }
    await wal.close();
    await rm(join(folder, "wal-0000000000000005.log"));
    const read = await WriteAheadLog.open(folder);
    expect(read.records.map((r) => r.lsn)).toEqual([1, 2, 3, 4, 9, 10, 11, 12]);
    expect(read.damage).toEqual([{ file: "wal-0000000000000009.log", offset: 0, unread: 0, reason: "lsns 5–8 are not in the log", torn: false }]);
    await read.wal.close();
  });

  it("rotate seals the segment at the last durable lsn; truncateThrough removes only segments wholly at or below it", async () => {
    const folder = await fresh();
    const { wal } = await WriteAheadLog.open(folder);
    await appendAll(wal, Array.from({ length: 5 }, (_, i) => train(i)));
    expect(await wal.rotate()).toBe(5);
    await appendAll(wal, Array.from({ length: 3 }, (_, i) => train(5 + i)));
    expect(await wal.rotate()).toBe(8);
    await appendAll(wal, [train(8)]);
    expect(wal.files).toEqual(["wal-0000000000000001.log", "wal-0000000000000006.log", "wal-0000000000000009.log"]);
    expect(await wal.truncateThrough(7)).toBe(1); // the second segment still holds 8
    expect(await wal.truncateThrough(8)).toBe(1);
    expect(await wal.truncateThrough(100)).toBe(0); // the open segment stays
    await wal.close();
    const again = await WriteAheadLog.open(folder);
    expect(again.records.map((r) => r.lsn)).toEqual([9]);
    expect(again.damage).toEqual([]);
    await again.wal.close();
    // a file read at start ends at its own last record, whatever lsn the checkpoints have reached
    const third = await WriteAheadLog.open(folder, 1000);
    expect(third.wal.next).toBe(1001);
    expect(await third.wal.truncateThrough(9)).toBe(1);
    await third.wal.close();
    // lsns never go back, even with every segment gone: they continue above the newest checkpoint
    const empty = await WriteAheadLog.open(await fresh(), 41);
    expect(empty.wal.next).toBe(42);
    await empty.wal.close();
  });
});
