// The TypeScript client of the gradline protocol (docs/PROTOCOL.md), for Node and
// browsers. Requests are pipelined: each gets a seq and a promise settled by the
// reply carrying that seq. After an unexpected close the client reconnects with
// exponential backoff, says hello again and renews its subscriptions; requests
// made meanwhile wait (bounded) and go out on the new connection. Requests that
// were sent and got no reply are sent again, with the same seq: the hello carries
// a client id, so the server recognises a train it already applied and answers
// with its first ack instead of applying it twice. Only delete is not resent.
import { connectFailure, errors, GradlineError, quote, type ConnectFailure } from "../base/errors.js";
import { batchOf, flatSamples, float32Of, rowsOf, type Samples } from "../base/samples.js";
import { decode, encode, floatsOf } from "../protocol/codec.js";
import {
  PROTOCOL_VERSION, type AckReply, type AnomalyFields, type DriftFields, type DriftPush, type ModelInfo, type ModelReply, type ServerLimits,
  type SetpointReply, type WelcomeReply, type WireModelConfig,
} from "../protocol/messages.js";
import type { SetpointRequest } from "../engine/setpoint.js";
import { failureDetail, failureReason, OPEN, openSocket, type SocketLike } from "./socket.js";

export interface ReconnectOptions {
  /** First wait after a drop, in ms. Default 100. */
  initialDelayMs?: number;
  /** Longest wait between attempts, in ms. Default 10 000. */
  maxDelayMs?: number;
  /** Attempts before giving up (then every waiting request fails with E_CLOSED). Default Infinity. */
  maxAttempts?: number;
}

export interface ClientOptions {
  /** Bearer token, when the server requires one. */
  token?: string;
  /** Reconnect after an unexpected close (default), or not (false). */
  reconnect?: boolean | ReconnectOptions;
  /** Requests that may wait for a connection while reconnecting; more fail with E_LIMIT. Default 10 000. */
  maxWaiting?: number;
  /** Called when the connection drops and when it is back. */
  onStatus?: (status: "disconnected" | "connected", detail?: string) => void;
  /** Id of this client (1–128 printable ASCII characters): resends are recognised by (id, seq). Default: 128 random bits per client object. */
  clientId?: string;
  /**
   * The first seq. Default: the time in ms × 1024, so a controller restarted with the
   * same clientId never reuses a seq of its earlier run (a reused seq would be taken
   * for a resend and not applied), unless that run sent over a million requests a second.
   */
  firstSeq?: number;
  /** Send requests left unanswered by a lost connection again after reconnecting (default), or fail them with E_CLOSED (false). */
  resend?: boolean;
}

/** `drift` is set on the ack of the step whose loss raised a drift alarm; `anomalies` lists the batch's flagged readings. */
export interface Ack {
  seq: number; model: string; loss: number; step: number; version: number;
  drift?: DriftFields; anomalies: AnomalyFields[]; excluded: number;
  /** Flags the server found beyond the ones listed. */
  anomaliesDropped: number;
  /** The batch had been applied before (this was a resend): the fields are the first ack's. */
  duplicate: boolean;
}
export interface Prediction { model: string; version: number; rows: number; y: Float32Array }
export interface RemoteParams {
  model: string; version: number; step: number; inputs: number; outputs: number; W: Float32Array; b: Float32Array;
  /** Standardised coefficients, outputs × inputs; null before the model has seen two samples. */
  importance: Float32Array | null;
}
/** What a subscription hears besides updates. */
export interface SubscriptionEvents {
  /** The model was deleted (or is gone after a reconnect); the subscription has ended. */
  onDeleted?: () => void;
  /** The model's drift detector raised an alarm at `event.step`. */
  onDrift?: (event: DriftFields) => void;
}
export type SetpointAnswer = Omit<SetpointReply, "type" | "seq">;
export interface Update extends RemoteParams { loss: number | null }
export interface SubscribeOptions { everySteps?: number; minIntervalMs?: number }

export interface RemoteSubscription {
  readonly model: string;
  unsubscribe(): Promise<void>;
}

interface Pending {
  resolve(reply: Record<string, unknown>): void;
  reject(error: Error): void;
}

/** A request with what it takes to send it (again). */
interface Outgoing {
  seq: number;
  frame: Uint8Array;
  pending: Pending;
  /** Safe to send again after a lost connection (everything but delete). */
  resendable: boolean;
  /** Went out on some connection. */
  sent: boolean;
}

interface LocalSubscription {
  options: Required<SubscribeOptions>;
  onUpdate: (update: Update) => void;
  events: SubscriptionEvents;
}

const reconnectDefaults = Object.freeze({ initialDelayMs: 100, maxDelayMs: 10_000, maxAttempts: Infinity });

/** Connects, says hello, and resolves once the server has answered. */
export async function connect(url: string, options: ClientOptions = {}): Promise<GradlineClient> {
  const client = new GradlineClient(url, options);
  await client.opened;
  return client;
}

export class GradlineClient {
  /** The server's welcome: its name and limits. */
  server: WelcomeReply | undefined;
  /** @internal Settles with the first connection. */
  readonly opened: Promise<void>;
  private socket: SocketLike | undefined;
  /** Sent in the hello: with seq, names each train for good. */
  readonly clientId: string;
  private nextSeq: number;
  /** Requests sent and not yet answered, in seq order. */
  private readonly pending = new Map<number, Outgoing>();
  /** Requests to send once connected: unanswered ones of a lost connection first, then those made meanwhile. */
  private readonly waiting: Outgoing[] = [];
  private readonly subscriptions = new Map<string, LocalSubscription>();
  private readonly reconnect: Required<ReconnectOptions> | undefined;
  private closedByUser = false;
  /** No connection and none coming: reconnect is off, or gave up. */
  private down = false;
  private attempts = 0;
  /** Why the last attempt to connect failed, for the requests that fail when the client gives up. */
  private lastFailure: { why: string; reason: ConnectFailure } | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly url: string, private readonly options: ClientOptions) {
    // "127.0.0.1:8080" would reach the WebSocket library as a URL of scheme "127.0.0.1" and fail with a bare SyntaxError
    if (typeof url !== "string" || !/^wss?:\/\/[^/\s]+/i.test(url)) {
      throw new GradlineError("E_CONFIG", `the server's URL must be a ws:// or wss:// URL, such as ws://127.0.0.1:8080/ (got ${quote(url)})`, { field: "url" });
    }
    this.reconnect = options.reconnect === false ? undefined : { ...reconnectDefaults, ...(options.reconnect === true ? {} : options.reconnect) };
    this.clientId = options.clientId ?? randomId();
    this.nextSeq = options.firstSeq ?? Date.now() * 1024;
    this.opened = this.dial(true);
  }

  get connected(): boolean {
    return this.socket?.readyState === OPEN && this.server !== undefined;
  }

  get limits(): ServerLimits | undefined {
    return this.server?.limits;
  }

  /** Creates a model, or opens it when one with the same name and options exists (E_CONFLICT when the options differ). */
  async create(model: string, config: WireModelConfig): Promise<ModelInfo & { created: boolean }> {
    const reply = (await this.request({ type: "create", model, config })) as unknown as ModelReply;
    return { ...infoOf(reply), created: reply.created };
  }

  async open(model: string): Promise<ModelInfo> {
    return infoOf((await this.request({ type: "open", model })) as unknown as ModelReply);
  }

  /**
   * One optimiser step on rows × inputs x and rows × outputs y, as the library takes them
   * (Samples); many may be in flight at once. What the library would refuse without
   * knowing the model (a wrong type, ragged rows, non-numbers, non-finite values, x and y
   * rows that do not pair up) is refused here, and nothing is sent.
   */
  async train(model: string, x: Samples, y: Samples): Promise<Ack> {
    const xs = flatSamples(x, "x", undefined);
    const ys = flatSamples(y, "y", undefined);
    if (xs.width !== undefined && ys.width !== undefined) batchOf(xs.values.length, ys.values.length, xs.width, ys.width, Infinity);
    const reply = (await this.request({ type: "train", model, x: float32Of(xs, "x"), y: float32Of(ys, "y") })) as unknown as AckReply;
    const ack: Ack = {
      seq: reply.seq, model: reply.model, loss: reply.loss, step: reply.step, version: reply.version,
      anomalies: reply.anomalies ?? [], excluded: reply.excluded ?? 0, anomaliesDropped: reply.anomaliesDropped ?? 0, duplicate: reply.duplicate === true,
    };
    if (reply.drift) ack.drift = reply.drift;
    return ack;
  }

  /** The inputs that bring the model's predictions closest to `target` within the constraints (raw units; see SetpointRequest). */
  async setpoint(model: string, request: SetpointRequest): Promise<SetpointAnswer> {
    const wire: Record<string, unknown> = { type: "setpoint", model };
    for (const [key, value] of Object.entries(request)) {
      if (value !== undefined) wire[key] = typeof value === "object" && value !== null ? Array.from(value as ArrayLike<number | null>, (v) => (v === undefined ? null : v)) : value;
    }
    const { type: _type, seq: _seq, ...answer } = (await this.request(wire)) as unknown as SetpointReply;
    return answer;
  }

  /** ŷ for x (rows × inputs, as train takes it). */
  async predict(model: string, x: Samples): Promise<Prediction> {
    const xs = flatSamples(x, "x", undefined);
    if (xs.width !== undefined) rowsOf(xs.values.length, xs.width, Infinity);
    const reply = await this.request({ type: "predict", model, x: float32Of(xs, "x") });
    return { model, version: reply.version as number, rows: reply.rows as number, y: floatsOf(reply.y as Uint8Array, "y") };
  }

  async params(model: string): Promise<RemoteParams> {
    return paramsOf(await this.request({ type: "params", model }));
  }

  /** The model's snapshot (its whole state: options, parameters, optimiser, statistics, detectors) at its last committed step. */
  async export(model: string): Promise<{ model: string; step: number; version: number; snapshot: Uint8Array }> {
    const reply = await this.request({ type: "export", model });
    return { model, step: reply.step as number, version: reply.version as number, snapshot: reply.snapshot as Uint8Array };
  }

  /** A new model named `model` from a snapshot that export gave; E_CONFLICT when the name is taken. */
  async import(model: string, snapshot: Uint8Array): Promise<ModelInfo> {
    return infoOf((await this.request({ type: "import", model, snapshot })) as unknown as ModelReply);
  }

  async list(): Promise<ModelInfo[]> {
    return (await this.request({ type: "list" })).models as ModelInfo[];
  }

  async delete(model: string): Promise<void> {
    await this.request({ type: "delete", model });
    this.subscriptions.delete(model);
  }

  /**
   * Streams a model's parameters to `onUpdate`: now, then once `everySteps` steps and
   * `minIntervalMs` have passed since the last update (default: every step). Renewed
   * after a reconnect. `events` hear of drift alarms and of the model's deletion.
   */
  async subscribe(model: string, options: SubscribeOptions, onUpdate: (update: Update) => void, events: SubscriptionEvents = {}): Promise<RemoteSubscription> {
    const resolved = { everySteps: options.everySteps ?? 1, minIntervalMs: options.minIntervalMs ?? 0 };
    const local: LocalSubscription = { options: resolved, onUpdate, events };
    this.subscriptions.set(model, local);
    try {
      await this.request({ type: "subscribe", model, ...resolved });
    } catch (error) {
      if (this.subscriptions.get(model) === local) this.subscriptions.delete(model);
      throw error;
    }
    return {
      model,
      unsubscribe: async () => {
        if (this.subscriptions.get(model) !== local) return;
        this.subscriptions.delete(model);
        await this.request({ type: "unsubscribe", model });
      },
    };
  }

  /** Closes the connection; requests still waiting fail with E_CLOSED. */
  close(): void {
    this.closedByUser = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.socket?.close(1000, "client closed");
    this.lost(errors.closed("the client was closed"));
    this.failWaiting("the client was closed");
  }

  // ---- requests and replies ---------------------------------------------------

  private request(message: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.closedByUser) return Promise.reject(errors.closed("the client was closed", false));
    if (this.down) return Promise.reject(errors.closed("not connected, and not reconnecting", false));
    const seq = this.nextSeq++;
    const frame = encode({ ...message, seq });
    const resendable = this.options.resend !== false && message.type !== "delete";
    return new Promise((resolve, reject) => {
      const outgoing: Outgoing = { seq, frame, pending: { resolve, reject }, resendable, sent: false };
      if (this.connected) return this.send(outgoing);
      const max = this.options.maxWaiting ?? 10_000;
      if (this.waiting.length >= max) return reject(errors.limit("requests waiting for a connection", this.waiting.length + 1, max, "Wait for the connection to come back."));
      this.waiting.push(outgoing);
    });
  }

  private send(outgoing: Outgoing): void {
    this.socket!.send(outgoing.frame);
    outgoing.sent = true;
    this.pending.set(outgoing.seq, outgoing);
  }

  private onFrame(data: unknown): void {
    if (!(data instanceof ArrayBuffer)) return;
    const reply = decode(new Uint8Array(data)) as Record<string, unknown>;
    switch (reply.type) {
      case "update": {
        const subscription = this.subscriptions.get(reply.model as string);
        subscription?.onUpdate({ ...paramsOf(reply), loss: reply.loss as number | null });
        return;
      }
      case "drift": {
        const { type: _type, model, ...event } = reply as unknown as DriftPush;
        this.subscriptions.get(model)?.events.onDrift?.(event);
        return;
      }
      case "deleted":
        if (reply.seq === undefined) {
          const subscription = this.subscriptions.get(reply.model as string);
          this.subscriptions.delete(reply.model as string);
          subscription?.events.onDeleted?.();
          return;
        }
        break;
    }
    const seq = reply.seq as number | undefined;
    const pending = seq === undefined ? undefined : this.pending.get(seq)?.pending;
    if (!pending) return; // an error without seq answers a frame the server could not read
    this.pending.delete(seq!);
    if (reply.type === "error") {
      pending.reject(new GradlineError(reply.code as GradlineError["code"], reply.message as string, { seq, model: reply.model }));
    } else {
      pending.resolve(reply);
    }
  }

  // ---- connection -------------------------------------------------------------

  /** Opens a socket and says hello; on the first dial, failure rejects `opened` instead of retrying. */
  private async dial(first: boolean): Promise<void> {
    const { socket, failure } = await openSocket(this.url, this.options.token);
    if (this.closedByUser) {
      // close() came while the socket was being made
      socket.close(1000, "client closed");
      throw errors.closed("the client was closed", false);
    }
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      let helloSeq: number | undefined;
      socket.onopen = () => {
        const seq = (helloSeq = this.nextSeq++);
        const hello = encode({ type: "hello", seq, protocol: PROTOCOL_VERSION, client: "gradline-ts", clientId: this.clientId });
        this.pending.set(seq, { seq, frame: hello, resendable: false, sent: true, pending: {
          resolve: (welcome) => {
            settled = true;
            this.server = welcome as unknown as WelcomeReply;
            this.attempts = 0;
            this.lastFailure = undefined;
            this.resume();
            resolve();
          },
          reject: (error) => {
            // the server refused the hello (another protocol version): no point reconnecting
            settled = true;
            this.down = true;
            socket.close(1000, "hello refused");
            this.failWaiting(`the server refused the hello: ${error.message}`);
            reject(error);
          },
        } });
        socket.send(hello);
      };
      socket.onmessage = (event) => this.onFrame(event.data);
      socket.onerror = () => {}; // the close event follows and says why
      socket.onclose = (event) => {
        if (this.socket !== socket) return;
        this.server = undefined;
        const why = `code ${event.code}${event.reason ? `: ${event.reason}` : ""}`;
        if (!settled) {
          // this dial failed before the welcome: nothing but the hello went out on it
          settled = true;
          if (helloSeq !== undefined) this.pending.delete(helloSeq);
          if (this.closedByUser) return reject(errors.closed("the client was closed", false));
          const token = this.options.token !== undefined;
          const reason = failureReason(failure(), token);
          const detail = failureDetail(failure(), why);
          this.lastFailure = { why: connectFailure(this.url, reason, detail, token), reason };
          if (first) {
            // the first one fails connect(), and what was asked of a client never connected
            this.down = true;
            const error = errors.notConnected(this.url, reason, detail, token);
            for (const { pending } of this.waiting.splice(0)) pending.reject(error);
            return reject(error);
          }
          return this.scheduleReconnect();
        }
        this.lost(errors.closed(why));
        if (this.closedByUser || this.down) return;
        this.options.onStatus?.("disconnected", why);
        this.scheduleReconnect();
      };
    });
  }

  /** After hello: renew subscriptions, then send what waited. */
  private resume(): void {
    const socket = this.socket!;
    for (const [model, { options }] of this.subscriptions) {
      const seq = this.nextSeq++;
      // a failure (the model is gone) ends the subscription, as a deletion would
      const subscription = this.subscriptions.get(model)!;
      const frame = encode({ type: "subscribe", seq, model, ...options });
      socket.send(frame);
      this.pending.set(seq, { seq, frame, resendable: false, sent: true, pending: {
        resolve: () => {},
        reject: () => {
          if (this.subscriptions.get(model) !== subscription) return;
          this.subscriptions.delete(model);
          subscription.events.onDeleted?.();
        },
      } });
    }
    for (const outgoing of this.waiting.splice(0)) this.send(outgoing);
    this.options.onStatus?.("connected");
  }

  private scheduleReconnect(): void {
    const policy = this.reconnect;
    if (this.closedByUser) return;
    if (!policy || this.attempts >= policy.maxAttempts) {
      this.down = true;
      const last = this.lastFailure;
      this.failWaiting(`${policy ? `gave up reconnecting after ${this.attempts} attempts` : "reconnect is off"}${last ? `; last: ${last.why}` : ""}`, last?.reason);
      return;
    }
    const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** this.attempts++);
    const delay = base / 2 + Math.random() * (base / 2); // jitter: many controllers do not reconnect in step
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.dial(false).catch(() => this.scheduleReconnect());
    }, delay);
  }

  /**
   * The connection is gone: requests it left unanswered wait to be sent again
   * (ahead of newer ones, in seq order), or fail when they cannot be resent.
   */
  private lost(error: GradlineError): void {
    const unanswered = [...this.pending.values()];
    this.pending.clear();
    const again = this.closedByUser ? [] : unanswered.filter((o) => o.resendable);
    for (const outgoing of unanswered) if (!again.includes(outgoing)) outgoing.pending.reject(error);
    this.waiting.unshift(...again);
  }

  /** Fails the requests waiting for a connection: E_CLOSED says whether each was ever sent (and may have been applied). */
  private failWaiting(why: string, reason?: ConnectFailure): void {
    for (const { pending, sent } of this.waiting.splice(0)) pending.reject(errors.closed(why, sent, reason));
  }
}

/** 128 random bits as hex: getRandomValues, unlike randomUUID, also works on pages not served over https. */
function randomId(): string {
  return Array.from(globalThis.crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function infoOf(reply: ModelReply): ModelInfo {
  return { model: reply.model, config: reply.config, step: reply.step, version: reply.version, loss: reply.loss };
}

function paramsOf(reply: Record<string, unknown>): RemoteParams {
  return {
    model: reply.model as string,
    version: reply.version as number,
    step: reply.step as number,
    inputs: reply.inputs as number,
    outputs: reply.outputs as number,
    W: floatsOf(reply.W as Uint8Array, "W"),
    b: floatsOf(reply.b as Uint8Array, "b"),
    importance: reply.importance instanceof Uint8Array ? floatsOf(reply.importance, "importance") : null,
  };
}
