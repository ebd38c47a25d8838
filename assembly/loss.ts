// Loss and its gradient with respect to the predictions. MSE is PyTorch's
// F.mse_loss (mean over all B·n elements); Huber is F.huber_loss with `delta`.
import { LOSS_HUBER } from "./util/layout";
import { hsum } from "./util/simd";

/**
 * Replaces the predictions in gt (n rows × S lanes) by ∂L/∂ŷ, clears pad lanes
 * batch..S, writes Σ_s ∂L/∂ŷ[j,s] to gb[j] and returns the loss summed over
 * the batch and divided by total·n: the mean loss when the batch is the whole
 * step (total = batch), one shard's share of it otherwise.
 * gt and yt must be 16-byte aligned; S a multiple of 4.
 */
export function f32_loss_grad__wasmsimd(
  kind: i32, delta: f32, gt: usize, yt: usize, n: i32, batch: i32, total: i32, stride: i32, gb: usize,
): f64 {
  const inv = <f32>(1.0 / (<f64>total * <f64>n));
  const huber = kind == LOSS_HUBER;
  const scale = huber ? inv : 2 * inv;
  const vscale = f32x4.splat(scale);
  const vdelta = f32x4.splat(delta);
  const vneg = f32x4.splat(-delta);
  const vhalf = f32x4.splat(0.5);
  const vlin = f32x4.splat(0.5 * delta);
  const whole = batch & ~3;
  let sum: f64 = 0;
  for (let j = 0; j < n; j++) {
    const g = gt + (<usize>(j * stride) << 2);
    const t = yt + (<usize>(j * stride) << 2);
    let lsum = f32x4.splat(0);
    let gsum = f32x4.splat(0);
    let s = 0;
    // vector loop over whole vectors of real samples
    for (; s < whole; s += 4) {
      const p = <usize>s << 2;
      const r = f32x4.sub(v128.load(g + p), v128.load(t + p));
      let d: v128;
      if (huber) {
        const a = f32x4.abs(r);
        const quad = f32x4.mul(vhalf, f32x4.mul(r, r));
        const lin = f32x4.mul(vdelta, f32x4.sub(a, vlin));
        lsum = f32x4.add(lsum, v128.bitselect(quad, lin, f32x4.le(a, vdelta)));
        d = f32x4.mul(f32x4.min(f32x4.max(r, vneg), vdelta), vscale);
      } else {
        lsum = f32x4.add(lsum, f32x4.mul(r, r));
        d = f32x4.mul(r, vscale);
      }
      gsum = f32x4.add(gsum, d);
      v128.store(g + p, d);
    }
    // scalar tail of real samples
    let ltail: f32 = 0;
    let gtail: f32 = 0;
    for (; s < batch; s++) {
      const p = <usize>s << 2;
      const r = load<f32>(g + p) - load<f32>(t + p);
      const d = huberOrSquare(huber, r, delta, scale);
      ltail += huberLoss(huber, r, delta);
      gtail += d;
      store<f32>(g + p, d);
    }
    // pad lanes contribute nothing to the gradient
    for (; s < stride; s++) store<f32>(g + (<usize>s << 2), 0);
    sum += <f64>hsum(lsum) + <f64>ltail;
    store<f32>(gb + (<usize>j << 2), hsum(gsum) + gtail);
  }
  return sum * <f64>inv;
}

@inline function huberLoss(huber: bool, r: f32, delta: f32): f32 {
  if (!huber) return r * r;
  const a = Mathf.abs(r);
  return a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta);
}

@inline function huberOrSquare(huber: bool, r: f32, delta: f32, scale: f32): f32 {
  return (huber ? Mathf.min(Mathf.max(r, -delta), delta) : r) * scale;
}

/** Scalar reference of the loss pass, same layout and contract. */
export function f32_loss_grad__scalar(
  kind: i32, delta: f32, gt: usize, yt: usize, n: i32, batch: i32, total: i32, stride: i32, gb: usize,
): f64 {
  const inv = <f32>(1.0 / (<f64>total * <f64>n));
  const huber = kind == LOSS_HUBER;
  const scale = huber ? inv : 2 * inv;
  let sum: f64 = 0;
  for (let j = 0; j < n; j++) {
    const g = gt + (<usize>(j * stride) << 2);
    const t = yt + (<usize>(j * stride) << 2);
    let lsum: f32 = 0;
    let gsum: f32 = 0;
    for (let s = 0; s < batch; s++) {
      const p = <usize>s << 2;
      const r = load<f32>(g + p) - load<f32>(t + p);
      const d = huberOrSquare(huber, r, delta, scale);
      lsum += huberLoss(huber, r, delta);
      gsum += d;
      store<f32>(g + p, d);
    }
    for (let s = batch; s < stride; s++) store<f32>(g + (<usize>s << 2), 0);
    sum += <f64>lsum;
    store<f32>(gb + (<usize>j << 2), gsum);
  }
  return sum * <f64>inv;
}
