// The kernels without gradline's engine, through gradline/kernel (the same code runs
// in Bun, Deno and a browser page; there, pass fetch("/gradline.wasm") or the module's URL).
//   node examples/kernel.mjs
import { readFile } from "node:fs/promises";
import { loadKernel, placeModel, writeHeader, Header, Status } from "gradline/kernel";

// wasm: the bytes of gradline.wasm (in Node: readFile), its URL (a page, Deno, Bun), or fetch(url)
const wasm = await readFile(new URL(import.meta.resolve("gradline/gradline.wasm")));
const kernel = await loadKernel(wasm);
const k = kernel.exports;
const m = 3, n = 2, B = 100;
const at = placeModel(kernel, { m, n, batch: B });
const view = new DataView(kernel.memory.buffer);    // make it again after the memory grows
writeHeader(view, at.model, { m, n, loss: "mse", optimizer: "sgd", flags: 0, lr: 0.3 });

// y = W·x + b with W = [[1, 2, 3], [−1, 0, 0.5]], b = [0.5, −2], on x in [−1, 1)
const xs = Float32Array.from({ length: B * m }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 0) / 2 ** 31 - 1);
const ys = Float32Array.from({ length: B * n }, (_, i) => {
  const [row, j] = [Math.floor(i / n), i % n];
  const [a, c, d] = xs.subarray(row * m, row * m + m);
  return j === 0 ? a + 2 * c + 3 * d + 0.5 : -a + 0.5 * d - 2;
});
new Float32Array(kernel.memory.buffer, at.x, B * m).set(xs);
new Float32Array(kernel.memory.buffer, at.y, B * n).set(ys);
for (let i = 0; i < 2000; i++) {
  const status = k.f32_train__wasmsimd(at.model, at.x, at.y, B, at.scratch);
  if (status !== Status.ok) throw new Error(`status ${status}`);
}
const loss = view.getFloat64(at.model + Header.lossOut, true);
k.f32_raw_params(at.model, at.out);  // W then b, raw units
const params = new Float32Array(kernel.memory.buffer, at.out, n * m + n);
console.log(`loss ${loss.toExponential(2)}; W ${Array.from(params.subarray(0, n * m), (v) => v.toFixed(3))}, b ${Array.from(params.subarray(n * m), (v) => v.toFixed(3))}`);
