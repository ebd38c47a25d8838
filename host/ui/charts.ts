// The time-series charts (uPlot): loss on a log scale with drift alarms drawn as red
// lines, and anomaly flags per second by kind. Each keeps its series in plain arrays
// the page appends to; setData redraws.
import uPlot from "uplot";
import { formatNumber } from "./format.js";
import { ANOMALY_KINDS, type AnomalyKind } from "./metrics.js";

const MUTED = "#8b949e";
const GRID = "#30363d";
const ACCENT = "#4cc9f0";
const ALARM = "#f85149";
export const KIND_COLOURS: Record<AnomalyKind, string> = { residual: "#f0883e", range: "#a371f7", stuck: "#db61a2" };
const HEIGHT = 240;
/** The shortest time span a chart shows, in seconds: a few points do not stretch over the whole width. */
const MIN_SPAN = 10;

/** The x range of a time chart: its data, reaching `end` if later, at least MIN_SPAN wide. */
function timeRange(min: number | null, max: number | null, end = -Infinity): [number, number] {
  const last = Math.max(max ?? Date.now() / 1000, end);
  const first = min ?? last;
  return last - first < MIN_SPAN ? [last - MIN_SPAN, last] : [first, last];
}

const axis = (size: number): uPlot.Axis => ({ stroke: MUTED, size, grid: { stroke: GRID, width: 1 }, ticks: { stroke: GRID, width: 1 }, font: "12px system-ui" });

/** A chart that follows its container's width. */
function mount(target: HTMLElement, options: Omit<uPlot.Options, "width" | "height">, data: uPlot.AlignedData): uPlot {
  const plot = new uPlot({ ...options, width: Math.max(200, target.clientWidth), height: HEIGHT }, data, target);
  new ResizeObserver(() => plot.setSize({ width: Math.max(200, target.clientWidth), height: HEIGHT })).observe(target);
  return plot;
}

/** Time (s) and loss of the steps a model's updates told, with its drift alarms. */
export interface LossHistory {
  t: number[];
  loss: (number | null)[];
  drifts: { t: number; step: number }[];
}

export class LossChart {
  private readonly plot: uPlot;
  private history: LossHistory = { t: [], loss: [], drifts: [] };

  constructor(private readonly target: HTMLElement) {
    this.plot = mount(target, {
      // the x range reaches the latest alarm: its push comes before the update with its step's loss
      scales: { x: { time: true, range: (_u, min, max) => timeRange(min, max, this.history.drifts.at(-1)?.t) }, y: { distr: 3 } },
      axes: [axis(50), { ...axis(64), values: (_u, ticks) => ticks.map((v) => formatNumber(v)) }],
      series: [{}, { label: "loss", stroke: ACCENT, width: 2, points: { show: (u) => u.data[0].length < 30, size: 6, fill: ACCENT }, value: (_u, v) => formatNumber(v), spanGaps: true }],
      hooks: { draw: [(u) => this.drawDrifts(u)] },
      legend: { show: false }, // the card's title says what the line is
      cursor: { drag: { x: false, y: false } },
    }, [[], []]);
  }

  show(history: LossHistory): void {
    this.history = history;
    this.plot.setData([history.t, history.loss]);
  }

  /** Redraws now: called as a drift push arrives, so its marker shows at once. */
  redraw(): void {
    this.plot.setData([this.history.t, this.history.loss]);
  }

  /** One red line per alarm in view, labelled with its step; the count drawn goes to data-drift-markers. */
  private drawDrifts(u: uPlot): void {
    const { ctx, bbox } = u;
    const [min, max] = [u.scales.x!.min ?? -Infinity, u.scales.x!.max ?? Infinity];
    let drawn = 0;
    ctx.save();
    ctx.strokeStyle = ALARM;
    ctx.fillStyle = ALARM;
    ctx.lineWidth = 2 * devicePixelRatio;
    ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
    ctx.font = `${12 * devicePixelRatio}px system-ui`;
    for (const { t, step } of this.history.drifts) {
      if (t < min || t > max) continue;
      const x = Math.round(u.valToPos(t, "x", true));
      ctx.beginPath();
      ctx.moveTo(x, bbox.top);
      ctx.lineTo(x, bbox.top + bbox.height);
      ctx.stroke();
      ctx.fillText(`drift · step ${step}`, x + 4 * devicePixelRatio, bbox.top + 14 * devicePixelRatio);
      drawn++;
    }
    ctx.restore();
    this.target.dataset.driftMarkers = String(drawn);
  }
}

/** Flags per second of each kind, one point per /metrics poll. */
export interface AnomalyHistory {
  t: number[];
  perSecond: Record<AnomalyKind, number[]>;
}

export class AnomalyChart {
  private readonly plot: uPlot;

  constructor(target: HTMLElement) {
    const stepped = uPlot.paths.stepped!({ align: 1 });
    this.plot = mount(target, {
      scales: { x: { time: true, range: (_u, min, max) => timeRange(min, max) }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [axis(50), { ...axis(48), values: (_u, ticks) => ticks.map((v) => formatNumber(v)) }],
      series: [{}, ...ANOMALY_KINDS.map((kind) => ({
        label: kind, stroke: KIND_COLOURS[kind], fill: `${KIND_COLOURS[kind]}33`, width: 1.5, paths: stepped, points: { show: false },
        value: (_u: uPlot, v: number | null) => formatNumber(v),
      }))],
      legend: { live: false }, // the kinds and their colours; the numbers are in the tiles
      cursor: { drag: { x: false, y: false } },
    }, [[], [], [], []]);
  }

  show(history: AnomalyHistory): void {
    this.plot.setData([history.t, ...ANOMALY_KINDS.map((kind) => history.perSecond[kind])]);
  }
}
