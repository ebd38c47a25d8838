// Trains a model recently took, by (client id, seq): a client that resends a batch
// it got no ack for (after a reconnect or a server restart) gets the first ack
// again instead of the batch being applied twice. Kept per model, in its
// checkpoints, and rebuilt from the log on start.
import { Packr, Unpackr } from "msgpackr";

/** What the first ack said, and the log record it came from. */
export interface AppliedAck {
  lsn: number;
  loss: number;
  step: number;
  version: number;
}

type Outcome = { ack: AppliedAck } | { error: Error };

/** A train accepted under a (client, seq): in flight until settled. */
export class AppliedSlot {
  ack: AppliedAck | undefined;
  private waiters: ((outcome: Outcome) => void)[] | undefined;

  constructor(readonly lsn: number) {}

  /** Calls back with the outcome of the first train: now if known, else when it is. */
  whenSettled(callback: (outcome: Outcome) => void): void {
    if (this.ack) return callback({ ack: this.ack });
    (this.waiters ??= []).push(callback);
  }

  /** @internal */
  settle(outcome: Outcome): void {
    if ("ack" in outcome) this.ack = outcome.ack;
    for (const waiter of this.waiters?.splice(0) ?? []) waiter(outcome);
  }
}

class ClientWindow {
  readonly slots = new Map<number, AppliedSlot>();
}

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export class AppliedTrains {
  /** Clients in order of last use (a Map keeps insertion order). */
  private readonly clients = new Map<string, ClientWindow>();

  /**
   * @param perClient seqs remembered per client (the oldest are forgotten first)
   * @param maxClients clients remembered (the least recently seen are forgotten)
   */
  constructor(private readonly perClient: number, private readonly maxClients: number) {}

  find(client: string, seq: number): AppliedSlot | undefined {
    return this.clients.get(client)?.slots.get(seq);
  }

  /** Records a train accepted under (client, seq) as record `lsn`. */
  begin(client: string, seq: number, lsn: number): AppliedSlot {
    const window = this.touch(client);
    const slot = new AppliedSlot(lsn);
    window.slots.set(seq, slot);
    if (window.slots.size > this.perClient) window.slots.delete(window.slots.keys().next().value!);
    return slot;
  }

  applied(slot: AppliedSlot, ack: Omit<AppliedAck, "lsn">): void {
    slot.settle({ ack: { lsn: slot.lsn, ...ack } });
  }

  /** The train was not applied: it is forgotten, so a resend is applied afresh, and whoever waited hears why. */
  failed(client: string, seq: number, slot: AppliedSlot, error: Error): void {
    const window = this.clients.get(client);
    if (window?.slots.get(seq) === slot) window.slots.delete(seq);
    slot.settle({ error });
  }

  /** The applied trains up to `lsn` (a checkpoint's), as bytes for the checkpoint. */
  encode(lsn: number): Uint8Array {
    const clients: { client: string; seq: number[]; lsn: number[]; loss: number[]; step: number[]; version: number[] }[] = [];
    for (const [client, window] of this.clients) {
      const entry = { client, seq: [] as number[], lsn: [] as number[], loss: [] as number[], step: [] as number[], version: [] as number[] };
      for (const [seq, slot] of window.slots) {
        if (!slot.ack || slot.lsn > lsn) continue;
        entry.seq.push(seq);
        entry.lsn.push(slot.lsn);
        entry.loss.push(slot.ack.loss);
        entry.step.push(slot.ack.step);
        entry.version.push(slot.ack.version);
      }
      if (entry.seq.length > 0) clients.push(entry);
    }
    return new Uint8Array(packr.pack(clients));
  }

  /** Loads what encode() wrote; throws on anything malformed. */
  restore(bytes: Uint8Array): void {
    const clients = unpackr.unpack(bytes) as unknown;
    if (!Array.isArray(clients)) throw new Error("applied trains: not a list");
    for (const entry of clients as Record<string, unknown>[]) {
      const { client, seq, lsn, loss, step, version } = entry;
      const columns = [seq, lsn, loss, step, version];
      if (typeof client !== "string" || !columns.every((c) => Array.isArray(c) && c.length === (seq as unknown[]).length)) {
        throw new Error("applied trains: malformed entry");
      }
      for (let i = 0; i < (seq as number[]).length; i++) {
        const slot = this.begin(client, (seq as number[])[i]!, (lsn as number[])[i]!);
        this.applied(slot, { loss: (loss as number[])[i]!, step: (step as number[])[i]!, version: (version as number[])[i]! });
      }
    }
  }

  private touch(client: string): ClientWindow {
    let window = this.clients.get(client);
    if (window) {
      this.clients.delete(client);
    } else {
      window = new ClientWindow();
      if (this.clients.size >= this.maxClients) this.clients.delete(this.clients.keys().next().value!);
    }
    this.clients.set(client, window);
    return window;
  }
}
