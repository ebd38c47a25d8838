// The wire messages: one MessagePack map per binary WebSocket frame, told apart by
// its `type`. docs/PROTOCOL.md is the normative description; these types mirror it.
// Float arrays travel as `bin` holding little-endian float32, row-major.
import type { ModelOptions, ResolvedModelOptions } from "../engine/options.js";

/** Bumped on any change a deployed client could notice. */
export const PROTOCOL_VERSION = 1;

/** The WebSocket subprotocol a client offers (and the server echoes); a token may go in a second entry, this prefix then base64url (§2). */
export const SUBPROTOCOL = "gradline";
export const TOKEN_SUBPROTOCOL_PREFIX = "gradline.bearer.";

/** A request's sequence number: chosen by the client, echoed by the reply (0 … 2^53 − 1). */
export type Seq = number;

/** Model options as they travel in `create` (ModelOptions without `init`). */
export type WireModelConfig = Omit<ModelOptions, "init">;

// ---- client → server -------------------------------------------------------

/** `clientId` (stable across connections) makes trains resendable: a (clientId, seq) already applied is not applied again. */
export interface HelloRequest { type: "hello"; seq: Seq; protocol: number; client?: string; clientId?: string }
export interface CreateRequest { type: "create"; seq: Seq; model: string; config: WireModelConfig }
export interface OpenRequest { type: "open"; seq: Seq; model: string }
/** x: rows × inputs float32, y: rows × outputs float32. */
export interface TrainRequest { type: "train"; seq: Seq; model: string; x: Float32Array; y: Float32Array }
export interface PredictRequest { type: "predict"; seq: Seq; model: string; x: Float32Array }
export interface ParamsRequest { type: "params"; seq: Seq; model: string }
/** Updates are pushed when at least `everySteps` steps and `minIntervalMs` have passed since the last one. */
export interface SubscribeRequest { type: "subscribe"; seq: Seq; model: string; everySteps: number; minIntervalMs: number }
export interface UnsubscribeRequest { type: "unsubscribe"; seq: Seq; model: string }
export interface ListRequest { type: "list"; seq: Seq }
/** Setpoint search; vectors are arrays of numbers (float64), `fixed` with nil for free inputs. */
export interface SetpointRequestMessage {
  type: "setpoint"; seq: Seq; model: string;
  target: number[]; weights?: number[]; lower?: number[]; upper?: number[]; fixed?: (number | null)[];
  current?: number[]; maxMove?: number[]; lambda?: number; maxIterations?: number; tolerance?: number; reachTolerance?: number;
  method?: "auto" | "newton" | "fista";
}
export interface DeleteRequest { type: "delete"; seq: Seq; model: string }
/** The model's snapshot (its whole state, docs/PROTOCOL.md §7.2), answered with a `snapshot` reply. */
export interface ExportRequest { type: "export"; seq: Seq; model: string }
/** A new model from a snapshot an export gave; the name must be free. */
export interface ImportRequest { type: "import"; seq: Seq; model: string; snapshot: Uint8Array }

export type Request =
  | HelloRequest | CreateRequest | OpenRequest | TrainRequest | PredictRequest | ParamsRequest
  | SubscribeRequest | UnsubscribeRequest | ListRequest | DeleteRequest | SetpointRequestMessage | ExportRequest | ImportRequest;

export type RequestType = Request["type"];

export const REQUEST_TYPES: readonly RequestType[] = Object.freeze([
  "hello", "create", "open", "train", "predict", "params", "subscribe", "unsubscribe", "list", "delete", "setpoint", "export", "import",
]);

// ---- server → client -------------------------------------------------------

export interface ServerLimits {
  /** Largest frame accepted, in bytes. */
  maxPayload: number;
  /** Most rows in one train or predict. */
  maxRows: number;
  /** Most requests of one connection awaiting their reply. */
  maxInflight: number;
}

/**
 * durability: what an ack promises — "wal" (the batch is on disk before its ack),
 * "checkpoint" (on disk at the next checkpoint), "memory" (no data folder).
 * dedupeWindow: trains remembered per (clientId, model) for resends.
 */
export interface WelcomeReply {
  type: "welcome"; seq: Seq; protocol: number; server: string; limits: ServerLimits;
  durability: "wal" | "checkpoint" | "memory"; dedupeWindow: number;
}

/** A model's description: the answer to create and open, and an entry of list. */
export interface ModelInfo {
  model: string;
  config: ResolvedModelOptions;
  step: number;
  version: number;
  /** Loss of the last step, or null before the first. */
  loss: number | null;
}

export interface ModelReply extends ModelInfo { type: "model"; seq: Seq; created: boolean }
/** A change in the process, found on the loss stream (Page-Hinkley). */
export interface DriftFields { step: number; statistic: number; threshold: number; before: number }
/** A flagged reading of a batch: `sample` is its row, `column` the input (field "x") or output (field "y"). */
export interface AnomalyFields { sample: number; field: "x" | "y"; column: number; kind: "residual" | "range" | "stuck"; score: number }
/**
 * `drift` is present only on the ack of the step that raised the alarm; `anomalies` only
 * when the batch had some, `excluded` only when samples were left out of the update.
 */
export interface AckReply {
  type: "ack"; seq: Seq; model: string; loss: number; step: number; version: number;
  drift?: DriftFields; anomalies?: AnomalyFields[]; excluded?: number;
  /** Flags found beyond the ones listed (rows + 64 per batch). */
  anomaliesDropped?: number;
  /** The train was a resend of one already applied (same clientId and seq): nothing was applied now; loss, step and version are the first ack's. */
  duplicate?: true;
}
export interface PredictionReply { type: "prediction"; seq: Seq; model: string; version: number; rows: number; y: Float32Array }

/** W is outputs × inputs row-major, b has outputs entries; raw units. importance: outputs × inputs standardised coefficients, nil before two samples. */
export interface ParamsFields {
  model: string; version: number; step: number; inputs: number; outputs: number; W: Float32Array; b: Float32Array; importance: Float32Array | null;
}
export interface ParamsReply extends ParamsFields { type: "params"; seq: Seq }
/** Pushed to subscribers (no seq). `loss` is the last step's. */
export interface UpdatePush extends ParamsFields { type: "update"; loss: number | null }

export interface SubscribedReply { type: "subscribed"; seq: Seq; model: string; everySteps: number; minIntervalMs: number }
export interface UnsubscribedReply { type: "unsubscribed"; seq: Seq; model: string }
export interface ModelsReply { type: "models"; seq: Seq; models: ModelInfo[] }
export interface DeletedReply { type: "deleted"; seq: Seq; model: string }
/** Pushed to subscribers of a model that was deleted (no seq); their subscription ends. */
export interface DeletedPush { type: "deleted"; model: string }
/** Pushed to subscribers when the model's drift detector raises an alarm (no seq). */
export interface DriftPush extends DriftFields { type: "drift"; model: string }
export interface SetpointReply {
  type: "setpoint"; seq: Seq; model: string; version: number;
  x: number[]; predicted: number[]; objective: number; iterations: number; optimality: number; converged: boolean;
  active: ("lower" | "upper" | "move-down" | "move-up" | "fixed" | null)[]; reachable: boolean;
}

/** The answer to export: the snapshot of the last committed step, with its step and version. */
export interface SnapshotReply { type: "snapshot"; seq: Seq; model: string; version: number; step: number; snapshot: Uint8Array }

/** seq is present when the error answers a request whose seq could be read. */
export interface ErrorReply { type: "error"; seq?: Seq; code: string; message: string; model?: string }

export type Reply =
  | WelcomeReply | ModelReply | AckReply | PredictionReply | ParamsReply | UpdatePush
  | SubscribedReply | UnsubscribedReply | ModelsReply | DeletedReply | DeletedPush | DriftPush | SetpointReply | SnapshotReply | ErrorReply;

export { MODEL_NAME } from "../base/names.js";
