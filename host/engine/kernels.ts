// The one registry of kernel variants. Engines, tests and benchmarks all read
// it, so a new variant is tested and benchmarked by adding one entry.
import type { KernelExports } from "../kernel/loader.js";

export type KernelName = "simd" | "scalar";

export interface KernelVariant {
  readonly name: KernelName;
  readonly train: (k: KernelExports) => KernelExports["f32_train__wasmsimd"];
  readonly evaluate: (k: KernelExports) => KernelExports["f32_evaluate__wasmsimd"];
  readonly gradient: (k: KernelExports) => KernelExports["f32_gradient__wasmsimd"];
  readonly predict: (k: KernelExports) => KernelExports["f32_predict__wasmsimd"];
  readonly shardGradient: (k: KernelExports) => KernelExports["f32_shard_gradient__wasmsimd"];
  readonly shardApply: (k: KernelExports) => KernelExports["f32_shard_apply__wasmsimd"];
}

export const kernelVariants: readonly KernelVariant[] = [
  {
    name: "simd",
    train: (k) => k.f32_train__wasmsimd,
    evaluate: (k) => k.f32_evaluate__wasmsimd,
    gradient: (k) => k.f32_gradient__wasmsimd,
    predict: (k) => k.f32_predict__wasmsimd,
    shardGradient: (k) => k.f32_shard_gradient__wasmsimd,
    shardApply: (k) => k.f32_shard_apply__wasmsimd,
  },
  {
    name: "scalar",
    train: (k) => k.f32_train__scalar,
    evaluate: (k) => k.f32_evaluate__scalar,
    gradient: (k) => k.f32_gradient__scalar,
    predict: (k) => k.f32_predict__scalar,
    shardGradient: (k) => k.f32_shard_gradient__scalar,
    shardApply: (k) => k.f32_shard_apply__scalar,
  },
];

export function kernelVariant(name: KernelName): KernelVariant | undefined {
  return kernelVariants.find((v) => v.name === name);
}
