// `gradline seed`: the source document's PyTorch example (nn.Linear(3, 5), SGD, MSE)
// through the SIMD kernels, with its loss curve.
import { parseArgs } from "node:util";
import { createEngine } from "../pool/index.js";
import { linearInit, mulberry32, normalFrom } from "../engine/index.js";
import type { KernelName } from "../engine/index.js";
import { integer, UsageError } from "./args.js";

export const seedUsage = `usage: gradline seed [options]

Trains the source document's example (nn.Linear(3, 5), SGD lr 0.01, F.mse_loss,
100 full-batch iterations on 100 random samples) and prints its loss curve.

  --iterations N   optimiser steps (default 100)
  --lr X           learning rate (default 0.01)
  --seed N         seed of the data and the initial parameters (default 1)
  --kernel K       simd (default) or scalar`;

export async function seedExample(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { iterations: { type: "string" }, lr: { type: "string" }, seed: { type: "string" }, kernel: { type: "string" } },
    strict: true,
  });
  const iterations = integer(values.iterations, "iterations", 100, 1);
  const seed = integer(values.seed, "seed", 1, 0);
  const lr = values.lr === undefined ? 0.01 : Number(values.lr);
  if (!(lr > 0) || !Number.isFinite(lr)) throw new UsageError(`--lr must be a positive number (got ${JSON.stringify(values.lr)})`);
  const kernel = (values.kernel ?? "simd") as KernelName;
  if (kernel !== "simd" && kernel !== "scalar") throw new UsageError(`--kernel must be simd or scalar (got ${JSON.stringify(kernel)})`);

  const m = 3;
  const n = 5;
  const samples = 100;
  const normal = normalFrom(mulberry32(seed));
  const data = Float32Array.from({ length: samples * m }, normal);
  const labels = Float32Array.from({ length: samples * n }, normal);
  const engine = await createEngine({ workers: 0, kernel });
  const model = engine.createModel({
    inputs: m, outputs: n, standardize: false, optimizer: { type: "sgd", lr }, init: linearInit(m, n, seed),
  });
  console.log(`gradline seed example: nn.Linear(${m}, ${n}), SGD lr ${lr}, MSE, ${iterations} full-batch iterations on ${samples} samples (${kernel} kernel)`);
  const started = process.hrtime.bigint();
  let last = 0;
  for (let i = 0; i < iterations; i++) {
    last = model.train(data, labels).loss;
    if (i % 10 === 0) console.log(`Iter ${i}, loss: ${last.toFixed(4)}`);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(`final loss ${last.toFixed(4)}; ${iterations} steps in ${(seconds * 1e3).toFixed(2)} ms (${((iterations * samples) / seconds / 1e6).toFixed(2)} M samples/s, including printing)`);
  const { W, b } = model.params();
  console.log("W =", Array.from(W, (v) => +v.toFixed(4)));
  console.log("b =", Array.from(b, (v) => +v.toFixed(4)));
  engine.close();
}
