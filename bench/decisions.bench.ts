// The decision layer's costs: a setpoint solve (bounds, move limits, a held input,
// λ > 0) on a trained model at (m, n) = (16, 4) and (256, 64), and one on collinear,
// redundant sensors (16, 4: W of rank 3, two inputs reading almost the same, λ = 0), by
// the exact active-set method ("newton") and by FISTA, and what anomaly
// tracking adds to a training step at (16, 4, 256) — the same step with tracking on
// and off, in one run. In-process engine, staged batches. Run: npm run bench:decisions
import os from "node:os";
import { Bench } from "tinybench";
import { createEngine, type Model, type SetpointRequest } from "../host/index.js";
import { mulberry32, normalFrom } from "../host/engine/init.js";

const engine = await createEngine({ workers: 0 });
const normal = normalFrom(mulberry32(20261128));
const rows = (count: number) => Float32Array.from({ length: count }, normal);

/** A model trained for a while on y = W x + b + noise, so its statistics and parameters are realistic. */
function trained(m: number, n: number, anomaly: boolean): Model {
  const model = engine.createModel({ inputs: m, outputs: n, optimizer: { type: "adam", lr: 0.01 }, anomaly: anomaly ? {} : false, drift: false });
  const W = rows(n * m);
  for (let step = 0; step < 300; step++) {
    const x = rows(64 * m);
    const y = new Float32Array(64 * n);
    for (let s = 0; s < 64; s++) {
      for (let j = 0; j < n; j++) {
        let v = 0.1 * normal();
        for (let k = 0; k < m; k++) v += W[j * m + k]! * x[s * m + k]!;
        y[s * n + j] = v;
      }
    }
    model.train(x, y);
  }
  return model;
}

function request(m: number, n: number): SetpointRequest {
  return {
    target: Array.from({ length: n }, () => normal()),
    lower: new Array<number>(m).fill(-2),
    upper: new Array<number>(m).fill(2),
    current: new Array<number>(m).fill(0),
    maxMove: new Array<number>(m).fill(1.5),
    fixed: Array.from({ length: m }, (_, k) => (k === 0 ? 0.5 : null)),
    lambda: 1e-3,
  };
}

const bench = new Bench({ time: 2000, warmup: true });
/** (16, 4) with W of rank 3 (an integer product, exact in float32) and input 1 reading 1 + 1e-6 times input 0. */
function collinear(): Model {
  const m = 16;
  const n = 4;
  const U = Array.from({ length: n * 3 }, () => Math.round(2 * normal()));
  const V = Array.from({ length: m * 3 }, () => Math.round(2 * normal()));
  const W = Array.from({ length: n * m }, (_, i) => U[Math.floor(i / m) * 3]! * V[(i % m) * 3]! + U[Math.floor(i / m) * 3 + 1]! * V[(i % m) * 3 + 1]! + U[Math.floor(i / m) * 3 + 2]! * V[(i % m) * 3 + 2]!);
  for (let j = 0; j < n; j++) W[j * m + 1] = W[j * m]! * (1 + 1e-6);
  return engine.createModel({ inputs: m, outputs: n, standardize: false, init: { W, b: rows(n) } });
}

const solves: { shape: string; method: string; iterations: number; optimality: number; converged: boolean; reachable: boolean }[] = [];
const cases = [
  { shape: "(16, 4)", model: trained(16, 4, false), asked: request(16, 4) },
  { shape: "(256, 64)", model: trained(256, 64, false), asked: request(256, 64) },
  { shape: "(16, 4) collinear", model: collinear(), asked: { ...request(16, 4), lambda: 0 } },
];
for (const { shape, model, asked } of cases) {
  // the exact method (what "auto" picks at these sizes) beside FISTA (the large-m path)
  for (const method of ["newton", "fista"] as const) {
    const one = { ...asked, method };
    const first = model.setpoint(one);
    solves.push({ shape, method, iterations: first.iterations, optimality: +first.optimality.toExponential(1), converged: first.converged, reachable: first.reachable });
    bench.add(`setpoint ${shape} ${method}`, () => {
      model.setpoint(one);
    });
  }
}

// one step at (16, 4, 256), with and without anomaly tracking, on the same staged batch
const stepShape = { m: 16, n: 4, B: 256 };
const stepModels = [false, true].map((tracking) => {
  const model = trained(stepShape.m, stepShape.n, tracking);
  const staged = model.stageBatch(stepShape.B);
  staged.x.set(rows(stepShape.B * stepShape.m));
  staged.y.set(rows(stepShape.B * stepShape.n));
  return () => model.train(staged.x, staged.y);
});
await bench.run();

const median = (name: string): number => {
  const task = bench.tasks.find((t) => t.name === name)!;
  const result = task.result as { latency?: { p50?: number } } | undefined;
  return (result?.latency?.p50 ?? NaN) * 1000; // µs
};

console.log(`gradline decisions bench — ${new Date().toISOString()}, Node ${process.version}, ${os.cpus()[0]?.model ?? "cpu"} × ${os.cpus().length}`);
console.log("\nSetpoint solve (bounds, move limits, one held input, λ = 1e-3, or 0 on the collinear model; f64 in the kernel; Newton's iterations are least-squares solves, FISTA's gradient steps):");
console.table(solves.map((s) => {
  const us = median(`setpoint ${s.shape} ${s.method}`);
  return { ...s, "median µs": +us.toFixed(1), "µs per iteration": +(us / s.iterations).toFixed(2) };
}));
// the two steps alternate in short rounds, so the machine's noise hits both alike;
// each round's ratio of medians, and their median, are the overhead
const rounds: { off: number; on: number; ratio: number }[] = [];
for (let round = 0; round < 7; round++) {
  const pair = new Bench({ time: 300, warmup: true });
  pair.add("off", stepModels[0]!);
  pair.add("on", stepModels[1]!);
  await pair.run();
  const p50 = (name: string) => ((pair.tasks.find((t) => t.name === name)!.result as { latency?: { p50?: number } } | undefined)?.latency?.p50 ?? NaN) * 1000;
  rounds.push({ off: p50("off"), on: p50("on"), ratio: p50("on") / p50("off") });
}
const ratios = rounds.map((r) => r.ratio).sort((a, b) => a - b);
const overhead = ratios[ratios.length >> 1]! - 1;
console.log("\nAnomaly tracking on a training step (16, 4, 256), staged batch, in-process; 7 alternating rounds:");
console.table(rounds.map((r, i) => ({ round: i + 1, "off µs": +r.off.toFixed(2), "on µs": +r.on.toFixed(2), "on ÷ off": +r.ratio.toFixed(3) })));
console.log(`overhead (median of the rounds' ratios): ${(overhead * 100).toFixed(1)}% (target < 10%: ${overhead < 0.1 ? "MET" : "MISS"})`);
engine.close();
