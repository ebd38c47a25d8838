// A plain TypeScript linear model trained by gradient descent: the baseline
// beside every WebAssembly variant in the benchmarks, and the reference the
// tests hold the kernels to. Row-major Float32Array state, no standardisation,
// the same formulas as PyTorch's nn.Linear + F.mse_loss/F.huber_loss + optim.

import type { ResolvedOptimizer } from "../host/index.js";

/** Every hyperparameter spelled out, as the engine resolves them. */
export type PlainOptimizer = ResolvedOptimizer;

export interface PlainOptions {
  inputs: number;
  outputs: number;
  loss: "mse" | "huber";
  huberDelta: number;
  l2: number;
  optimizer: PlainOptimizer;
}

export class PlainLinear {
  readonly m: number;
  readonly n: number;
  /** W (n×m row-major) then b (n), like the kernels' θ. */
  readonly theta: Float32Array;
  readonly grad: Float32Array;
  readonly s1: Float32Array;
  readonly s2: Float32Array;
  step = 0;
  private yhat = new Float32Array(0);

  constructor(readonly options: PlainOptions, W: ArrayLike<number>, b: ArrayLike<number>) {
    this.m = options.inputs;
    this.n = options.outputs;
    const p = this.n * this.m + this.n;
    this.theta = new Float32Array(p);
    this.theta.set(W);
    this.theta.set(b, this.n * this.m);
    this.grad = new Float32Array(p);
    this.s1 = new Float32Array(p);
    this.s2 = new Float32Array(p);
  }

  /** ŷ = W x + b for each row of x (B×m), into a B×n array. */
  predict(x: Float32Array, batch: number, out = new Float32Array(batch * this.n)): Float32Array {
    const { m, n, theta } = this;
    const bias = n * m;
    for (let s = 0; s < batch; s++) {
      const xs = s * m;
      for (let j = 0; j < n; j++) {
        const wj = j * m;
        let acc = theta[bias + j]!;
        for (let k = 0; k < m; k++) acc += theta[wj + k]! * x[xs + k]!;
        out[s * n + j] = acc;
      }
    }
    return out;
  }

  /** Mean loss over all B·n elements, and ∂L/∂θ into `grad` (L2 on W included). */
  lossAndGradient(x: Float32Array, y: Float32Array, batch: number): number {
    const { m, n, theta, grad } = this;
    const { loss: kind, huberDelta: delta, l2 } = this.options;
    if (this.yhat.length < batch * n) this.yhat = new Float32Array(batch * n);
    const yhat = this.predict(x, batch, this.yhat);
    const inv = 1 / (batch * n);
    const bias = n * m;
    grad.fill(0);
    let total = 0;
    for (let s = 0; s < batch; s++) {
      const xs = s * m;
      for (let j = 0; j < n; j++) {
        const r = yhat[s * n + j]! - y[s * n + j]!;
        let g: number;
        if (kind === "huber") {
          const a = Math.abs(r);
          total += a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta);
          g = Math.min(Math.max(r, -delta), delta) * inv;
        } else {
          total += r * r;
          g = 2 * r * inv;
        }
        grad[bias + j]! += g;
        const wj = j * m;
        for (let k = 0; k < m; k++) grad[wj + k]! += g * x[xs + k]!;
      }
    }
    if (l2 !== 0) for (let i = 0; i < bias; i++) grad[i]! += l2 * theta[i]!;
    return total * inv;
  }

  /** One optimiser step on a batch; returns the loss before the update. */
  train(x: Float32Array, y: Float32Array, batch: number): number {
    const loss = this.lossAndGradient(x, y, batch);
    this.apply(this.grad);
    return loss;
  }

  /** The optimiser's update of θ with gradient g (PyTorch's update rules). */
  apply(g: Float32Array): void {
    const { theta, s1, s2 } = this;
    const o = this.options.optimizer;
    this.step++;
    if (o.type === "sgd") {
      for (let i = 0; i < theta.length; i++) theta[i]! -= o.lr * g[i]!;
    } else if (o.type === "momentum") {
      for (let i = 0; i < theta.length; i++) {
        const v = o.momentum * s1[i]! + g[i]!;
        s1[i] = v;
        theta[i]! -= o.lr * (o.nesterov ? g[i]! + o.momentum * v : v);
      }
    } else {
      const c1 = 1 - o.beta1 ** this.step;
      const c2 = 1 - o.beta2 ** this.step;
      for (let i = 0; i < theta.length; i++) {
        const gi = g[i]!;
        s1[i] = o.beta1 * s1[i]! + (1 - o.beta1) * gi;
        s2[i] = o.beta2 * s2[i]! + (1 - o.beta2) * gi * gi;
        theta[i]! -= (o.lr / c1) * (s1[i]! / (Math.sqrt(s2[i]!) / Math.sqrt(c2) + o.eps));
      }
    }
  }
}
