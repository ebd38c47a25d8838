// Optimiser updates with PyTorch's semantics: SGD; momentum (dampening 0,
// optional Nesterov); Adam with bias correction. Each update runs twice: a
// dry pass that only checks every new value is finite, then the writing pass,
// so a diverging step leaves θ and the optimiser state untouched.
import {
  H_LR, H_BETA1, H_BETA2, H_EPS, H_FLAGS, H_OPTIMIZER, H_STEP, FLAG_NESTEROV,
  OPT_MOMENTUM, OPT_ADAM, headerM, headerN, paramCount, round4, thetaOffset, s1Offset, s2Offset,
} from "./util/layout";
import { poison, clean } from "./util/simd";

/** Applies the model's optimiser to θ with `grad`; false (nothing written) if any result is non-finite. */
@inline function update(model: usize, grad: usize, simd: bool): bool {
  const m = headerM(model);
  const n = headerN(model);
  const count = simd ? round4(paramCount(m, n)) : paramCount(m, n);
  const theta = model + thetaOffset();
  const s1 = model + s1Offset(m, n);
  const s2 = model + s2Offset(m, n);
  const lr = load<f32>(model + H_LR);
  const beta1 = load<f32>(model + H_BETA1);
  const kind = load<i32>(model + H_OPTIMIZER);
  if (kind == OPT_ADAM) {
    const beta2 = load<f32>(model + H_BETA2);
    const eps = load<f32>(model + H_EPS);
    const t = load<f64>(model + H_STEP) + 1;
    const stepSize = <f32>(<f64>lr / (1 - Math.pow(<f64>beta1, t)));
    const root2 = <f32>Math.sqrt(1 - Math.pow(<f64>beta2, t));
    if (simd) {
      return adamSimd(theta, s1, s2, grad, count, beta1, beta2, eps, stepSize, root2, false)
        && adamSimd(theta, s1, s2, grad, count, beta1, beta2, eps, stepSize, root2, true);
    }
    return adamScalar(theta, s1, s2, grad, count, beta1, beta2, eps, stepSize, root2, false)
      && adamScalar(theta, s1, s2, grad, count, beta1, beta2, eps, stepSize, root2, true);
  }
  if (kind == OPT_MOMENTUM) {
    const nesterov = (load<i32>(model + H_FLAGS) & FLAG_NESTEROV) != 0;
    if (simd) {
      return momentumSimd(theta, s1, grad, count, lr, beta1, nesterov, false)
        && momentumSimd(theta, s1, grad, count, lr, beta1, nesterov, true);
    }
    return momentumScalar(theta, s1, grad, count, lr, beta1, nesterov, false)
      && momentumScalar(theta, s1, grad, count, lr, beta1, nesterov, true);
  }
  if (simd) return sgdSimd(theta, grad, count, lr, false) && sgdSimd(theta, grad, count, lr, true);
  return sgdScalar(theta, grad, count, lr, false) && sgdScalar(theta, grad, count, lr, true);
}

/** SIMD update over Q (whole vectors; pad entries stay zero). θ, s1, s2, grad 16-byte aligned. */
export function f32_update__wasmsimd(model: usize, grad: usize): bool {
  return update(model, grad, true);
}

/** Scalar reference of the update, over the P real parameters. */
export function f32_update__scalar(model: usize, grad: usize): bool {
  return update(model, grad, false);
}

// θ' = θ − lr·g
function sgdSimd(theta: usize, grad: usize, count: i32, lr: f32, write: bool): bool {
  const vlr = f32x4.splat(lr);
  let bad = f32x4.splat(0);
  for (let p: usize = 0, end = <usize>count << 2; p < end; p += 16) {
    const t = f32x4.sub(v128.load(theta + p), f32x4.mul(vlr, v128.load(grad + p)));
    if (write) v128.store(theta + p, t);
    else bad = poison(bad, t);
  }
  return clean(bad);
}

function sgdScalar(theta: usize, grad: usize, count: i32, lr: f32, write: bool): bool {
  for (let p: usize = 0, end = <usize>count << 2; p < end; p += 4) {
    const t = load<f32>(theta + p) - lr * load<f32>(grad + p);
    if (write) store<f32>(theta + p, t);
    else if (!isFinite<f32>(t)) return false;
  }
  return true;
}

// v' = β·v + g;  θ' = θ − lr·v'  (Nesterov: θ' = θ − lr·(g + β·v'))
function momentumSimd(theta: usize, vel: usize, grad: usize, count: i32, lr: f32, beta: f32, nesterov: bool, write: bool): bool {
  const vlr = f32x4.splat(lr);
  const vbeta = f32x4.splat(beta);
  let bad = f32x4.splat(0);
  for (let p: usize = 0, end = <usize>count << 2; p < end; p += 16) {
    const g = v128.load(grad + p);
    const v = f32x4.add(f32x4.mul(vbeta, v128.load(vel + p)), g);
    const d = nesterov ? f32x4.add(g, f32x4.mul(vbeta, v)) : v;
    const t = f32x4.sub(v128.load(theta + p), f32x4.mul(vlr, d));
    if (write) {
      v128.store(vel + p, v);
      v128.store(theta + p, t);
    } else {
      bad = poison(poison(bad, v), t);
    }
  }
  return clean(bad);
}

function momentumScalar(theta: usize, vel: usize, grad: usize, count: i32, lr: f32, beta: f32, nesterov: bool, write: bool): bool {
  for (let p: usize = 0, end = <usize>count << 2; p < end; p += 4) {
    const g = load<f32>(grad + p);
    const v = beta * load<f32>(vel + p) + g;
    const d = nesterov ? g + beta * v : v;
    const t = load<f32>(theta + p) - lr * d;
    if (write) {
      store<f32>(vel + p, v);
      store<f32>(theta + p, t);
    } else if (!isFinite<f32>(v) || !isFinite<f32>(t)) {
      return false;
    }
  }
  return true;
}

// m' = β1·m + (1−β1)·g;  v' = β2·v + (1−β2)·g²;  θ' = θ − (lr/(1−β1^t)) · m' / (√v'/√(1−β2^t) + ε)
function adamSimd(
  theta: usize, mom: usize, sq: usize, grad: usize, count: i32,
  beta1: f32, beta2: f32, eps: f32, stepSize: f32, root2: f32, write: bool,
): bool {
  const vb1 = f32x4.splat(beta1);
  const vc1 = f32x4.splat(1 - beta1);
  const vb2 = f32x4.splat(beta2);
  const vc2 = f32x4.splat(1 - beta2);
  const veps = f32x4.splat(eps);
  const vstep = f32x4.splat(stepSize);
  const vroot = f32x4.splat(root2);
  let bad = f32x4.splat(0);
  for (let p: usize = 0, end = <usize>count << 2; p < end; p += 16) {
    const g = v128.load(grad + p);
    const m1 = f32x4.add(f32x4.mul(vb1, v128.load(mom + p)), f32x4.mul(vc1, g));
    const v1 = f32x4.add(f32x4.mul(vb2, v128.load(sq + p)), f32x4.mul(vc2, f32x4.mul(g, g)));
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(v1), vroot), veps);
    const t = f32x4.sub(v128.load(theta + p), f32x4.mul(vstep, f32x4.div(m1, denom)));
    if (write) {
      v128.store(mom + p, m1);
      v128.store(sq + p, v1);
      v128.store(theta + p, t);
    } else {
      bad = poison(poison(poison(bad, m1), v1), t);
    }
  }
  return clean(bad);
}

function adamScalar(
  theta: usize, mom: usize, sq: usize, grad: usize, count: i32,
  beta1: f32, beta2: f32, eps: f32, stepSize: f32, root2: f32, write: bool,
): bool {
  for (let p: usize = 0, end = <usize>count << 2; p < end; p += 4) {
    const g = load<f32>(grad + p);
    const m1 = beta1 * load<f32>(mom + p) + (1 - beta1) * g;
    const v1 = beta2 * load<f32>(sq + p) + (1 - beta2) * (g * g);
    const t = load<f32>(theta + p) - stepSize * (m1 / (Mathf.sqrt(v1) / root2 + eps));
    if (write) {
      store<f32>(mom + p, m1);
      store<f32>(sq + p, v1);
      store<f32>(theta + p, t);
    } else if (!isFinite<f32>(m1) || !isFinite<f32>(v1) || !isFinite<f32>(t)) {
      return false;
    }
  }
  return true;
}
