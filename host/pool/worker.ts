// A pool worker: the same kernels over the same shared memory as the main
// thread. It runs what a task describes and answers with statuses; the main
// thread alone allocates, grows the memory and commits results.
import { workerData } from "node:worker_threads";
import { instantiateKernel } from "../kernel/loader.js";
import { kernelVariant, type KernelName } from "../engine/kernels.js";
import { beginStep, endStep } from "../engine/step.js";
import { planShards, shardGradient, shardMoments, type ShardBuffers } from "../engine/shards.js";
import * as T from "./tasks.js";

export interface WorkerData {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  kernel: KernelName;
}

const { module, memory, kernel } = workerData as WorkerData;
const kernels = instantiateKernel(module, memory).exports;
const variant = kernelVariant(kernel)!;
let bytes = new Uint8Array(memory.buffer);
let view = new DataView(memory.buffer);

/** The main thread may have grown the memory since the last task. */
function refreshViews(): void {
  if (bytes.byteLength !== memory.buffer.byteLength) {
    bytes = new Uint8Array(memory.buffer);
    view = new DataView(memory.buffer);
  }
}

function runs(task: Float64Array): Float64Array {
  const scratch = task[T.kRunsScratch]!;
  const runCount = task[T.kRunsCount]!;
  let steps = 0;
  for (let r = 0, at = T.kRunsHeader; r < runCount; r++) {
    const n = task[at + T.kRunSteps]!;
    steps += n;
    at += T.kRunHeader + n * T.kStepFields;
  }
  const result = new Float64Array(steps * T.kResultFields);
  let out = 0;
  let at = T.kRunsHeader;
  for (let r = 0; r < runCount; r++) {
    const from = task[at + T.kRunFrom]!;
    const to = task[at + T.kRunTo]!;
    const count = task[at + T.kRunSteps]!;
    // the committed block stays untouched: if this worker dies, the model is as it was
    bytes.copyWithin(to, from, from + task[at + T.kRunBytes]!);
    at += T.kRunHeader;
    for (let s = 0; s < count; s++, at += T.kStepFields, out += T.kResultFields) {
      beginStep(view, to, task[at + T.kStepRecords]!, task[at + T.kStepRecordCap]!);
      const status = variant.train(kernels)(to, task[at + T.kStepX]!, task[at + T.kStepY]!, task[at + T.kStepRows]!, scratch);
      T.writeStepRecord(result, out, endStep(view, to, status));
    }
  }
  return result;
}

function shards(task: Float64Array): Float64Array {
  const model = task[T.kShardModel]!;
  const m = task[T.kShardM]!;
  const n = task[T.kShardN]!;
  const plan = planShards(task[T.kShardTotalRows]!, task[T.kShardRows]!);
  const buffers: ShardBuffers = {
    x: task[T.kShardX]!,
    y: task[T.kShardY]!,
    moments: task[T.kShardMoments]!,
    grads: task[T.kShardGrads]!,
    cand: task[T.kShardCand]!,
  };
  const scratch = task[T.kShardScratch]!;
  const count = task[T.kShardCount]!;
  const result = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const shard = task[T.kShardHeader + i]!;
    const status = task[0] === T.TaskKind.moments
      ? shardMoments(kernels, model, m, n, buffers, plan, shard, scratch)
      : shardGradient(kernels, variant, model, m, n, buffers, plan, shard, scratch);
    // a rejected shard's bad index is not returned: shards share the header it lands in; the main thread finds it
    result[i] = status;
  }
  return result;
}

export default function handle(task: Float64Array): Float64Array {
  refreshViews();
  return task[0] === T.TaskKind.runs ? runs(task) : shards(task);
}
