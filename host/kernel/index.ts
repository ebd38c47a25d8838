// gradline/kernel: the WebAssembly kernels for any JavaScript runtime, with no
// runtime built-ins. Load the module, lay out model blocks and buffers, call the
// exports as docs/ABI.md describes.
export {
  loadKernel, instantiateKernel, compileKernel, createKernelMemory, growMemory, kernelDefaults,
  type Kernel, type KernelExports, type KernelSource, type KernelOptions, type KernelMemoryOptions,
} from "./loader.js";
export { stepLayout, placeModel, type StepLayout, type ModelPlacement } from "./buffers.js";
export {
  ABI_VERSION, Header, LossKind, OptimizerKind, Flags, Status, AnomalyKind, ANOMALY_RECORD_BYTES, ALIGN, HOST_REGION_BYTES,
  alignUp, paramCount, regions, modelBlockBytes, anomalyStateLength, recordCapacity, writeHeader, type ModelHeader,
  SETPOINT_OPTIMALITY, SetpointSlot, SetpointResultField,
} from "./layout.js";
export { GradlineError, type ErrorCode } from "../base/errors.js";
