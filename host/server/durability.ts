// What the server keeps in its data folder, and how: the write-ahead log (mode
// "wal": a create, train or delete is logged and synced before it is applied or
// answered), checkpoint rounds (every N steps of a model, T seconds, or so many
// log bytes; and at shutdown), the log truncated behind them, the restore and
// replay at start, and the storage-fault state (degraded) with its recovery probe.
import { rm, rmdir, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { GradlineError, errors, messageOf } from "../base/errors.js";
import type { ModelOptions, ResolvedModelOptions } from "../engine/options.js";
import { CheckpointStore } from "../store/checkpoints.js";
import { probeWritable } from "../store/files.js";
import { FolderLocked, lockFolder, SECRET_FILE, type FolderLock } from "../store/lock.js";
import { WriteAheadLog, trainData, type WalEntry, type WalRecord } from "../store/wal.js";
import { ModelEntry, type Registry, type ServingEngine } from "./registry.js";
import type { TrainResult } from "../engine/model.js";
import type { Logger } from "./log.js";

export type DurabilityMode = "wal" | "checkpoint";

export interface DurabilitySettings {
  /** The data folder; none keeps everything in memory. */
  folder: string | undefined;
  mode: DurabilityMode;
  /** A model's steps since its last checkpoint that start a round. */
  checkpointSteps: number;
  /** Seconds between rounds (each writes only the models that changed). */
  checkpointInterval: number;
  /** Log bytes since the last round that start one. */
  checkpointLogBytes: number;
  /** Remembered (client, seq) pairs per client and model, and clients per model. */
  dedupeWindow: number;
  dedupeClients: number;
}

export interface DurabilityHooks {
  logger: Logger;
  /** A write to the data folder failed. */
  storageError(operation: string): void;
  checkpointed(): void;
}

/** Resolved options as createModel takes them: resolved "off" is null, an option's "off" is false. */
const asOptions = (o: ResolvedModelOptions): ModelOptions => ({ ...o, anomaly: o.anomaly ?? false, drift: o.drift ?? false });

/** Refusals of a step that a replay of the same record meets again: no cancel record needed. */
const REPLAYED_THE_SAME = new Set(["E_NONFINITE", "E_DIVERGED"]);

/** Records replayed on start before their results are awaited (a model's queue holds 1024). */
const REPLAY_WINDOW = 256;
/** How often a degraded server tries the data folder again. */
const PROBE_MS = 1000;

export class Durability {
  /** What keeps acked work: the log, checkpoints only, or nothing (no data folder). */
  readonly mode: DurabilityMode | "memory";
  /** The storage fault in progress: writes are refused until the probe succeeds. */
  failure: Error | undefined;
  private readonly store: CheckpointStore | undefined;
  private wal: WriteAheadLog | undefined;
  private get log(): Logger {
    return this.hooks.logger;
  }

  /** Set by abandon(): no more rounds or probes, whatever timer or step is still under way. */
  private abandoned = false;
  /** The outermost folder this start created for the data folder (so a failed start may remove what it made). */
  private createdFrom: string | undefined;
  /** Held from start to the end of close(): one server per data folder. */
  private lock: FolderLock | undefined;
  /** Lsns of the modes without a log: counted here, kept in checkpoints. */
  private counter = 0;
  private round: Promise<boolean> | undefined;
  /** The durable lsn the last round covered: the log below it goes once no model needs it. */
  private lastRoundLsn = 0;
  private roundTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Errors already counted in the storage-error metric. */
  private readonly counted = new WeakSet<Error>();

  constructor(
    private readonly settings: DurabilitySettings,
    private readonly models: Registry,
    private readonly engine: ServingEngine,
    private readonly hooks: DurabilityHooks,
  ) {
    this.mode = settings.folder === undefined ? "memory" : settings.mode;
    if (settings.folder !== undefined) this.store = new CheckpointStore(settings.folder);
  }

  get folder(): string | undefined {
    return this.settings.folder;
  }

  /** The lsn the next logged operation gets. */
  get nextLsn(): number {
    return this.wal ? this.wal.next : this.counter + 1;
  }

  newEntry(name: string, model: ModelEntry["model"]): ModelEntry {
    return new ModelEntry(name, model, this.settings.dedupeWindow, this.settings.dedupeClients);
  }

  // ---- start -----------------------------------------------------------------

  /** Restores every model from its checkpoint and replays the log over them; `add` and `remove` keep the server's books. */
  async start(add: (entry: ModelEntry) => void, remove: (entry: ModelEntry) => void): Promise<void> {
    const store = this.store;
    if (!store) return;
    const unreadable = (error: unknown) =>
      new GradlineError("E_CONFIG", `cannot read the data folder ${store.folder}: ${messageOf(error)}`, {}, { cause: error });
    const before = await stat(store.folder).catch(() => undefined);
    if (before && !before.isDirectory()) {
      throw new GradlineError("E_CONFIG", `the data folder ${store.folder} is not a folder: it is a file; name a folder (it is created if missing), or "" for none`);
    }
    this.createdFrom = before === undefined ? await firstMissing(store.folder) : undefined;
    await store.init().catch((error: unknown) => Promise.reject(unreadable(error)));
    try {
      this.lock = await lockFolder(store.folder);
    } catch (error) {
      // the folder is another server's (or may just have become one's): never remove it
      this.createdFrom = undefined;
      await this.abandon();
      if (error instanceof FolderLocked) throw new GradlineError("E_CONFIG", error.message, { folder: store.folder, owner: error.owner });
      throw new GradlineError("E_CONFIG", `cannot lock the data folder ${store.folder}: ${messageOf(error)}`, {}, { cause: error });
    }
    try {
      await this.restore(store, add, remove, unreadable);
    } catch (error) {
      await this.abandon();
      throw error;
    }
  }

  /** Says where this server listens, to a second server refused the folder. */
  listening(url: string): void {
    this.lock?.describe(url);
  }

  /** Gives the folder up without a final checkpoint, for a start that failed; a folder this start created goes again while it is empty. */
  async abandon(): Promise<void> {
    this.closed = true;
    this.abandoned = true;
    clearInterval(this.roundTimer);
    clearInterval(this.probeTimer);
    await this.wal?.close();
    await this.releaseLock();
    if (this.createdFrom && this.store) {
      // what this start wrote in the folders it made: the lock's secret; each goes only while empty
      await rm(join(this.store.folder, SECRET_FILE), { force: true }).catch(() => {});
      for (let folder = resolve(this.store.folder); ; folder = dirname(folder)) {
        if (!(await rmdir(folder).then(() => true, () => false)) || folder === this.createdFrom) break;
      }
    }
  }

  private async releaseLock(): Promise<void> {
    await this.lock?.release();
    this.lock = undefined;
  }

  private async restore(store: CheckpointStore, add: (entry: ModelEntry) => void, remove: (entry: ModelEntry) => void, unreadable: (error: unknown) => GradlineError): Promise<void> {
    // a folder that cannot be read is refused: serving without knowing its models would fork them
    const { models, rejected } = await store.loadAll().catch((error: unknown) => {
      throw unreadable(error);
    });
    for (const { file, reason } of rejected) this.log.warn({ event: "checkpoint-skipped", file, reason }, `skipped ${file} in ${store.folder}: ${reason}`);
    let newest = 0;
    for (const { name, generations } of models) {
      // the newest generation that restores; the log is kept from the older one's lsn, so nothing is lost
      for (const { file, current, checkpoint } of generations) {
        let entry: ModelEntry | undefined;
        try {
          entry = this.newEntry(name, this.engine.restoreModel(checkpoint.snapshot));
          if (checkpoint.applied) entry.applied.restore(checkpoint.applied);
        } catch (error) {
          entry?.model.dispose();
          const reason = messageOf(error);
          this.log.warn({ event: "checkpoint-skipped", file, reason }, `skipped ${file} in ${store.folder}: ${reason}`);
          continue;
        }
        entry.lastLoss = checkpoint.loss;
        entry.lsn = entry.checkpointLsn = checkpoint.lsn;
        entry.floor = checkpoint.floor;
        add(entry);
        newest = Math.max(newest, checkpoint.lsn);
        if (!current) {
          this.log.warn({ event: "checkpoint-fallback", model: name }, `model ${name} restored from its previous checkpoint generation`);
          await store.setAside(name);
        }
        break;
      }
      if (!this.models.get(name)) this.log.warn({ event: "checkpoint-unusable", model: name }, `no usable checkpoint of model ${name}: only the log can bring it back`);
    }
    // the log is read in every mode: a folder last served with "wal" may hold acked batches
    const { wal, records, damage } = await WriteAheadLog.open(store.folder, newest);
    for (const d of damage) {
      if (d.unread === 0) {
        this.log.warn({ event: "log-gap", file: d.file, reason: d.reason }, `log ${d.file}: ${d.reason} (written during a storage fault and never acknowledged, or a log file was removed by hand)`);
        continue;
      }
      if (d.torn) {
        this.log.info({ event: "log-torn", file: d.file, offset: d.offset, unread: d.unread, reason: d.reason }, `log ${d.file} ends at byte ${d.offset} (${d.reason}); ${d.unread} bytes after it were not read (a write cut short by a crash: only batches never acknowledged are lost)`);
        continue;
      }
      // the rounds delete a segment once checkpoints cover it: keep the damaged one's bytes for whoever looks into it
      const copy = await store.keepCopy(d.file).catch((error: unknown) => `not kept (${messageOf(error)})`);
      this.log.error({ event: "log-damaged", file: d.file, offset: d.offset, unread: d.unread, reason: d.reason, copy }, `log ${d.file} is damaged at byte ${d.offset} (${d.reason}); ${d.unread} bytes after it were not read (acknowledged batches after this point of that file are lost); a copy is set aside as ${copy}`);
    }
    const replayed = await this.replay(records, add, remove);
    this.counter = wal.next - 1;
    this.log.info({ event: "restored", folder: store.folder, models: this.models.size, replayed, durability: this.mode }, `${this.models.size} model(s) restored from ${store.folder}, ${replayed} logged operation(s) replayed (durability: ${this.mode})`);
    const probe = await probeWritable(store.folder);
    if (probe) this.fault("checking the data folder", probe);
    if (this.mode === "wal") {
      this.wal = wal;
    } else if (wal.files.length > 0 && !this.failure) {
      // checkpoint mode over an old log: what it held goes into checkpoints, then the log goes
      await this.checkpointRound();
      if (!this.failure) await wal.truncateThrough(Number.MAX_SAFE_INTEGER);
    }
    this.roundTimer = setInterval(() => void this.checkpointRound(), this.settings.checkpointInterval * 1000);
    this.roundTimer.unref();
  }

  /** Applies the logged operations newer than each model's checkpoint, in log order. */
  private async replay(records: WalRecord[], add: (entry: ModelEntry) => void, remove: (entry: ModelEntry) => void): Promise<number> {
    const cancelled = new Set(records.filter((r) => r.kind === "cancel").map((r) => (r as { target: number }).target));
    let pending: Promise<unknown>[] = [];
    let replayed = 0;
    for (const record of records) {
      const entry = this.models.get(record.model);
      if (entry && entry.lsn >= record.lsn) continue; // its checkpoint holds it
      switch (record.kind) {
        case "create":
        case "import": {
          if (entry) remove(entry); // deleted and created again: the delete's record was covered
          const model = record.kind === "create" ? this.engine.createModel(asOptions(record.options)) : this.engine.restoreModel(record.snapshot);
          const created = this.newEntry(record.model, model);
          created.lsn = record.lsn;
          created.checkpointLsn = created.floor = record.lsn - 1;
          add(created);
          break;
        }
        case "delete":
          if (entry) {
            await Promise.all(pending);
            pending = [];
            remove(entry);
            await this.store!.remove(record.model).catch((error: unknown) => this.fault("removing a checkpoint", error));
          }
          break;
        case "train": {
          if (!entry || cancelled.has(record.lsn)) continue;
          entry.lsn = record.lsn;
          entry.trainsSinceCheckpoint++; // replayed steps count towards the next round, or a server restarted often would never cut its log
          const slot = record.client === null ? undefined : entry.applied.begin(record.client, record.seq, record.lsn);
          const outcome = Promise.resolve(entry.model.train(record.x, record.y)).then(
            (result: TrainResult) => {
              entry.lastLoss = result.loss;
              if (slot) entry.applied.applied(slot, result);
            },
            (error: Error) => {
              if (slot) entry.applied.failed(record.client!, record.seq, slot, error);
            },
          );
          pending.push(outcome);
          if (pending.length >= REPLAY_WINDOW) {
            await Promise.all(pending);
            pending = [];
          }
          break;
        }
        case "cancel":
          continue;
      }
      replayed++;
    }
    await Promise.all(pending);
    return replayed;
  }

  // ---- writes ----------------------------------------------------------------

  /** Refuses a write while the data folder cannot take one. */
  checkWritable(what: string): void {
    if (this.failure) throw errors.storage(what, this.failure);
  }

  /** Makes a new model durable: logged (wal) or checkpointed (checkpoint mode) before `done`. */
  create(entry: ModelEntry, options: ResolvedModelOptions, done: (error?: GradlineError) => void): void {
    this.logNew(entry, { kind: "create", model: entry.name, options }, done);
  }

  /** Makes a model imported from a snapshot durable, as create does: its log record holds the snapshot. */
  importModel(entry: ModelEntry, snapshot: Uint8Array, done: (error?: GradlineError) => void): void {
    this.logNew(entry, { kind: "import", model: entry.name, snapshot }, done);
  }

  private logNew(entry: ModelEntry, record: WalEntry & { kind: "create" | "import" }, done: (error?: GradlineError) => void): void {
    const lsn = this.wal ? this.wal.next : ++this.counter;
    entry.lsn = lsn;
    entry.checkpointLsn = entry.floor = lsn - 1;
    if (this.wal) {
      this.append(record, record.kind, done);
    } else if (this.store) {
      this.saveEntry(entry).then(() => done(), (error: unknown) => done(this.fault("writing a checkpoint", error, record.kind)));
    } else {
      done();
    }
  }

  /**
   * Makes a batch durable, then runs `step` on it (in log order, per model) and
   * reports its outcome to `applied` or `refused`. With a log, x and y are copied
   * into the record and `step` gets views of the copy.
   */
  train(entry: ModelEntry, client: string | null, seq: number, x: Float32Array, y: Float32Array,
    step: (x: Float32Array, y: Float32Array) => TrainResult | Promise<TrainResult>,
    applied: (result: TrainResult) => void, refused: (error: Error) => void): void {
    const run = (x: Float32Array, y: Float32Array, failed: (error: Error) => void): void => {
      entry.trainsSinceCheckpoint++;
      let outcome: TrainResult | Promise<TrainResult>;
      try {
        outcome = step(x, y);
      } catch (error) {
        return failed(error as Error);
      }
      if (outcome instanceof Promise) outcome.then(applied, failed);
      else applied(outcome);
    };
    const wal = this.wal;
    if (!wal) {
      entry.lsn = ++this.counter;
      return run(x, y, refused);
    }
    const logged = (error: Error | undefined): void => {
      if (error) return refused(this.fault("writing the log", error, "train"));
      entry.lsn = lsn;
      // views of the record's copy: the caller's x and y are reused once this call returns
      const data = trainData(frame);
      run(data.x, data.y, (cause) => {
        // A step refused for its data (non-finite, diverged) is refused again by a replay.
        // One the engine never took (queue full, memory, a worker lost) is not: the log
        // must say so before the client hears of it, or a replay would apply it.
        if (REPLAYED_THE_SAME.has((cause as GradlineError).code)) return refused(cause);
        this.cancel(entry.name, lsn, () => refused(cause));
      });
    };
    let lsn: number;
    let frame: Uint8Array;
    try {
      ({ lsn, frame } = wal.append({ kind: "train", model: entry.name, client, seq, x, y }, logged));
    } catch (error) {
      refused(this.fault("writing the log", error, "train"));
    }
  }

  /** Logs that record `lsn` was not applied; `then` runs once that is durable (or failed to be). */
  private cancel(model: string, target: number, then: () => void): void {
    try {
      this.wal!.append({ kind: "cancel", model, target }, (failed) => {
        if (failed) this.fault("writing the log", failed, "cancel");
        then();
      });
    } catch (error) {
      this.fault("writing the log", error, "cancel");
      then();
    }
  }

  /** Makes a delete durable: logged, and both checkpoint generations removed. */
  delete(entry: ModelEntry, done: (error?: GradlineError) => void): void {
    const remove = () => {
      if (!this.store) return done();
      this.store.remove(entry.name).then(() => done(), (error: unknown) => done(this.fault("removing a checkpoint", error, "delete")));
    };
    if (!this.wal) return remove();
    this.append({ kind: "delete", model: entry.name }, "delete", (error) => (error ? done(error) : remove()));
  }

  /** After a step: starts a round when the model or the log has grown enough since the last. */
  stepped(entry: ModelEntry): void {
    if (!this.store || this.round || this.closed) return;
    const logFull = (this.wal?.bytesSinceRotate ?? 0) >= this.settings.checkpointLogBytes;
    if (entry.trainsSinceCheckpoint >= this.settings.checkpointSteps || logFull) void this.checkpointRound();
  }

  // ---- rounds ----------------------------------------------------------------

  /**
   * Checkpoints every model that changed (or whose old log records keep the log
   * from shrinking), then deletes the log segments no model needs any more.
   */
  checkpointRound(): Promise<boolean> {
    // given up: the folder may be another server's by now
    if (!this.store || this.failure || this.abandoned) return Promise.resolve(false);
    this.round ??= this.runRound().finally(() => (this.round = undefined));
    return this.round;
  }

  /** One round; false if it failed (the fault is reported). */
  private async runRound(): Promise<boolean> {
    try {
      // every record up to `durable` is in its model's queue: a snapshot queued now holds it
      const durable = this.wal ? await this.wal.rotate() : this.counter;
      let written = 0;
      let removed = 0;
      for (const entry of [...this.models.values()]) {
        const changed = entry.lsn > entry.checkpointLsn;
        const pinsLog = entry.lsn > entry.floor && entry.floor < this.lastRoundLsn;
        if ((changed || pinsLog) && this.models.get(entry.name) === entry) {
          await this.saveEntry(entry);
          written++;
        }
      }
      if (this.wal) {
        let needed = durable;
        for (const entry of this.models.values()) if (entry.lsn > entry.floor) needed = Math.min(needed, entry.floor);
        removed = await this.wal.truncateThrough(needed);
      }
      this.lastRoundLsn = durable;
      this.hooks.checkpointed();
      if (written > 0 || removed > 0) this.log.info({ event: "checkpoint-round", models: written, segmentsRemoved: removed, lsn: durable }, `checkpoint round: ${written} model(s) written, ${removed} log segment(s) removed`);
      return true;
    } catch (error) {
      this.fault("writing a checkpoint", error, "checkpoint");
      return false;
    }
  }

  /** Writes one model's checkpoint at the lsn of the last operation queued on it. */
  private async saveEntry(entry: ModelEntry): Promise<void> {
    // what the snapshot queued now will hold
    const lsn = entry.lsn;
    const trains = entry.trainsSinceCheckpoint;
    let snapshot: Uint8Array;
    try {
      snapshot = await entry.model.settledSnapshot();
    } catch (error) {
      if (this.models.get(entry.name) !== entry) return; // deleted meanwhile: nothing to keep
      throw error;
    }
    if (this.models.get(entry.name) !== entry) return;
    await this.store!.save({ model: entry.name, snapshot, loss: entry.lastLoss, lsn, floor: entry.checkpointLsn, applied: entry.applied.encode(lsn) });
    entry.floor = entry.checkpointLsn;
    entry.checkpointLsn = lsn;
    entry.trainsSinceCheckpoint -= trains;
  }

  /**
   * Ends with a round over every changed model and waits for the log. Rejects when
   * that loses acknowledged work: in checkpoint mode, a round that could not be written.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.roundTimer);
    clearInterval(this.probeTimer);
    await this.round;
    await this.wal?.close();
    if (!this.store) return;
    try {
      await this.finalRounds(this.store);
    } finally {
      await this.releaseLock();
    }
  }

  private async finalRounds(store: CheckpointStore): Promise<void> {
    // a second round makes both generations hold the end state: no model needs the log then, and it goes
    if ((await this.checkpointRound()) && (await this.checkpointRound())) {
      this.log.info({ event: "checkpointed", folder: store.folder, models: this.models.size }, `${this.models.size} model(s) checkpointed to ${store.folder}`);
      return;
    }
    const why = `no checkpoint at shutdown: the data folder fails (${this.failure?.message ?? "unknown"})`;
    if (this.mode === "wal") return this.log.warn({ event: "shutdown-checkpoint-failed" }, `${why}; the log holds every acknowledged batch`);
    throw new GradlineError("E_STORAGE", `${why}; the changes since the last checkpoint are lost`, {}, { cause: this.failure });
  }

  // ---- faults ----------------------------------------------------------------

  /** Enters the degraded state (once) and returns the error to answer with. */
  private fault(operation: string, cause: unknown, what = operation): GradlineError {
    const error = cause instanceof Error ? cause : new Error(String(cause));
    // one failed write answers many requests: it is counted once
    if (!this.counted.has(error)) {
      this.counted.add(error);
      this.hooks.storageError(operation);
    }
    if (!this.failure) {
      this.failure = error;
      this.log.error({ event: "degraded", operation, code: (error as NodeJS.ErrnoException).code, reason: error.message }, `DEGRADED: ${operation} in ${this.settings.folder} failed (${error.message}); writes are refused until it works again`);
      if (!this.closed) {
        this.probeTimer = setInterval(() => void this.probe(), PROBE_MS);
        this.probeTimer.unref();
      }
    }
    return cause instanceof GradlineError ? cause : errors.storage(what, error);
  }

  /** Tries the folder again; on success the log resumes in a new segment and a round catches up. */
  private async probe(): Promise<void> {
    if (!this.failure || !this.store || this.abandoned) return;
    if (await probeWritable(this.store.folder)) return;
    clearInterval(this.probeTimer);
    this.wal?.resume();
    this.failure = undefined;
    this.log.info({ event: "recovered", folder: this.store.folder }, `the data folder ${this.store.folder} takes writes again; serving normally`);
    await this.checkpointRound();
  }

  private append(entry: Parameters<WriteAheadLog["append"]>[0], what: string, done: (error?: GradlineError) => void): void {
    try {
      this.wal!.append(entry, (error) => done(error ? this.fault("writing the log", error, what) : undefined));
    } catch (error) {
      done(this.fault("writing the log", error, what));
    }
  }
}

/** The outermost of `folder` and its parents that does not exist yet (what mkdir -p is about to create). */
async function firstMissing(folder: string): Promise<string> {
  let missing = resolve(folder);
  for (;;) {
    const parent = dirname(missing);
    if (parent === missing || (await stat(parent).then(() => true, () => false))) return missing;
    missing = parent;
  }
}
