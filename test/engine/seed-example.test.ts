// The source document's example (section 5.2): nn.Linear(m=3, n=5), optim.SGD(lr=0.01),
// F.mse_loss, 100 full-batch iterations on 100 samples, standardisation off.
// gradline must follow a plain transcription of those formulas step by step.
import { describe, expect, it } from "vitest";
import { createEngine, kernelVariants, linearInit } from "../../host/index.js";
import { rng, normals, maxRelError } from "../helpers/random.js";

const m = 3;
const n = 5;
const samples = 100;
const lr = 0.01;

/**
 * The seed's loop in plain f64 arithmetic: output = x Wᵀ + b; loss = mean((output − labels)²)
 * over all B·n elements; autograd gives ∂L/∂W = (2/(B·n)) Σ_s r_s x_sᵀ and ∂L/∂b = (2/(B·n)) Σ_s r_s;
 * optimizer.step(): θ ← θ − lr·∂L/∂θ.
 */
function seedTranscription(data: Float32Array, labels: Float32Array, W0: Float32Array, b0: Float32Array, iterations: number) {
  const W = Array.from(W0);
  const b = Array.from(b0);
  const losses: number[] = [];
  for (let it = 0; it < iterations; it++) {
    const gW = new Array<number>(n * m).fill(0);
    const gb = new Array<number>(n).fill(0);
    let loss = 0;
    for (let s = 0; s < samples; s++) {
      for (let j = 0; j < n; j++) {
        let out = b[j]!;
        for (let k = 0; k < m; k++) out += W[j * m + k]! * data[s * m + k]!;
        const r = out - labels[s * n + j]!;
        loss += r * r;
        const g = (2 / (samples * n)) * r;
        gb[j]! += g;
        for (let k = 0; k < m; k++) gW[j * m + k]! += g * data[s * m + k]!;
      }
    }
    losses.push(loss / (samples * n));
    for (let i = 0; i < n * m; i++) W[i]! -= lr * gW[i]!;
    for (let j = 0; j < n; j++) b[j]! -= lr * gb[j]!;
  }
  return { losses, W, b };
}

describe("the seed's example", () => {
  // data = torch.randn(100, m); labels = torch.randn(100, n); the init stands for nn.Linear's default
  const r = rng(2024);
  const data = normals(r, samples * m);
  const labels = normals(r, samples * n);
  const init = linearInit(m, n, 7);
  const reference = seedTranscription(data, labels, init.W, init.b, 100);

  for (const variant of kernelVariants) {
    it(`${variant.name}: loss and parameters match the transcription at every one of 100 iterations`, async () => {
      const engine = await createEngine({ workers: 0, kernel: variant.name });
      const model = engine.createModel({
        inputs: m, outputs: n, standardize: false, optimizer: { type: "sgd", lr }, init: { W: init.W, b: init.b },
      });
      const curve: string[] = [];
      for (let it = 0; it < 100; it++) {
        const { loss, step } = model.train(data, labels);
        expect(step).toBe(it + 1);
        expect(Math.abs(loss - reference.losses[it]!) / reference.losses[it]!, `loss at iteration ${it}`).toBeLessThan(1e-5);
        if (it % 10 === 0) curve.push(`Iter ${it}, loss: ${loss.toFixed(4)}`);
      }
      const p = model.params();
      expect(maxRelError(p.W, reference.W).error).toBeLessThan(1e-5);
      expect(maxRelError(p.b, reference.b).error).toBeLessThan(1e-5);
      // pure noise labels: the loss falls but cannot go far below the labels' variance (≈ 1)
      expect(reference.losses[99]!).toBeLessThan(reference.losses[0]!);
      expect(curve).toHaveLength(10);
      engine.close();
    });
  }
});
