export { createInProcessEngine, Engine, engineDefaults, type EngineOptions } from "./engine.js";
export { Model, type TrainResult, type Params, type Gradient, type Samples, type Anomaly } from "./model.js";
export { GradlineError, type ErrorCode } from "../base/errors.js";
export { setpointDefaults, type SetpointRequest, type SetpointResult, type ActiveConstraint } from "./setpoint.js";
export {
  modelDefaults, anomalyDefaults, type AnomalyOptions, type ModelOptions, type OptimizerOptions, type LossName,
  type ResolvedModelOptions, type ResolvedOptimizer,
} from "./options.js";
export { kernelVariants, type KernelName, type KernelVariant } from "./kernels.js";
export { SNAPSHOT_FORMAT, SNAPSHOT_VERSION } from "./snapshot.js";
export { linearInit, mulberry32, normalFrom } from "./init.js";
export { driftDefaults, type DriftEvent, type DriftOptions } from "./drift.js";
