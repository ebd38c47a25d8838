// The gradline server: a uWebSockets.js app speaking the MessagePack protocol on
// "/", with the dashboard (GET / without an upgrade), GET /healthz and GET /metrics
// on the same port. Every frame is decoded and validated before anything touches a
// model; a rejected one is answered with an error and the connection stays open.
import { performance } from "node:perf_hooks";
import type { HttpResponse, us_listen_socket } from "uWebSockets.js";
import { errors, GradlineError } from "../base/errors.js";
import type { Samples, TrainResult } from "../engine/model.js";
import { resolveModelOptions } from "../engine/options.js";
import { decodeSnapshot } from "../engine/snapshot.js";
import { setpointDefaults, setpointIterationCost } from "../engine/setpoint.js";
import { createEngine } from "../pool/index.js";
import { decode, encode, encodeAck } from "../protocol/codec.js";
import {
  PROTOCOL_VERSION, type AckReply, type CreateRequest, type ErrorReply, type ImportRequest, type ModelReply, type ModelsReply,
  type ParamsReply, type PredictionReply, type SetpointReply, type SnapshotReply, type Request, type Seq, type TrainRequest, type WelcomeReply,
} from "../protocol/messages.js";
import { parseRequest, seqOf } from "../protocol/requests.js";
import { covers, offeredProtocols, presentedToken, TokenCheck, unauthorized } from "./auth.js";
import { serverMetrics, type Series, type ServerMetrics } from "./metrics.js";

const ANOMALY_KINDS = ["residual", "range", "stuck"] as const;

/** Operations one setpoint solve may take on the server's thread (≈ 0.2–0.5 s here). */
const SETPOINT_WORK_BUDGET = 5e8;
import { isLoopback, resolveServerOptions, type ResolvedGrant, type ResolvedServerOptions, type ServerOptions } from "./options.js";
import { ModelEntry, Registry, type ServingEngine } from "./registry.js";
import { Session, Subscription } from "./session.js";
import type { AppliedSlot } from "./applied.js";
import { loadUws, type Uws } from "./uws.js";
import { Durability } from "./durability.js";
import { LineBudget } from "./log.js";
import { listenFailure } from "./listen.js";
import { routeHttp } from "./http.js";
import { routeDashboard } from "../dashboard/route.js";

const SERVER_NAME = "gradline/0.1.0";
/** Error replies logged per connection; the rest are only counted. */
const ERROR_LINES = 100;
/** Characters of an error message sent back. */
const MAX_MESSAGE = 1000;

export interface GradlineServer {
  readonly host: string;
  readonly port: number;
  /** ws://host:port/ */
  readonly url: string;
  readonly engine: ServingEngine;
  readonly metrics: ServerMetrics;
  /** Stops accepting, finishes every accepted step and sends its ack, then closes every connection. */
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions = {}): Promise<GradlineServer> {
  const resolved = resolveServerOptions(options);
  const uws = loadUws(resolved.allowFallback);
  const engine: ServingEngine =
    resolved.workers === 0
      ? await createEngine({ ...resolved.engine, workers: 0 })
      : await createEngine(resolved.workers === undefined ? resolved.engine : { ...resolved.engine, workers: resolved.workers });
  const server = new Server(uws, engine, resolved);
  try {
    await server.restore();
  } catch (error) {
    await engine.close();
    throw error;
  }
  try {
    await server.listen();
  } catch (error) {
    await server.abandon();
    await engine.close();
    throw error;
  }
  return server;
}

class Server implements GradlineServer {
  readonly host: string;
  port = 0;
  readonly metrics: ServerMetrics;
  private readonly app;
  private readonly models = new Registry();
  private readonly sessions = new Set<Session>();
  private readonly tokens: TokenCheck;
  private readonly durability: Durability;
  private listenSocket: us_listen_socket | undefined;
  private state: "serving" | "draining" | "closed" = "serving";
  /** Set once close() is called: HTTP replies from then on close their keep-alive connection. */
  private closing: Promise<void> | undefined;
  private nextSessionId = 1;
  /** Lines of the events anyone can cause, per kind and window. */
  private readonly lines: LineBudget;
  /** Error replies logged per connection (the map lets closed sessions go). */
  private readonly errorLines = new WeakMap<Session, number>();
  /** Requests of every session awaiting their reply, and who waits for none to be left. */
  private inflight = 0;
  private readonly batches;
  private readonly samples;
  private readonly messageSeries = new Map<string, Series<number>>();
  private whenIdle: (() => void) | undefined;

  constructor(
    private readonly uws: Uws,
    readonly engine: ServingEngine,
    private readonly options: ResolvedServerOptions,
  ) {
    this.tokens = new TokenCheck(options.tokens);
    this.lines = new LineBudget(options.logger);
    this.host = this.tokens.open && !isLoopback(options.host) ? "127.0.0.1" : options.host;
    this.metrics = serverMetrics({
      connections: () => this.sessions.size,
      queueDepth: () => this.models.queueDepth(),
      models: () => this.models.size,
      degraded: () => (this.durability.failure ? 1 : 0),
    });
    this.durability = new Durability(
      { folder: options.data, ...options.durability },
      this.models,
      engine,
      {
        logger: options.logger,
        storageError: (operation) => this.metrics.storageErrors.inc({ operation }),
        checkpointed: () => this.metrics.checkpointRounds.inc(),
      },
    );
    this.batches = this.metrics.batches.series();
    this.samples = this.metrics.samples.series();
    this.app = uws.App();
    this.app.ws<{ session: Session }>("/", {
      maxPayloadLength: options.maxPayload,
      idleTimeout: options.idleTimeout,
      sendPingsAutomatically: true,
      maxBackpressure: options.maxBackpressure,
      closeOnBackpressureLimit: 0,
      compression: uws.DISABLED,
      upgrade: (res, req, context) => {
        const offered = offeredProtocols(req.getHeader("sec-websocket-protocol"));
        const token = presentedToken(req.getHeader("authorization"), req.getQuery("access_token") ?? "", offered);
        if (this.state !== "serving") return this.refuseUpgrade(res, "503 Service Unavailable", "shutting down", { body: "the server is shutting down\n" });
        const grant = this.tokens.grantFor(token);
        if (!grant) return this.refuseUpgrade(res, "401 Unauthorized", "token", unauthorized(token));
        const session = new Session(this.nextSessionId++, grant, {
          updateBackpressure: options.updateBackpressure,
          updateSent: () => this.metrics.updatesSent.inc(),
          unread: () => this.metrics.unreadClosed.inc(),
        });
        res.upgrade(
          { session },
          req.getHeader("sec-websocket-key"),
          offered.echo, // never the token's entry
          req.getHeader("sec-websocket-extensions"),
          context,
        );
      },
      open: (ws) => {
        const { session } = ws.getUserData();
        session.ws = ws;
        session.open = true;
        this.sessions.add(session);
        this.metrics.connectionsTotal.inc();
        const remote = remoteOf(ws);
        if (this.lines.allow("connection")) this.options.logger.info({ event: "connection", session: session.id, remote }, `connection ${session.id} from ${remote}`);
      },
      message: (ws, data, isBinary) => this.onFrame(ws.getUserData().session, data, isBinary),
      drain: (ws) => ws.getUserData().session.drained(),
      close: (ws, code) => {
        const { session } = ws.getUserData();
        session.closed();
        this.sessions.delete(session);
        if (this.lines.allow("disconnection")) this.options.logger.info({ event: "disconnection", session: session.id, code }, `connection ${session.id} closed (${code})`);
      },
    });
    routeHttp(this.app, {
      health: () => ({
        // degraded: reads are served, writes refused with E_STORAGE until the data folder works again
        state: this.state !== "serving" ? this.state : this.durability.failure ? "degraded" : "ok",
        models: this.models.size, connections: this.sessions.size, durability: this.durability.mode, failure: this.durability.failure,
      }),
      metricsGrant: (token) => {
        const grant = this.tokens.grantFor(token);
        return grant ? (model: string) => covers(grant, model) : undefined;
      },
      metrics: () => this.metrics.registry.render(),
      closing: () => this.closing !== undefined,
      refuse: (res, status, answer) => this.refuse(res, status, answer),
    });
    routeDashboard(this.app, !this.tokens.open, () => this.closing !== undefined);
    this.app.any("/*", (res) => {
      res.cork(() => res.writeStatus("404 Not Found").end("gradline: WebSocket on /, the dashboard on GET /, GET /healthz, GET /metrics\n", this.closing !== undefined));
    });
  }

  get url(): string {
    return `ws://${this.host.includes(":") ? `[${this.host}]` : this.host}:${this.port}/`;
  }

  listen(): Promise<void> {
    // uWS binds with SO_REUSEPORT unless told otherwise: a second server on the port would silently take part of the connections
    const exclusive = this.options.reusePort ? 0 : 1; // LIBUS_LISTEN_EXCLUSIVE_PORT
    const listenWith = this.app.listen as unknown as (host: string, port: number, options: number, cb: (socket: us_listen_socket | false) => void) => void;
    return new Promise((resolve, reject) => {
      listenWith.call(this.app, this.host, this.options.port, exclusive, (socket) => {
        if (!socket) {
          listenFailure(this.host, this.options.port, this.options.reusePort).then(reject);
          return;
        }
        this.listenSocket = socket;
        this.port = this.uws.us_socket_local_port(socket as unknown as Parameters<Uws["us_socket_local_port"]>[0]);
        this.durability.listening(this.url);
        const auth = this.tokens.open
          ? `no token configured: loopback only${isLoopback(this.options.host) ? "" : ` (asked for ${this.options.host})`}`
          : `${this.options.tokens.length} token(s) required`;
        this.options.logger.info({ event: "listening", url: this.url, auth: this.tokens.open ? "none" : "token" }, `gradline listening on ${this.url} (${auth}; ${this.describeEngine()})`);
        resolve();
      });
    });
  }

  /** Gives the data folder up after a start that failed once the models were restored. */
  abandon(): Promise<void> {
    return this.durability.abandon();
  }

  /** Restores the data folder's models: checkpoints, then the log replayed over them. */
  restore(): Promise<void> {
    return this.durability.start((entry) => this.add(entry), (entry) => this.forget(entry));
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.state = "draining";
    if (this.listenSocket) this.uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
    // New requests get E_SHUTDOWN; every accepted one finishes and is answered.
    if (this.inflight > 0) await new Promise<void>((resolve) => (this.whenIdle = resolve));
    try {
      await this.durability.close();
    } finally {
      for (const session of [...this.sessions]) session.end(1001, "server shutting down");
      await this.engine.close();
      this.state = "closed";
    }
  }

  private describeEngine(): string {
    return this.engine.workers > 0 ? `${this.engine.workers} worker(s)` : "in-process engine";
  }

  private refuseUpgrade(res: HttpResponse, status: string, reason: string, answer: { challenge?: string; body: string }): void {
    this.metrics.rejectedUpgrades.inc({ reason });
    // who knocked and why, never what token it showed
    const remote = remoteOf(res);
    const why = answer.body.trim();
    if (this.lines.allow("upgrade-refused")) this.options.logger.warn({ event: "upgrade-refused", remote, status, reason: why }, `connection from ${remote} refused: ${status} (${why})`);
    this.refuse(res, status, answer);
  }

  private refuse(res: HttpResponse, status: string, { challenge, body }: { challenge?: string; body: string }): void {
    res.cork(() => {
      res.writeStatus(status);
      if (challenge !== undefined) res.writeHeader("WWW-Authenticate", challenge);
      res.end(body, this.closing !== undefined);
    });
  }

  // ---- frames --------------------------------------------------------------

  private onFrame(session: Session, data: ArrayBuffer, isBinary: boolean): void {
    const received = performance.now();
    if (!isBinary) return this.fail(session, errors.frame(), undefined);
    let value: unknown;
    try {
      // a view, not a copy: everything below that keeps data copies it before returning
      value = decode(Buffer.from(data));
    } catch (error) {
      return this.fail(session, error, undefined);
    }
    const seq = seqOf(value);
    let request: Request;
    try {
      request = parseRequest(value);
    } catch (error) {
      return this.fail(session, error, seq);
    }
    this.messages(request.type).value++;
    if (this.state !== "serving") return this.fail(session, errors.shutdown(), seq);
    if (session.inflight >= this.options.maxInflight) {
      return this.fail(session, errors.limit("requests awaiting a reply on this connection", session.inflight + 1, this.options.maxInflight, "Wait for replies before sending more."), seq);
    }
    try {
      this.handle(session, request, received);
    } catch (error) {
      this.fail(session, error, seq, "model" in request ? request.model : undefined);
    }
  }

  private handle(session: Session, request: Request, received: number): void {
    this.authorize(session.grant, request);
    switch (request.type) {
      case "hello": {
        const { maxPayload, maxRows, maxInflight } = this.options;
        if (request.clientId !== undefined) session.clientId = request.clientId;
        return this.reply(session, {
          type: "welcome", seq: request.seq, protocol: PROTOCOL_VERSION, server: SERVER_NAME, limits: { maxPayload, maxRows, maxInflight },
          durability: this.durability.mode, dedupeWindow: this.options.durability.dedupeWindow,
        } satisfies WelcomeReply);
      }
      case "create":
        return this.create(session, request);
      case "open":
        return this.reply(session, { type: "model", seq: request.seq, created: false, ...this.entry(request.model).info() } satisfies ModelReply);
      case "train":
        return this.train(session, request, received);
      case "predict": {
        const entry = this.entry(request.model);
        const rows = this.rowsOf(request.x, entry.model.inputs, "x", "inputs");
        const y = entry.model.predict(request.x);
        const { version } = entry.model.progress();
        return this.reply(session, { type: "prediction", seq: request.seq, model: request.model, version, rows, y } satisfies PredictionReply);
      }
      case "params": {
        const entry = this.entry(request.model);
        const { W, b, step, version, importance } = entry.model.params();
        const { inputs, outputs } = entry.model;
        return this.reply(session, { type: "params", seq: request.seq, model: request.model, version, step, inputs, outputs, W, b, importance } satisfies ParamsReply);
      }
      case "setpoint": {
        const entry = this.entry(request.model);
        const { type: _type, seq, model, ...asked } = request;
        // a solve runs on this thread: its work is capped, so no request can stall the others for long
        const { inputs: m, outputs: n } = entry.model;
        const perIteration = setpointIterationCost(m, n, asked.method);
        if (perIteration > SETPOINT_WORK_BUDGET) {
          throw errors.limit(`operations of one ${asked.method ?? "auto"} iteration on ${m} inputs`, Math.round(perIteration), SETPOINT_WORK_BUDGET, 'Use method "fista" (or "auto") for this many inputs.');
        }
        const cap = Math.floor(SETPOINT_WORK_BUDGET / perIteration);
        asked.maxIterations = Math.min(asked.maxIterations ?? setpointDefaults.maxIterations, cap);
        const result = entry.model.setpoint(asked);
        return this.reply(session, {
          type: "setpoint", seq, model, version: result.version, x: Array.from(result.x), predicted: Array.from(result.predicted),
          objective: result.objective, iterations: result.iterations, optimality: result.optimality, converged: result.converged, active: result.active, reachable: result.reachable,
        } satisfies SetpointReply);
      }
      case "subscribe": {
        const entry = this.entry(request.model);
        session.subscriptions.get(request.model)?.cancel();
        const subscription = new Subscription(session, entry, request.everySteps, request.minIntervalMs);
        session.subscriptions.set(request.model, subscription);
        const { everySteps, minIntervalMs } = request;
        this.reply(session, { type: "subscribed", seq: request.seq, model: request.model, everySteps, minIntervalMs });
        return subscription.sendNow();
      }
      case "unsubscribe": {
        session.subscriptions.get(request.model)?.cancel();
        session.subscriptions.delete(request.model);
        return this.reply(session, { type: "unsubscribed", seq: request.seq, model: request.model });
      }
      case "list": {
        // a token sees the models its prefixes cover
        const models = [...this.models.values()].filter((entry) => covers(session.grant, entry.name)).map((entry) => entry.info());
        return this.reply(session, { type: "models", seq: request.seq, models } satisfies ModelsReply);
      }
      case "delete":
        return this.delete(session, request.seq, this.entry(request.model));
      case "export": {
        // the last committed step, as params reads it
        const entry = this.entry(request.model);
        const { step, version } = entry.model.progress();
        return this.reply(session, { type: "snapshot", seq: request.seq, model: request.model, version, step, snapshot: entry.model.snapshot() } satisfies SnapshotReply);
      }
      case "import":
        return this.import(session, request);
    }
  }

  /** Refuses a request the session's token does not grant, before anything is done. */
  private authorize(grant: ResolvedGrant, request: Request): void {
    if ("model" in request && !covers(grant, request.model)) throw errors.forbidden(`address model "${request.model}" (its prefixes: ${grant.prefixes.map((p) => JSON.stringify(p)).join(", ")})`);
    if (grant.readOnly && (request.type === "create" || request.type === "train" || request.type === "delete" || request.type === "import")) throw errors.forbidden(`${request.type}: it is read-only`);
  }

  private create(session: Session, request: CreateRequest): void {
    const existing = this.models.get(request.model);
    if (existing) {
      // Resolve the asked options the way the engine would, then compare field by field.
      // Hyperparameters compare as the float32 the kernels use (0.01 sent as float32 or
      // float64 is one lr); the integers (shape, seed) compare exactly.
      const exact = new Set(["inputs", "outputs", "seed"]);
      const asF32 = (v: unknown) => JSON.stringify(v, (_, x: unknown) => (typeof x === "number" ? Math.fround(x) : x));
      for (const [field, value] of Object.entries(resolveModelOptions(request.config))) {
        const have = (existing.config as unknown as Record<string, unknown>)[field];
        const same = exact.has(field) ? have === value : asF32(have) === asF32(value);
        if (!same) throw errors.conflict(request.model, field, have, value);
      }
      return this.reply(session, { type: "model", seq: request.seq, created: false, ...existing.info() } satisfies ModelReply);
    }
    const { inputs, outputs } = resolveModelOptions(request.config);
    this.admit(session, "create", inputs, outputs);
    const entry = this.durability.newEntry(request.model, this.engine.createModel(request.config));
    this.register(session, request.seq, entry, (done) => this.durability.create(entry, entry.config, done), () => {
      const { inputs, outputs, optimizer } = entry.config;
      this.options.logger.info({ event: "create", session: session.id, model: entry.name, inputs, outputs, optimizer: optimizer.type }, `model ${entry.name} created (${inputs} → ${outputs}, ${optimizer.type}) by connection ${session.id}`);
    });
  }

  /**
   * A new model (created or imported): registered at once, so trains pipelined behind
   * it are logged after it; answered once `durable` made it so, and forgotten if that failed.
   */
  private register(session: Session, seq: Seq, entry: ModelEntry, durable: (done: (error?: GradlineError) => void) => void, logged: () => void): void {
    this.add(entry);
    this.begin(session);
    durable((error) => {
      this.end(session);
      if (!error) {
        logged();
        return this.reply(session, { type: "model", seq, created: true, ...entry.info() } satisfies ModelReply);
      }
      if (this.models.get(entry.name) === entry) this.forget(entry);
      this.fail(session, error, seq, entry.name);
    });
  }

  /** Refuses a new model the folder, the server's or the token's model count, or the memory limits cannot take. */
  private admit(session: Session, what: "create" | "import", inputs: number, outputs: number): void {
    this.durability.checkWritable(what);
    if (this.models.size >= this.options.maxModels) throw errors.limit("models on this server", this.models.size + 1, this.options.maxModels, "Delete models that are no longer needed.");
    const grant = session.grant;
    if (grant.maxModels !== Infinity) {
      const held = [...this.models.values()].filter((entry) => covers(grant, entry.name)).length;
      if (held >= grant.maxModels) throw errors.limit("models this token covers", held + 1, grant.maxModels, "Delete models that are no longer needed.");
    }
    this.checkMemory(inputs, outputs);
  }

  /**
   * A new model from a snapshot: validated as a checkpoint's would be (decodeSnapshot)
   * before anything is registered, made durable (logged with the snapshot, or
   * checkpointed) before the reply, like a create.
   */
  private import(session: Session, request: ImportRequest): void {
    if (this.models.get(request.model)) throw errors.taken(request.model);
    const { options } = decodeSnapshot(request.snapshot);
    this.admit(session, "import", options.inputs, options.outputs);
    const entry = this.durability.newEntry(request.model, this.engine.restoreModel(request.snapshot));
    this.register(session, request.seq, entry, (done) => this.durability.importModel(entry, request.snapshot, done), () => {
      const { inputs, outputs, optimizer } = entry.config;
      const { step } = entry.model.progress();
      this.options.logger.info({ event: "import", session: session.id, model: entry.name, inputs, outputs, step }, `model ${entry.name} imported (${inputs} → ${outputs}, ${optimizer.type}, step ${step}) by connection ${session.id}`);
    });
  }

  /** Refuses a model whose memory would pass maxModelBytes, or take the server past maxMemory. */
  private checkMemory(inputs: number, outputs: number): void {
    const bytes = this.engine.modelBytes(inputs, outputs);
    if (bytes > this.options.maxModelBytes) {
      throw errors.limit(`memory of a ${outputs}×${inputs} model (bytes)`, bytes, this.options.maxModelBytes, "Use fewer inputs or outputs.");
    }
    let total = bytes;
    for (const entry of this.models.values()) total += this.engine.modelBytes(entry.model.inputs, entry.model.outputs);
    if (total > this.options.maxMemory) {
      throw errors.limit("memory of all models (bytes)", total, this.options.maxMemory, "Delete models that are no longer needed.");
    }
  }

  /**
   * Deletes a model; the reply waits until the delete is durable, so a restart cannot
   * bring the model back. Meanwhile requests no longer find it; if the delete cannot
   * be made durable, it is put back and the reply says nothing was done.
   */
  private delete(session: Session, seq: Seq, entry: ModelEntry): void {
    this.durability.checkWritable("delete");
    this.models.detach(entry);
    this.begin(session);
    this.durability.delete(entry, (error) => {
      this.end(session);
      if (!error) {
        this.forget(entry);
        this.options.logger.info({ event: "delete", session: session.id, model: entry.name }, `model ${entry.name} deleted by connection ${session.id}`);
        return this.reply(session, { type: "deleted", seq, model: entry.name });
      }
      if (this.models.get(entry.name)) this.models.delete(entry); // the name was taken meanwhile: only free this one
      else this.models.add(entry);
      this.fail(session, error, seq, entry.name);
    });
  }

  /** Removes a model with its metric series. */
  private forget(entry: ModelEntry): void {
    this.models.delete(entry);
    this.metrics.modelLoss.remove({ model: entry.name });
    this.metrics.modelStep.remove({ model: entry.name });
    this.metrics.modelSamples.remove({ model: entry.name });
    this.metrics.driftEvents.remove({ model: entry.name });
    for (const kind of ANOMALY_KINDS) this.metrics.anomalies.remove({ model: entry.name, kind });
  }

  private train(session: Session, request: TrainRequest, received: number): void {
    const entry = this.entry(request.model);
    const { model } = entry;
    const rows = this.rowsOf(request.x, model.inputs, "x", "inputs");
    if (request.y.length !== rows * model.outputs) {
      throw errors.shape(`y holds ${request.y.length} values; ${rows} rows × ${model.outputs} outputs need ${rows * model.outputs}`, { rows, outputs: model.outputs });
    }
    const { seq } = request;
    const client = session.clientId;
    const first = client === undefined ? undefined : entry.applied.find(client, seq);
    if (first) return this.resent(session, entry, seq, first); // answered from memory, even while degraded
    this.durability.checkWritable("train");
    const ack = (result: TrainResult): Uint8Array => {
      const plain = !result.drift && result.anomalies.length === 0 && result.excluded === 0 && result.dropped === 0;
      // the common ack is written by hand; one with extras goes through the generic encoder
      if (plain) return encodeAck(seq, entry.nameBytes, result.loss, result.step, result.version);
      const reply: AckReply = { type: "ack", seq, model: entry.name, loss: result.loss, step: result.step, version: result.version };
      if (result.drift) reply.drift = result.drift;
      if (result.anomalies.length > 0) reply.anomalies = result.anomalies;
      if (result.excluded > 0) reply.excluded = result.excluded;
      if (result.dropped > 0) reply.anomaliesDropped = result.dropped;
      return encode(reply);
    };
    const slot = client === undefined ? undefined : entry.applied.begin(client, seq, this.durability.nextLsn);
    const applied = (result: TrainResult): void => {
      this.end(session);
      if (slot) entry.applied.applied(slot, result);
      if (this.models.get(entry.name) !== entry) return session.send(ack(result)); // deleted meanwhile: no metrics, no updates
      entry.lastLoss = result.loss;
      this.durability.stepped(entry);
      // series held by handle: no label strings on the hot path
      const series = entry.series!;
      this.batches.value++;
      this.samples.value += rows;
      series.loss.value = result.loss;
      series.step.value = result.step;
      series.samples.value += rows;
      session.send(ack(result));
      this.metrics.stepLatency.observe((performance.now() - received) / 1000);
      // only at --log-level debug (pino's debug is a no-op above it): one line per step
      this.options.logger.debug({ event: "train", session: session.id, model: entry.name, seq, rows, step: result.step, loss: result.loss }, `step ${result.step} of ${entry.name} (${rows} rows, loss ${result.loss})`);
      for (const listener of entry.listeners) listener.stepped(entry);
      for (const anomaly of result.anomalies) series.anomalies[anomaly.kind].value++;
      if (result.drift) {
        series.drift.value++;
        for (const listener of entry.listeners) listener.drifted(entry, result.drift);
      }
    };
    const refused = (error: Error): void => {
      this.end(session);
      if (slot) entry.applied.failed(client!, seq, slot, error);
      this.fail(session, error, seq, entry.name);
    };
    this.begin(session);
    // x and y are views of reusable buffers: the log copies them, or train() does, before this returns
    this.durability.train(entry, client ?? null, seq, request.x, request.y, (x, y) => model.train(x as Samples, y as Samples), applied, refused);
  }

  /** A train resent under a (clientId, seq) the model already took: the first one's ack (or error), nothing applied. */
  private resent(session: Session, entry: ModelEntry, seq: Seq, first: AppliedSlot): void {
    this.metrics.duplicates.inc();
    this.begin(session);
    first.whenSettled((outcome) => {
      this.end(session);
      if ("error" in outcome) return this.fail(session, outcome.error, seq, entry.name);
      const { loss, step, version } = outcome.ack;
      this.reply(session, { type: "ack", seq, model: entry.name, loss, step, version, duplicate: true } satisfies AckReply);
    });
  }

  /** Registers a model with its metric series. */
  private add(entry: ModelEntry): void {
    const model = { model: entry.name };
    const anomaly = (kind: string) => this.metrics.anomalies.series({ ...model, kind });
    entry.series = {
      loss: this.metrics.modelLoss.series(model),
      step: this.metrics.modelStep.series(model),
      samples: this.metrics.modelSamples.series(model),
      drift: this.metrics.driftEvents.series(model),
      anomalies: { residual: anomaly("residual"), range: anomaly("range"), stuck: anomaly("stuck") },
    };
    entry.series.loss.value = entry.lastLoss ?? NaN; // no step yet: no loss
    this.models.add(entry);
  }

  /** The message counter of one request type. */
  private messages(type: string): Series<number> {
    let series = this.messageSeries.get(type);
    if (!series) this.messageSeries.set(type, (series = this.metrics.messages.series({ type })));
    return series;
  }

  /** Rows of a float array of `width` columns, checked against the server's limit. */
  private rowsOf(values: Float32Array, width: number, field: string, what: string): number {
    if (values.length === 0 || values.length % width !== 0) {
      throw errors.shape(`${field} holds ${values.length} values, not a positive multiple of the model's ${width} ${what}`, { field, length: values.length, width });
    }
    const rows = values.length / width;
    if (rows > this.options.maxRows) throw errors.limit("rows", rows, this.options.maxRows, "Split the batch.");
    return rows;
  }

  private entry(name: string): ModelEntry {
    const entry = this.models.get(name);
    if (!entry) throw errors.notFound(name);
    return entry;
  }

  private begin(session: Session): void {
    session.inflight++;
    this.inflight++;
  }

  private end(session: Session): void {
    session.inflight--;
    if (--this.inflight === 0 && this.whenIdle) {
      this.whenIdle();
      this.whenIdle = undefined;
    }
  }

  private reply(session: Session, message: object): void {
    session.send(encode(message));
  }

  /**
   * One line per error reply (its code, seq and model, never the data), up to
   * ERROR_LINES per connection: a client sending garbage in a loop must not fill the
   * disk. The rest are counted in /metrics (gradline_errors_total).
   */
  private logErrorReply(session: Session, code: string, seq: Seq | undefined, model: string | undefined): void {
    const logged = (this.errorLines.get(session) ?? 0) + 1;
    this.errorLines.set(session, logged);
    if (logged > ERROR_LINES || !this.lines.allow("error-reply")) return;
    const about = `${seq === undefined ? "" : ` to request ${seq}`}${model === undefined ? "" : ` on model ${model}`}`;
    this.options.logger.info({ event: "error-reply", session: session.id, code, seq, model }, `error ${code}${about} (connection ${session.id})`);
    if (logged === ERROR_LINES) this.options.logger.warn({ event: "error-reply-limit", session: session.id }, `connection ${session.id}: ${ERROR_LINES} error replies logged; further ones are counted in /metrics only`);
  }

  /** Answers with an error reply; anything not a GradlineError is reported as E_INTERNAL. */
  private fail(session: Session, error: unknown, seq: Seq | undefined, model?: string): void {
    const known = error instanceof GradlineError ? error : errors.internal(error);
    if (known.code === "E_INTERNAL") this.options.logger.error({ event: "internal-error", session: session.id }, `internal error: ${known.cause instanceof Error ? known.cause.stack : String(known.cause)}`);
    this.metrics.errors.inc({ code: known.code });
    this.logErrorReply(session, known.code, seq, model);
    // a message may quote what the client sent: never more than a screenful of it back
    const message = known.message.length > MAX_MESSAGE ? `${known.message.slice(0, MAX_MESSAGE)}… (cut at ${MAX_MESSAGE} characters)` : known.message;
    const reply: ErrorReply = { type: "error", code: known.code, message };
    if (seq !== undefined) reply.seq = seq;
    if (model !== undefined) reply.model = model;
    session.send(encode(reply));
  }
}

/** The peer's address as text (uWS gives it as bytes). */
const remoteOf = (peer: { getRemoteAddressAsText(): ArrayBuffer }): string => Buffer.from(peer.getRemoteAddressAsText()).toString();
