// The parameters as a heat map (W, outputs × inputs, with b in the last column;
// colour by sign and size relative to the largest) and feature importance as bars
// (the standardised coefficients, comparable across inputs of different units).
import { el, showNumber } from "./dom.js";
import { formatNumber } from "./format.js";

/** Blue for positive, orange for negative, stronger with |v| / scale. */
function colourOf(value: number, scale: number): string {
  const strength = scale === 0 ? 0 : Math.min(1, Math.abs(value) / scale);
  const alpha = (0.12 + 0.88 * strength).toFixed(3);
  return value >= 0 ? `rgba(56, 139, 253, ${alpha})` : `rgba(240, 136, 62, ${alpha})`;
}

const cell = (value: number, scale: number, label: string): HTMLElement => {
  const node = el("div", { title: `${label} = ${value}`, "data-cell": label });
  node.style.background = colourOf(value, scale);
  showNumber(node, value, formatNumber(value));
  return node;
};

export function renderParams(target: HTMLElement, W: Float32Array, b: Float32Array, inputs: number, outputs: number): void {
  let scale = 0;
  for (const v of W) scale = Math.max(scale, Math.abs(v));
  const grid = el("div", { class: "heat" });
  grid.style.gridTemplateColumns = `2.5em repeat(${inputs}, minmax(0, 1fr)) minmax(0, 1fr)`;
  grid.append(el("div", { class: "head" }));
  for (let k = 0; k < inputs; k++) grid.append(el("div", { class: "head" }, `x${k + 1}`));
  grid.append(el("div", { class: "head" }, "b"));
  for (let j = 0; j < outputs; j++) {
    grid.append(el("div", { class: "head" }, `y${j + 1}`));
    for (let k = 0; k < inputs; k++) grid.append(cell(W[j * inputs + k]!, scale, `W[${j}][${k}]`));
    const bias = cell(b[j]!, Math.abs(b[j]!), `b[${j}]`);
    grid.append(bias);
  }
  target.replaceChildren(grid);
}

/** One bar per input (per output when there are several): length |importance|, colour its sign. */
export function renderImportance(target: HTMLElement, importance: Float32Array | null, inputs: number, outputs: number): void {
  if (!importance) {
    target.replaceChildren(el("p", { class: "muted" }, "Known after two samples."));
    return;
  }
  let scale = 0;
  for (const v of importance) scale = Math.max(scale, Math.abs(v));
  const bars = el("div", { class: "bars" });
  for (let j = 0; j < outputs; j++) {
    if (outputs > 1) bars.append(el("div", { class: "muted" }, `y${j + 1}`));
    for (let k = 0; k < inputs; k++) {
      const value = importance[j * inputs + k]!;
      const fill = el("div", { class: value < 0 ? "fill negative" : "fill" });
      fill.style.width = `${scale === 0 ? 0 : (100 * Math.abs(value)) / scale}%`;
      const number = el("b", { "data-importance": `${j},${k}` });
      showNumber(number, value, formatNumber(value));
      bars.append(el("div", { class: "row" }, el("span", {}, `x${k + 1}`), el("div", { class: "track" }, fill), number));
    }
  }
  target.replaceChildren(bars);
}
