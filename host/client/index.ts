export {
  connect, GradlineClient, type Ack, type ClientOptions, type Prediction, type ReconnectOptions,
  type RemoteParams, type RemoteSubscription, type SubscribeOptions, type Update, type SubscriptionEvents, type SetpointAnswer,
} from "./client.js";
export type { Samples } from "../base/samples.js";
export type { ConnectFailure } from "../base/errors.js";
