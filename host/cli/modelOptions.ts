// The model options `gradline train` takes as flags, turned into the config the library
// and the protocol take (docs/PROTOCOL.md §5.2). The engine validates the values and
// names the field; only the flags' own syntax is checked here.
import type { WireModelConfig } from "../protocol/messages.js";
import { integer, numberOf, UsageError } from "./args.js";

export const modelFlags = {
  optimizer: { type: "string" }, lr: { type: "string" }, momentum: { type: "string" }, loss: { type: "string" },
  "huber-delta": { type: "string" }, l2: { type: "string" }, standardize: { type: "boolean" }, "no-standardize": { type: "boolean" },
  seed: { type: "string" }, "no-drift": { type: "boolean" }, "no-anomaly": { type: "boolean" },
} as const;

export const modelUsage = `model options (a new model; an existing one must have been created with the same):
  --optimizer O    sgd (default), momentum or adam
  --lr X           learning rate (default 0.01; adam 0.001)
  --momentum X     momentum's factor (default 0.9)
  --loss L         mse (default) or huber
  --huber-delta X  Huber's threshold (default 1)
  --l2 X           weight decay on W (default 0)
  --standardize, --no-standardize
                   train on standardised inputs and outputs (default on)
  --seed N         seed of the initial parameters (default 1)
  --no-drift       no drift detection on the loss
  --no-anomaly     no anomaly flags`;

type ModelFlagValues = { [K in keyof typeof modelFlags]?: (typeof modelFlags)[K]["type"] extends "boolean" ? boolean : string };

export function modelConfigOf(values: ModelFlagValues, inputs: number, outputs: number): WireModelConfig {
  const config: WireModelConfig = { inputs, outputs };
  const type = values.optimizer ?? "sgd";
  if (type !== "sgd" && type !== "momentum" && type !== "adam") throw new UsageError(`--optimizer must be sgd, momentum or adam (got ${JSON.stringify(type)})`);
  const lr = numberOf(values.lr, "lr");
  const momentum = numberOf(values.momentum, "momentum");
  if (momentum !== undefined && type !== "momentum") throw new UsageError("--momentum is an option of --optimizer momentum");
  // absent fields stay absent: undefined would travel as nil, which the server refuses for a number
  const optimizer: Record<string, unknown> = { type };
  if (lr !== undefined) optimizer.lr = lr;
  if (momentum !== undefined) optimizer.momentum = momentum;
  config.optimizer = optimizer as NonNullable<WireModelConfig["optimizer"]>;
  if (values.loss !== undefined) {
    if (values.loss !== "mse" && values.loss !== "huber") throw new UsageError(`--loss must be mse or huber (got ${JSON.stringify(values.loss)})`);
    config.loss = values.loss;
  }
  const huberDelta = numberOf(values["huber-delta"], "huber-delta");
  if (huberDelta !== undefined) config.huberDelta = huberDelta;
  const l2 = numberOf(values.l2, "l2");
  if (l2 !== undefined) config.l2 = l2;
  if (values.standardize && values["no-standardize"]) throw new UsageError("--standardize and --no-standardize contradict each other");
  if (values["no-standardize"]) config.standardize = false;
  if (values.seed !== undefined) config.seed = integer(values.seed, "seed", 1, 0);
  if (values["no-drift"]) config.drift = false;
  if (values["no-anomaly"]) config.anomaly = false;
  return config;
}
