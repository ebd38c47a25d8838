// The models a server holds, by name, with what the protocol reports about them.
import type { Engine } from "../engine/engine.js";
import type { Model } from "../engine/model.js";
import type { ResolvedModelOptions } from "../engine/options.js";
import type { DriftEvent } from "../engine/drift.js";
import type { PoolEngine } from "../pool/pool.js";
import type { PoolModel } from "../pool/model.js";
import { encode, encodeName } from "../protocol/codec.js";
import type { Series } from "./metrics.js";
import type { ModelInfo, UpdatePush } from "../protocol/messages.js";
import { AppliedTrains } from "./applied.js";

export type ServingEngine = Engine | PoolEngine;
export type ServedModel = Model | PoolModel;

/** Something that wants to hear of a model's steps (a subscription). */
export interface StepListener {
  stepped(entry: ModelEntry): void;
  drifted(entry: ModelEntry, event: DriftEvent): void;
  deleted(entry: ModelEntry): void;
}

/** A model's own metric series, resolved once when the model is added. */
export interface ModelSeries {
  loss: Series<number>;
  step: Series<number>;
  samples: Series<number>;
  drift: Series<number>;
  anomalies: Record<"residual" | "range" | "stuck", Series<number>>;
}

export class ModelEntry {
  lastLoss: number | null = null;
  series: ModelSeries | undefined;
  /** The last logged operation handed to the model (durability.ts). */
  lsn = 0;
  /** The lsn its newest checkpoint holds, and its previous one's: the log must keep what is above that (the floor). */
  checkpointLsn = 0;
  floor = 0;
  /** Trains handed to the model since the lsn of its newest checkpoint. */
  trainsSinceCheckpoint = 0;
  /** Recent trains by (client id, seq), for resends. */
  readonly applied: AppliedTrains;
  /** The name as MessagePack str, for the hand-written ack. */
  readonly nameBytes: Uint8Array;
  readonly listeners = new Set<StepListener>();
  private update: { version: number; frame: Uint8Array } | undefined;

  constructor(readonly name: string, readonly model: ServedModel, dedupeWindow: number, dedupeClients: number) {
    this.nameBytes = encodeName(name);
    this.applied = new AppliedTrains(dedupeWindow, dedupeClients);
  }

  get config(): ResolvedModelOptions {
    return this.model.options;
  }

  info(): ModelInfo {
    const { step, version } = this.model.progress();
    return { model: this.name, config: this.config, step, version, loss: this.lastLoss };
  }

  /** The encoded update push of the current parameters; shared by every subscriber until the next step. */
  updateFrame(): Uint8Array {
    // the version is a header read; the parameters (a kernel call, copies) only when it moved
    if (this.update?.version === this.model.progress().version) return this.update.frame;
    const params = this.model.params();
    const push: UpdatePush = {
      type: "update", model: this.name, version: params.version, step: params.step,
      inputs: this.model.inputs, outputs: this.model.outputs, W: params.W, b: params.b, importance: params.importance, loss: this.lastLoss,
    };
    this.update = { version: params.version, frame: encode(push) };
    return this.update.frame;
  }
}

export class Registry {
  private readonly entries = new Map<string, ModelEntry>();

  get size(): number {
    return this.entries.size;
  }

  get(name: string): ModelEntry | undefined {
    return this.entries.get(name);
  }

  add(entry: ModelEntry): void {
    this.entries.set(entry.name, entry);
  }

  /** Removes and disposes a model; its listeners hear of it. */
  delete(entry: ModelEntry): void {
    this.detach(entry);
    entry.model.dispose();
    for (const listener of [...entry.listeners]) listener.deleted(entry);
    entry.listeners.clear();
  }

  /** Takes a model out of the name map (requests no longer find it) without freeing it; add() puts it back. */
  detach(entry: ModelEntry): void {
    if (this.entries.get(entry.name) === entry) this.entries.delete(entry.name);
  }

  /** Queued steps of every model. */
  queueDepth(): number {
    let depth = 0;
    for (const entry of this.entries.values()) depth += entry.model.queueDepth;
    return depth;
  }

  values(): IterableIterator<ModelEntry> {
    return this.entries.values();
  }
}
