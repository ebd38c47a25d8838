// TensorFlow.js (WebAssembly backend, XNNPACK) forms of the kernel bench's
// training step: the way its users write it, and the fastest hand-written form.
// the umbrella package, as users import it: it also registers the gradients minimize() needs
import * as tf from "@tensorflow/tfjs";
import { getThreadsCount, version_wasm, type BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import type { Problem, Variant } from "./kernel.bench.js";

export interface TfjsInfo {
  backend: string;
  /** The .wasm file the backend loaded (plain, SIMD or threaded SIMD build). */
  binary: string;
  threads: number;
  versionCore: string;
  versionWasm: string;
}

/**
 * Activates the WASM backend and reports what it runs with. In Node the
 * backend's own bundle finds its .wasm files beside itself, so no
 * setWasmPaths is needed.
 */
export async function initTfjs(): Promise<TfjsInfo> {
  if (!(await tf.setBackend("wasm"))) throw new Error("TF.js: the wasm backend failed to initialise");
  await tf.ready();
  const backend = tf.getBackend();
  if (backend !== "wasm") throw new Error(`TF.js: expected the wasm backend, got ${backend}`);
  // The backend's locateFile answers from the same SIMD/threads probes it loaded with. It lives
  // on the Emscripten module, whose type (@types/emscripten) is not installed.
  const module = (tf.backend() as BackendWasm).wasm as { locateFile?: (path: string, prefix: string) => string };
  const locate = module.locateFile;
  const binary = locate ? locate("tfjs-backend-wasm.wasm", "") : "unknown";
  return { backend, binary, threads: getThreadsCount(), versionCore: tf.version_core, versionWasm: version_wasm };
}

/**
 * As TF.js users write it: W in the Dense-layer layout (m×n), tensors made
 * from each arriving batch, `optimizer.minimize` with autodiff, the loss read
 * back (gradline returns it every step too).
 */
export function tfjsMinimize(p: Problem, lr: number): Variant {
  const { W, b } = variables(p);
  const optimizer = tf.train.sgd(lr);
  const predict = (xs: tf.Tensor2D) => tf.add(tf.matMul(xs, W), b);
  return {
    step: () => {
      const cost = tf.tidy(() => {
        const xs = tf.tensor2d(p.x, [p.B, p.m]);
        const ys = tf.tensor2d(p.y, [p.B, p.n]);
        // returnCost = true: minimize returns the loss, never null.
        return optimizer.minimize(() => tf.losses.meanSquaredError(ys, predict(xs)), true) as tf.Scalar;
      });
      cost.dataSync();
      cost.dispose();
    },
    loss: () => mse(p, predict),
    dispose: () => {
      tf.dispose([W, b]);
      optimizer.dispose();
    },
  };
}

/**
 * The fastest form found: explicit gradient, x, xᵀ and y resident, every
 * matMul without transpose flags (tfjs-backend-wasm 4.22 runs those ~12×
 * slower), MSE's 2/(B·n) folded into the step size, no loss computed. The WASM
 * backend runs each op synchronously inside the call, so a step is complete
 * when it returns; nothing is read back.
 */
export function tfjsHandWritten(p: Problem, lr: number): Variant {
  const { W, b } = variables(p);
  const xs = tf.tensor2d(p.x, [p.B, p.m]);
  const xsT = tf.transpose(xs);
  const ys = tf.tensor2d(p.y, [p.B, p.n]);
  const rate = tf.scalar((2 * lr) / (p.B * p.n));
  const predict = (x: tf.Tensor2D) => tf.add(tf.matMul(x, W), b);
  return {
    step: () =>
      tf.tidy(() => {
        const r = tf.sub(predict(xs), ys);
        W.assign(tf.sub(W, tf.mul(tf.matMul(xsT, r), rate)));
        b.assign(tf.sub(b, tf.mul(tf.sum(r, 0), rate)));
      }),
    loss: () => mse(p, predict),
    dispose: () => tf.dispose([W, b, xs, xsT, ys, rate]),
  };
}

/** W (stored m×n, the transpose of gradline's n×m) and b from the problem's initial values. */
function variables(p: Problem): { W: tf.Variable<tf.Rank.R2>; b: tf.Variable<tf.Rank.R1> } {
  return tf.tidy(() => ({ W: tf.variable(tf.transpose(tf.tensor2d(p.W, [p.n, p.m]))), b: tf.variable(tf.tensor1d(p.b)) }));
}

/** Mean squared error over all B·n elements, as F.mse_loss. */
function mse(p: Problem, predict: (x: tf.Tensor2D) => tf.Tensor): number {
  return tf.tidy(() => {
    const loss = tf.losses.meanSquaredError(tf.tensor2d(p.y, [p.B, p.n]), predict(tf.tensor2d(p.x, [p.B, p.m])));
    return loss.dataSync()[0] ?? NaN;
  });
}
