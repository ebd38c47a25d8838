// The write-ahead log: every accepted create, import, train and delete, appended in arrival
// order before it is applied or acknowledged. Group commit: records that arrive
// while a synced write (O_DSYNC) is under way go out together in the next one, so
// under load one sync covers many batches and an idle server syncs each at once.
//
// On disk: segments `wal-<first lsn, 16 digits>.log`, each a run of frames
// [u32 body length][u32 CRC-32 of body][body], little-endian. A frame whose length
// or checksum does not hold ends its segment (a write cut short by a crash); the
// records after it in that segment are reported lost. A new segment starts at every
// start, after a checkpoint round (rotate) and after a storage fault.
import { constants } from "node:fs";
import { mkdir, open, readdir, readFile, rm, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { Packr, Unpackr } from "msgpackr";
import type { ResolvedModelOptions } from "../engine/options.js";
import { MODEL_NAME } from "../base/names.js";
import { syncFolder } from "./files.js";
import { messageOf } from "../base/errors.js";

export type WalEntry =
  | { kind: "create"; model: string; options: ResolvedModelOptions }
  | { kind: "train"; model: string; client: string | null; seq: number; x: Float32Array; y: Float32Array }
  | { kind: "delete"; model: string }
  /** A model created from a snapshot (the protocol's import): the snapshot's bytes, as sent. */
  | { kind: "import"; model: string; snapshot: Uint8Array }
  /** A logged train that could not be applied after all (engine queue full, memory): a replay skips it. */
  | { kind: "cancel"; model: string; target: number };

export type WalRecord = WalEntry & { lsn: number };

/** What reading the log found wrong: a segment cut short (with the bytes left unread), or lsns missing before a segment (unread 0). */
export interface WalDamage {
  file: string;
  offset: number;
  unread: number;
  reason: string;
  /**
   * The newest segment's last write, torn by a crash: the damaged frame reaches the end
   * of the file, so nothing was written after it (its records were never acknowledged).
   * Anything else is corruption.
   */
  torn: boolean;
}

const KIND = { create: 1, train: 2, delete: 3, cancel: 4, import: 5 } as const;
const KINDS = new Set<number>(Object.values(KIND));
const FRAME = 8;
const PREFIX = "wal-";
const SUFFIX = ".log";
const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
const utf8 = new TextEncoder();
const text = new TextDecoder("utf-8", { fatal: true });

const segmentName = (firstLsn: number): string => `${PREFIX}${String(firstLsn).padStart(16, "0")}${SUFFIX}`;
const pad8 = (n: number): number => (n + 7) & ~7;
/** Bytes of a body before the name: the common 16 and the kind's own fields. */
const fixedBytes = (kind: number): number => 16 + (kind === KIND.train ? 16 : kind === KIND.delete ? 0 : 8);

/**
 * One record as its frame. Train's x starts on an 8-byte boundary of the returned
 * buffer (y follows it, 4-byte aligned), so views of them (trainData) need no copy.
 */
export function encodeRecord(record: WalRecord): Uint8Array {
  const name = utf8.encode(record.model);
  const client = record.kind === "train" && record.client !== null ? utf8.encode(record.client) : new Uint8Array(0);
  // the trailing data of a create (its options) or an import (its snapshot)
  const config = record.kind === "create" ? packr.pack(record.options) : record.kind === "import" ? record.snapshot : new Uint8Array(0);
  // body: u8 kind, u8 0, u16 name, u16 client, u16 0, f64 lsn,
  // [f64 seq, u32 x bytes, u32 y bytes | u32 config or snapshot bytes, u32 0 | f64 target], name, client, pad, data
  const fixed = fixedBytes(KIND[record.kind]);
  const head = pad8(fixed + name.length + client.length);
  const xBytes = record.kind === "train" ? record.x.byteLength : 0;
  const yBytes = record.kind === "train" ? record.y.byteLength : 0;
  const body = head + xBytes + yBytes + config.length;
  const frame = new Uint8Array(FRAME + body);
  const view = new DataView(frame.buffer);
  view.setUint32(0, body, true);
  const b = FRAME;
  view.setUint8(b, KIND[record.kind]);
  view.setUint16(b + 2, name.length, true);
  view.setUint16(b + 4, client.length, true);
  view.setFloat64(b + 8, record.lsn, true);
  if (record.kind === "train") {
    view.setFloat64(b + 16, record.seq, true);
    view.setUint32(b + 24, xBytes, true);
    view.setUint32(b + 28, yBytes, true);
  } else if (record.kind === "create" || record.kind === "import") {
    view.setUint32(b + 16, config.length, true);
  } else if (record.kind === "cancel") {
    view.setFloat64(b + 16, record.target, true);
  }
  frame.set(name, b + fixed);
  frame.set(client, b + fixed + name.length);
  if (record.kind === "train") {
    frame.set(new Uint8Array(record.x.buffer, record.x.byteOffset, xBytes), b + head);
    frame.set(new Uint8Array(record.y.buffer, record.y.byteOffset, yBytes), b + head + xBytes);
  }
  frame.set(config, b + head);
  view.setUint32(4, crc32(frame.subarray(FRAME)), true);
  return frame;
}

/** Views of a train frame's x and y (from encodeRecord: aligned). */
export function trainData(frame: Uint8Array): { x: Float32Array; y: Float32Array } {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const head = pad8(32 + view.getUint16(FRAME + 2, true) + view.getUint16(FRAME + 4, true));
  const xBytes = view.getUint32(FRAME + 24, true);
  const yBytes = view.getUint32(FRAME + 28, true);
  const at = frame.byteOffset + FRAME + head;
  return { x: new Float32Array(frame.buffer, at, xBytes / 4), y: new Float32Array(frame.buffer, at + xBytes, yBytes / 4) };
}

/** Largest body a record can have: a train of maxPayload (at most 2³⁰ bytes) and its header. */
const MAX_BODY = 2 ** 30 + 4096;

/**
 * Whether segment `i` was the one being written when its writer stopped: the newest, or
 * followed only by the segment a later start opened, which begins right after its last
 * readable record (a start appends above what it read).
 */
function lastWritten(files: string[], i: number, segmentLast: number): boolean {
  if (i === files.length - 1) return true;
  return Number(files[i + 1]!.slice(PREFIX.length, -SUFFIX.length)) === segmentLast + 1;
}

/**
 * Whether `bytes`, the rest of a segment from a frame that runs past its end, can be
 * the start of a write a crash cut short: a plausible length, and the body's fixed
 * fields, as far as they are there, as encodeRecord writes them (a record kind, zero
 * padding, an lsn above the previous record's). Random or overwritten bytes fail this
 * almost surely.
 */
function framePrefix(bytes: Uint8Array, previous: number): boolean {
  if (bytes.length < 4) return true;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) > MAX_BODY) return false;
  const body = bytes.subarray(FRAME);
  if (body.length >= 1 && !KINDS.has(body[0]!)) return false;
  if (body.length >= 2 && body[1] !== 0) return false;
  if (body.length >= 8 && (body[6] !== 0 || body[7] !== 0)) return false;
  if (body.length >= 16) {
    const lsn = new DataView(body.buffer, body.byteOffset, 16).getFloat64(8, true);
    if (!Number.isSafeInteger(lsn) || lsn <= previous) return false;
  }
  return true;
}

/** Decodes one frame's body (checksum already checked); throws on anything inconsistent. */
function decodeBody(body: Uint8Array): WalRecord {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const kind = view.getUint8(0);
  const nameLength = view.getUint16(2, true);
  const clientLength = view.getUint16(4, true);
  const lsn = view.getFloat64(8, true);
  if (!Number.isSafeInteger(lsn) || lsn < 1) throw new Error(`bad lsn ${lsn}`);
  const fixed = fixedBytes(kind);
  const model = text.decode(body.subarray(fixed, fixed + nameLength));
  if (!MODEL_NAME.test(model)) throw new Error(`invalid model name ${JSON.stringify(model.slice(0, 140))}`);
  const head = pad8(fixed + nameLength + clientLength);
  switch (kind) {
    case KIND.delete:
      return { kind: "delete", lsn, model };
    case KIND.cancel:
      return { kind: "cancel", lsn, model, target: view.getFloat64(16, true) };
    case KIND.create: {
      const length = view.getUint32(16, true);
      if (head + length !== body.length) throw new Error("create record length mismatch");
      return { kind: "create", lsn, model, options: unpackr.unpack(body.subarray(head)) as ResolvedModelOptions };
    }
    case KIND.import: {
      const length = view.getUint32(16, true);
      if (head + length !== body.length) throw new Error("import record length mismatch");
      return { kind: "import", lsn, model, snapshot: body.slice(head) };
    }
    case KIND.train: {
      const seq = view.getFloat64(16, true);
      const xBytes = view.getUint32(24, true);
      const yBytes = view.getUint32(28, true);
      if (head + xBytes + yBytes !== body.length || xBytes % 4 !== 0 || yBytes % 4 !== 0) throw new Error("train record length mismatch");
      const client = clientLength === 0 ? null : text.decode(body.subarray(fixed + nameLength, fixed + nameLength + clientLength));
      // copies: the file's buffer is not 4-byte aligned in general
      const floats = (from: number, bytes: number) => new Float32Array(Uint8Array.from(body.subarray(from, from + bytes)).buffer);
      const x = floats(head, xBytes);
      const y = floats(head + xBytes, yBytes);
      return { kind: "train", lsn, model, client, seq, x, y };
    }
    default:
      throw new Error(`unknown record kind ${kind}`);
  }
}

interface Segment {
  firstLsn: number;
  file: string;
  /** Last lsn written to it, once it is closed for good. */
  lastLsn?: number;
}

interface Waiting {
  lsn: number;
  frame: Uint8Array;
  done: (error: Error | undefined) => void;
}

export class WriteAheadLog {
  /** The first error of the current storage fault, until recover() succeeds. */
  failure: Error | undefined;
  /** Bytes written since open or the last rotate. */
  bytesSinceRotate = 0;
  /** Synced writes (one per group, however many records it held), and the records in them. */
  syncs = 0;
  records = 0;
  private readonly segments: Segment[] = [];
  private handle: FileHandle | undefined;
  private size = 0;
  private queue: Waiting[] = [];
  private rotations: { target: number; resolve: (lsn: number) => void; reject: (error: Error) => void }[] = [];
  private flushing: Promise<void> | undefined;
  private scheduled = false;
  private lastDurable: number;

  private constructor(readonly folder: string, private nextLsn: number, segments: Segment[]) {
    this.segments = segments;
    this.lastDurable = nextLsn - 1;
  }

  /**
   * Reads every record in the folder's segments, in order, then opens the log for
   * appending after them (lsns continue above `atLeast`, the newest checkpoint's).
   */
  static async open(folder: string, atLeast = 0): Promise<{ wal: WriteAheadLog; records: WalRecord[]; damage: WalDamage[] }> {
    await mkdir(folder, { recursive: true });
    const files = (await readdir(folder)).filter((f) => f.startsWith(PREFIX) && f.endsWith(SUFFIX)).sort();
    const records: WalRecord[] = [];
    const damage: WalDamage[] = [];
    const segments: Segment[] = [];
    let last = atLeast;
    let previous = 0;
    for (const [i, file] of files.entries()) {
      const firstLsn = Number(file.slice(PREFIX.length, -SUFFIX.length));
      if (!Number.isSafeInteger(firstLsn)) continue;
      // lsns skipped between files: a write that failed in a storage fault (never acknowledged), or a file removed
      if (previous > 0 && firstLsn > previous + 1) damage.push({ file, offset: 0, unread: 0, reason: `lsns ${previous + 1}–${firstLsn - 1} are not in the log`, torn: false });
      const bytes = await readFile(join(folder, file));
      let segmentLast = firstLsn - 1;
      let offset = 0;
      while (offset < bytes.length) {
        // torn: only a frame cut short at the end of the file (a checksum or a body that fails on a frame whose
        // bytes are all there is corruption), in a segment nothing was written after, except the next start
        const problem = (reason: string, cutShort: boolean) => {
          const rest = bytes.subarray(offset);
          const torn = lastWritten(files, i, segmentLast) && (rest.every((b) => b === 0) || (cutShort && framePrefix(rest, previous)));
          damage.push({ file, offset, unread: bytes.length - offset, reason, torn });
        };
        if (bytes.length - offset < FRAME) { problem("a frame header cut short", true); break; }
        const length = bytes.readUInt32LE(offset);
        if (length > bytes.length - offset - FRAME) { problem("a record cut short", true); break; }
        const body = bytes.subarray(offset + FRAME, offset + FRAME + length);
        if (crc32(body) !== bytes.readUInt32LE(offset + 4)) { problem("checksum mismatch", false); break; }
        let record: WalRecord;
        try {
          record = decodeBody(body);
        } catch (error) {
          // a body too short for its own fields reads past the DataView: say so in words
          problem(error instanceof RangeError ? "a body shorter than its fields" : messageOf(error), false);
          break;
        }
        if (record.lsn <= previous) { problem(`lsn ${record.lsn} out of order`, false); break; }
        previous = record.lsn;
        records.push(record);
        last = Math.max(last, record.lsn);
        segmentLast = record.lsn;
        offset += FRAME + length;
      }
      segments.push({ firstLsn, file, lastLsn: segmentLast });
    }
    return { wal: new WriteAheadLog(folder, last + 1, segments), records, damage };
  }

  /** The lsn the next append gets. */
  get next(): number {
    return this.nextLsn;
  }

  /** Segment files on disk. */
  get files(): string[] {
    return this.segments.map((s) => s.file);
  }

  /**
   * Appends a record; `done` is called once it is durable (or with the error that
   * kept it from being). Throws at once while a storage fault lasts. Returns its lsn
   * and its frame (trainData gives aligned views of a train's x and y in it).
   */
  append(entry: WalEntry, done: (error: Error | undefined) => void): { lsn: number; frame: Uint8Array } {
    if (this.failure) throw this.failure;
    const lsn = this.nextLsn++;
    const frame = encodeRecord({ ...entry, lsn });
    this.queue.push({ lsn, frame, done });
    if (!this.flushing && !this.scheduled) {
      this.scheduled = true;
      // whatever else this turn of the event loop brings joins the same write
      setImmediate(() => {
        this.scheduled = false;
        this.flushing ??= this.flush();
      });
    }
    return { lsn, frame };
  }

  /**
   * Closes the current segment once every record appended so far is durable; later
   * records go to a new one. Resolves with the last durable lsn: every record up to
   * it has had its `done` called. Fails if a write fails first.
   */
  rotate(): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    const target = this.nextLsn - 1;
    const promise = new Promise<number>((resolve, reject) => this.rotations.push({ target, resolve, reject }));
    if (!this.flushing && !this.scheduled) this.flushing = this.flush();
    return promise;
  }

  /** Waits until every record appended so far has had its `done` called. */
  async settle(): Promise<void> {
    while (this.flushing || this.scheduled || this.queue.length > 0) {
      this.flushing ??= this.flush();
      await this.flushing;
    }
  }

  /** Deletes closed segments whose every record is at or below `lsn` (covered by checkpoints). */
  async truncateThrough(lsn: number): Promise<number> {
    let removed = 0;
    while (this.segments.length > 0) {
      const [first, second] = this.segments;
      const last = first!.lastLsn ?? (second ? second.firstLsn - 1 : undefined);
      if (first === this.current() || last === undefined || last > lsn) break;
      await rm(join(this.folder, first!.file), { force: true });
      this.segments.shift();
      removed++;
    }
    if (removed > 0) await syncFolder(this.folder);
    return removed;
  }

  /** After a storage fault, once the folder takes writes again (probeWritable): appends resume, in a new segment. */
  resume(): void {
    this.failure = undefined;
  }

  /** Finishes what is queued and closes the file. */
  async close(): Promise<void> {
    await this.settle();
    await this.seal();
  }

  private current(): Segment | undefined {
    return this.handle ? this.segments[this.segments.length - 1] : undefined;
  }

  private async seal(): Promise<void> {
    const segment = this.current();
    const handle = this.handle;
    this.handle = undefined;
    if (segment) segment.lastLsn = this.lastDurable;
    await handle?.close().catch(() => {});
  }

  private async flush(): Promise<void> {
    try {
      for (;;) {
        await this.sealIfAsked();
        if (this.queue.length === 0) return;
        const group = this.queue;
        this.queue = [];
        const error = await this.write(group);
        if (error) {
          this.failure = error;
          // nothing queued behind a failed write goes out: the order of the log is the order of the models
          for (const waiting of [...group, ...this.queue.splice(0)]) waiting.done(error);
          for (const rotation of this.rotations.splice(0)) rotation.reject(error);
          return;
        }
        this.lastDurable = group[group.length - 1]!.lsn;
        for (const waiting of group) waiting.done(undefined);
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** Seals the segment for the rotations whose records are all durable now. */
  private async sealIfAsked(): Promise<void> {
    const due = this.rotations.filter((r) => r.target <= this.lastDurable);
    if (due.length === 0) return;
    this.rotations = this.rotations.filter((r) => r.target > this.lastDurable);
    await this.seal();
    this.bytesSinceRotate = 0;
    for (const rotation of due) rotation.resolve(this.lastDurable);
  }

  /** Writes and syncs one group; on failure cuts the segment back to what was durable. */
  private async write(group: Waiting[]): Promise<Error | undefined> {
    const frames = group.map((g) => g.frame);
    const bytes = frames.reduce((sum, f) => sum + f.length, 0);
    try {
      if (!this.handle) {
        const firstLsn = group[0]!.lsn;
        const file = segmentName(firstLsn);
        // truncating: a file of this name can only be a torn one no record of which was readable;
        // O_DSYNC: each write returns once it is on disk (a write and an fdatasync in one call)
        this.handle = await open(join(this.folder, file), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DSYNC);
        this.size = 0;
        this.segments.push({ firstLsn, file });
        // the new file's name must survive a crash too
        await syncFolder(this.folder);
      }
      let written = (await this.handle.writev(frames)).bytesWritten;
      if (written < bytes) {
        // a short write: the rest again, which either goes or says why not (ENOSPC …)
        const rest = Buffer.concat(frames).subarray(written);
        for (let at = 0; at < rest.length; at += written) {
          written = (await this.handle.write(rest, at)).bytesWritten;
          if (written === 0) throw new Error(`short write: ${bytes - rest.length + at} of ${bytes} bytes`);
        }
      }
      this.syncs++;
      this.records += group.length;
      this.size += bytes;
      this.bytesSinceRotate += bytes;
      return undefined;
    } catch (error) {
      await this.handle?.truncate(this.size).catch(() => {});
      await this.seal();
      return error instanceof Error ? error : new Error(String(error));
    }
  }
}
