// One WebSocket connection: its outgoing frames, its requests in flight and its
// subscriptions. Replies are queued and sent corked once per microtask, so the
// acks of a run of steps leave in one write.
import type { WebSocket } from "uWebSockets.js";
import { encode } from "../protocol/codec.js";
import type { DeletedPush, DriftPush } from "../protocol/messages.js";
import type { DriftEvent } from "../engine/drift.js";
import type { ModelEntry, StepListener } from "./registry.js";
import type { ResolvedGrant } from "./options.js";

/** uWS send(): 0 buffered (backpressure), 1 sent, 2 dropped over maxBackpressure. */
const DROPPED = 2;

export interface SessionHooks {
  /** Bytes unsent above which subscription updates wait for a drain. */
  updateBackpressure: number;
  /** Counts one update frame pushed. */
  updateSent(): void;
  /** Counts a connection closed for not reading its replies. */
  unread(): void;
}

export class Session {
  ws: WebSocket<{ session: Session }> | undefined;
  open = false;
  /** Requests received and not yet answered. */
  inflight = 0;
  /** The id its hello gave: trains are then remembered by (id, seq), so a resend is not applied twice. */
  clientId: string | undefined;
  readonly subscriptions = new Map<string, Subscription>();
  private readonly outbox: Uint8Array[] = [];
  private flushQueued = false;

  constructor(readonly id: number, readonly grant: ResolvedGrant, readonly hooks: SessionHooks) {}

  /** Queues a frame; it leaves with the others of this microtask. Frames to a closed connection are dropped. */
  send(frame: Uint8Array): void {
    if (!this.open) return;
    this.outbox.push(frame);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  flush(): void {
    this.flushQueued = false;
    const ws = this.ws;
    if (!this.open || !ws || this.outbox.length === 0) {
      this.outbox.length = 0;
      return;
    }
    let dropped = false;
    ws.cork(() => {
      for (const frame of this.outbox) if (ws.send(frame, true, false) === DROPPED) dropped = true;
    });
    this.outbox.length = 0;
    // The client has stopped reading: closing is the only bound on its buffer.
    if (dropped) {
      this.hooks.unread();
      this.end(1008, "too much unread data; read the replies");
    }
  }

  get backpressured(): boolean {
    return this.ws !== undefined && this.open && this.ws.getBufferedAmount() > this.hooks.updateBackpressure;
  }

  /** Updates held back by backpressure go out now. */
  drained(): void {
    for (const subscription of this.subscriptions.values()) subscription.retry();
  }

  end(code: number, reason: string): void {
    if (!this.open || !this.ws) return;
    this.flush();
    // flush() may itself have ended the connection (a reply dropped over the limit)
    if (this.open) this.ws.end(code, reason);
  }

  /** The connection is gone: stop its subscriptions. */
  closed(): void {
    this.open = false;
    this.outbox.length = 0;
    for (const subscription of this.subscriptions.values()) subscription.cancel();
    this.subscriptions.clear();
  }
}

/**
 * A rate-limited stream of a model's parameters to one session. An update goes
 * out once `everySteps` steps and `minIntervalMs` have passed since the last;
 * it always carries the parameters current when it is sent, so a subscriber
 * held back by backpressure or the interval gets the latest, never a backlog.
 */
export class Subscription implements StepListener {
  private stepsSince = 0;
  private lastSent = -Infinity;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** An update is owed (steps reached) but waits for time or drain. */
  private owed = false;
  /** The version last sent: an update never repeats one. */
  private sentVersion = -1;

  constructor(
    readonly session: Session,
    readonly entry: ModelEntry,
    readonly everySteps: number,
    readonly minIntervalMs: number,
  ) {
    entry.listeners.add(this);
  }

  /** Sends the current parameters now, whatever the limits: the first update after subscribing. */
  sendNow(): void {
    this.owed = true;
    this.lastSent = -Infinity;
    this.sentVersion = -1;
    this.retry();
  }

  stepped(): void {
    this.stepsSince++;
    if (this.stepsSince >= this.everySteps) {
      this.owed = true;
      this.retry();
    }
  }

  retry(): void {
    if (!this.owed || this.timer !== undefined) return;
    const wait = this.lastSent + this.minIntervalMs - performance.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.retry();
      }, wait);
      return;
    }
    if (this.session.backpressured) return; // drained() calls retry
    this.owed = false;
    this.stepsSince = 0;
    // steps counted here may already be in the version last sent (it carries the latest)
    const { version } = this.entry.model.progress();
    if (version === this.sentVersion) return;
    this.sentVersion = version;
    this.lastSent = performance.now();
    this.session.send(this.entry.updateFrame());
    this.session.hooks.updateSent();
  }

  /** Drift events are rare and each one matters: sent at once, outside the rate limit. */
  drifted(entry: ModelEntry, event: DriftEvent): void {
    const push: DriftPush = { type: "drift", model: entry.name, ...event };
    this.session.send(encode(push));
  }

  /** The model was deleted: tell the subscriber, whose subscription ends. */
  deleted(entry: ModelEntry): void {
    this.cancel();
    this.session.subscriptions.delete(entry.name);
    const push: DeletedPush = { type: "deleted", model: entry.name };
    this.session.send(encode(push));
  }

  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.owed = false;
    this.entry.listeners.delete(this);
  }
}
