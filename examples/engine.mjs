// The engine as a library, no server: a model trained on worker threads.
//   node examples/engine.mjs
import { createEngine } from "gradline";

const engine = await createEngine(); // a worker per core over one shared WebAssembly memory
const model = engine.createModel({
  inputs: 3, // temperature, pressure, feed ratio
  outputs: 2, // yield, energy
  loss: "huber", // or "mse" (default)
  optimizer: { type: "adam", lr: 0.01 }, // "sgd" (default, lr 0.01), "momentum", "adam"
  l2: 1e-4,
  standardize: true, // default: train on standardised data, report raw units
  seed: 7, // deterministic initialisation
});

// x: B rows of 3 inputs, y: B rows of 2 outputs, row-major; here yield = 0.2·T − 3·p + 10·r and energy = 0.05·T + p
const rows = 64;
const x = new Float32Array(rows * 3);
const y = new Float32Array(rows * 2);
for (let i = 0; i < rows; i++) {
  const [T, p, r] = [170 + (i % 16) * 2, 10 + (i % 5) * 0.5, 0.4 + (i % 7) * 0.05];
  x.set([T, p, r], i * 3);
  y.set([0.2 * T - 3 * p + 10 * r, 0.05 * T + p], i * 2);
}
// steps of one model run in arrival order: send many without waiting
await Promise.all(Array.from({ length: 999 }, () => model.train(x, y)));
const { loss, step, version } = await model.train(x, y);
const yhat = model.predict(x.subarray(0, 3)); // 1 × 2, raw units, from the last committed step
const { W, b } = model.params(); // raw units: W is 2 × 3 row-major
console.log(`step ${step} (version ${version}), loss ${loss.toFixed(5)}; first row: predicted ${Array.from(yhat, (v) => v.toFixed(2))}, measured ${Array.from(y.subarray(0, 2), (v) => v.toFixed(2))}`);
console.log(`W ${Array.from(W, (w) => w.toFixed(2))}, b ${Array.from(b, (v) => v.toFixed(2))}`);
const bytes = model.snapshot(); // versioned, self-describing MessagePack
const copy = engine.restoreModel(bytes);
console.log(`restored a copy at step ${copy.params().step} from ${bytes.length} bytes`);
await engine.close(); // finishes accepted steps, stops the workers
