// Fits a line to the points the user clicks, with gradline's kernel in the page:
// gradline/kernel loads build/gradline.wasm, places one model (1 input, 1 output)
// and trains it on every frame while the line still moves. Plot units run from
// 0 to 10 on both axes; the model learns in tenths of them, where x and y lie in
// [0, 1] and plain SGD converges in a few hundred steps.
import { loadKernel, placeModel, writeHeader, Header, Status } from "../../dist/host/kernel/index.js";

const MAX_POINTS = 1024;
const STEPS_PER_FRAME = 25;
const SCALE = 10;
const canvas = document.getElementById("plot");
const status = document.getElementById("fit");
const context = canvas.getContext("2d");
const points = [];

// offsetX/Y: from the canvas's padding edge, inside its border
const toPlot = (event) => ({ x: (event.offsetX / canvas.clientWidth) * SCALE, y: (1 - event.offsetY / canvas.clientHeight) * SCALE });
const toCanvas = (x, y) => [(x / SCALE) * canvas.width, (1 - y / SCALE) * canvas.height];

/** The closed-form least-squares line through the points, or null while it is not determined. */
function leastSquares() {
  const count = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / count;
  const my = points.reduce((s, p) => s + p.y, 0) / count;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += (p.x - mx) ** 2;
    sxy += (p.x - mx) * (p.y - my);
  }
  if (count < 2 || sxx === 0) return null;
  return { slope: sxy / sxx, intercept: my - (sxy / sxx) * mx };
}

function draw(fit, truth) {
  context.clearRect(0, 0, canvas.width, canvas.height);
  const line = (l, colour, dash) => {
    context.beginPath();
    context.setLineDash(dash);
    context.strokeStyle = colour;
    context.lineWidth = 2;
    context.moveTo(...toCanvas(0, l.intercept));
    context.lineTo(...toCanvas(SCALE, l.slope * SCALE + l.intercept));
    context.stroke();
  };
  if (truth) line(truth, "#9aa7b4", [6, 6]);
  if (fit && points.length) line(fit, "#0b6bcb", []);
  context.fillStyle = "#1d2733";
  for (const p of points) {
    const [cx, cy] = toCanvas(p.x, p.y);
    context.beginPath();
    context.arc(cx, cy, 4, 0, 2 * Math.PI);
    context.fill();
  }
}

async function main() {
  if (!crossOriginIsolated) {
    throw new Error("this page is not cross-origin isolated, so the kernel's shared memory is refused: serve it with `npm run example:browser`");
  }
  const kernel = await loadKernel(new URL("../../build/gradline.wasm", import.meta.url));
  const k = kernel.exports;
  const at = placeModel(kernel, { m: 1, n: 1, batch: MAX_POINTS });
  const view = () => new DataView(kernel.memory.buffer);
  const f32 = (ptr, length) => new Float32Array(kernel.memory.buffer, ptr, length);
  writeHeader(view(), at.model, { m: 1, n: 1, loss: "mse", optimizer: "sgd", flags: 0, lr: 0.5 });

  let loss = NaN;
  let moving = false;
  const params = () => {
    k.f32_raw_params(at.model, at.out);
    const [w, b] = f32(at.out, 2);
    return { slope: w, intercept: b * SCALE };
  };
  const stage = () => {
    f32(at.x, points.length).set(points.map((p) => p.x / SCALE));
    f32(at.y, points.length).set(points.map((p) => p.y / SCALE));
    moving = points.length > 0;
  };

  function frame() {
    if (moving) {
      const before = params();
      for (let i = 0; i < STEPS_PER_FRAME; i++) {
        const result = k.f32_train__wasmsimd(at.model, at.x, at.y, points.length, at.scratch);
        if (result !== Status.ok) throw new Error(`the kernel refused the step (status ${result})`);
      }
      loss = view().getFloat64(at.model + Header.lossOut, true) * SCALE * SCALE;
      const after = params();
      // still: neither number moves in its sixth significant digit over a frame
      moving = Math.abs(after.slope - before.slope) > 1e-6 * (1 + Math.abs(after.slope)) || Math.abs(after.intercept - before.intercept) > 1e-6 * (1 + Math.abs(after.intercept));
    }
    const fit = params();
    const truth = leastSquares();
    draw(fit, truth);
    const steps = view().getFloat64(at.model + Header.step, true);
    Object.assign(status.dataset, { slope: fit.slope, intercept: fit.intercept, steps, points: points.length, converged: String(points.length > 0 && !moving) });
    status.textContent = points.length === 0
      ? "Click to add points."
      : `kernel: slope ${fit.slope.toFixed(4)}, intercept ${fit.intercept.toFixed(4)}, mean squared error ${loss.toFixed(4)}, ${steps} steps` +
        (truth ? ` · least squares: slope ${truth.slope.toFixed(4)}, intercept ${truth.intercept.toFixed(4)}` : "") +
        (moving ? "" : " · converged");
    requestAnimationFrame(frame);
  }

  const add = (p) => {
    if (points.length === MAX_POINTS) return;
    points.push(p);
    stage();
  };
  canvas.addEventListener("click", (event) => add(toPlot(event)));
  document.getElementById("clear").addEventListener("click", () => {
    points.length = 0;
    stage();
  });
  document.getElementById("random").addEventListener("click", () => {
    const slope = 2 * Math.random() - 1;
    const intercept = 3 + 4 * Math.random();
    for (let i = 0; i < 10; i++) {
      const x = 0.5 + 9 * Math.random();
      add({ x, y: Math.min(SCALE, Math.max(0, slope * x + intercept + (Math.random() - 0.5))) });
    }
  });
  requestAnimationFrame(frame);
}

main().catch((error) => {
  status.textContent = `The kernel did not start: ${error.message}`;
  status.className = "error";
  status.dataset.error = error.message;
});
