// docs/ABI.md's walkthrough: the module driven by hand, from the document alone, with
// no code of gradline's (not even gradline/kernel). Run: node examples/abi-walkthrough.mjs
import { readFile } from "node:fs/promises";

const wasmBytes = await readFile(new URL("../build/gradline.wasm", import.meta.url));
// 100 samples of y = W·x + b, W = [[1, 2, 3], [−1, 0, 0.5]], b = [0.5, −2]
const xs = Float32Array.from({ length: 300 }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 0) / 2 ** 31 - 1);
const ys = Float32Array.from({ length: 200 }, (_, i) => {
  const [a, c, d] = xs.subarray(3 * (i >> 1), 3 * (i >> 1) + 3);
  return i % 2 === 0 ? a + 2 * c + 3 * d + 0.5 : -a + 0.5 * d - 2;
});

// #region walkthrough
const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536, shared: true });
const { instance } = await WebAssembly.instantiate(wasmBytes, {
  env: { memory, abort: () => { throw new Error("gradline.wasm abort"); } },
});
const k = instance.exports;
if (k.abi_version() !== 3) throw new Error("a gradline.wasm of another ABI version");
const align = (p) => Math.ceil(p / 64) * 64;

const m = 3, n = 2, B = 100;
const model = align(k.heap_base());
const x = align(model + k.model_bytes(m, n));
const y = align(x + 4 * B * m);
const scratch = align(y + 4 * B * n);   // needs no initialisation
const out = align(scratch + k.scratch_bytes(m, n, B));

const dv = new DataView(memory.buffer);
dv.setInt32(model + 0, m, true);        // m
dv.setInt32(model + 4, n, true);        // n
dv.setInt32(model + 8, 0, true);        // LOSS_MSE
dv.setInt32(model + 12, 0, true);       // OPT_SGD
dv.setInt32(model + 16, 0, true);       // flags: no standardisation
dv.setFloat32(model + 20, 0.01, true);  // lr
// θ at model + 128: W (n×m) then b (n); zeros are a valid start

new Float32Array(memory.buffer, x, B * m).set(xs);  // your data, row-major
new Float32Array(memory.buffer, y, B * n).set(ys);
for (let i = 0; i < 100; i++) {
  const status = k.f32_train__wasmsimd(model, x, y, B, scratch);
  if (status !== 0) throw new Error(`status ${status}`);
}
const loss = dv.getFloat64(model + 64, true);
k.f32_raw_params(model, out);  // W then b, raw units
// #endregion
console.log(`after 100 steps at lr 0.01: loss ${loss.toFixed(4)}`);

// the same model with anomaly flags: three passes of warm-up (256 samples), then a reading far out of range
const records = align(out + 4 * (n * m + n));
let flagged = 0;
for (let pass = 0; pass < 4; pass++) {
  if (pass === 3) new Float32Array(memory.buffer, x + 4 * (B - 1) * m, 1).set([40]);
  // #region anomaly
  dv.setInt32(model + 16, 1 | 4 | 8, true);       // standardise, anomaly flags, exclude
  dv.setFloat32(model + 96, 5, true);             // a_residual
  dv.setFloat32(model + 100, 0.5, true);          // a_margin
  dv.setFloat32(model + 104, 32, true);           // a_stuck
  dv.setFloat32(model + 108, 256, true);          // a_warmup
  const cap = B + 64;                             // records: cap × 16 bytes at `records`
  dv.setInt32(model + 80, records, true);         // anomaly_out, before each train
  dv.setInt32(model + 84, cap, true);             // anomaly_cap
  if (k.f32_train__wasmsimd(model, x, y, B, scratch) === 0) {
    const found = dv.getInt32(model + 88, true);  // anomaly_count
    const left = dv.getInt32(model + 92, true);   // anomaly_excluded
    for (let i = 0, at = records; i < Math.min(found, cap); i++, at += 16) {
      console.log(dv.getInt32(at, true), dv.getInt32(at + 4, true), dv.getInt32(at + 8, true), dv.getFloat32(at + 12, true));
    }
  }
  // #endregion
  flagged += dv.getInt32(model + 88, true);
}
console.log(`${flagged} flag(s) in 4 passes`);
