// The module's exports. Kernels live one family per file; docs/ABI.md documents all of these.
export {
  f32_train__wasmsimd, f32_train__scalar,
  f32_evaluate__wasmsimd, f32_evaluate__scalar,
  f32_gradient__wasmsimd, f32_gradient__scalar,
  f32_predict__wasmsimd, f32_predict__scalar,
  f32_raw_params,
} from "./step";
export {
  f32_shard_moments, f32_moments_merge,
  f32_shard_gradient__wasmsimd, f32_shard_gradient__scalar,
  f32_shard_apply__wasmsimd, f32_shard_apply__scalar,
} from "./shard";
export { f64_setpoint, f64_setpoint__newton } from "./setpoint";
export {
  setpointBytes as setpoint_bytes, setpointOffset as setpoint_offset, setpointNewtonBytes as setpoint_newton_bytes,
  modelBytes as model_bytes, scratchBytes as scratch_bytes, scratchGradOffset as scratch_grad_offset,
  momentsBytes as moments_bytes, shardGradBytes as shard_grad_bytes,
} from "./util/layout";
export { f32_peak__wasmsimd_madd12 } from "./peak";
import { ABI_VERSION } from "./util/layout";

/** The layout and calling convention this build implements (docs/ABI.md, "Versions"). */
export function abi_version(): i32 {
  return ABI_VERSION;
}

/** First byte the host may allocate: everything below holds the module's static data. */
export function heap_base(): usize {
  return __heap_base;
}
