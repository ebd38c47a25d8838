// Prediction against actual: a scatter of (actual, predicted) for the rows checked on
// this page, with the diagonal where they agree. Drawn by hand: uPlot is for series in x.
const COLOURS = ["#4cc9f0", "#f0883e", "#a371f7", "#3fb950", "#e3b341"];

export interface Pair { actual: number; predicted: number; output: number }

export function drawPredictedVsActual(canvas: HTMLCanvasElement, pairs: readonly Pair[]): void {
  const ratio = devicePixelRatio;
  const width = canvas.clientWidth || 480;
  const height = canvas.clientHeight || 260;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const ctx = canvas.getContext("2d")!;
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  const pad = 36;
  ctx.font = "12px system-ui";
  ctx.fillStyle = "#8b949e";
  if (pairs.length === 0) {
    ctx.fillText("Paste rows on the right and check them to compare.", pad, height / 2);
    return;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const { actual, predicted } of pairs) {
    lo = Math.min(lo, actual, predicted);
    hi = Math.max(hi, actual, predicted);
  }
  if (hi === lo) [lo, hi] = [lo - 1, hi + 1];
  const margin = (hi - lo) * 0.05;
  [lo, hi] = [lo - margin, hi + margin];
  const x = (v: number) => pad + ((v - lo) / (hi - lo)) * (width - pad * 1.5);
  const y = (v: number) => height - pad + -((v - lo) / (hi - lo)) * (height - pad * 1.5);
  ctx.strokeStyle = "#30363d";
  ctx.strokeRect(pad, pad / 2, width - pad * 1.5, height - pad * 1.5);
  ctx.setLineDash([4, 4]);
  ctx.beginPath();
  ctx.moveTo(x(lo), y(lo));
  ctx.lineTo(x(hi), y(hi));
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillText("actual →", width - pad * 0.5 - 52, height - 10);
  ctx.fillText("predicted ↑", 4, pad / 2 - 4 > 10 ? pad / 2 - 4 : 12);
  ctx.fillText(lo.toPrecision(3), pad, height - 10);
  for (const { actual, predicted, output } of pairs) {
    ctx.fillStyle = COLOURS[output % COLOURS.length]!;
    ctx.beginPath();
    ctx.arc(x(actual), y(predicted), 3.5, 0, 2 * Math.PI);
    ctx.fill();
  }
}
