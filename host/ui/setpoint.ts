// The setpoint panel: per input its bounds and present value, per output its target;
// the answer fills in the recommended inputs, the predicted outputs, which constraint
// binds each input and whether the target is reachable.
import type { SetpointAnswer } from "../client/client.js";
import type { SetpointRequest } from "../engine/setpoint.js";
import { byId, el } from "./dom.js";
import { formatNumber } from "./format.js";

const BINDS: Record<string, string> = { lower: "at lower bound", upper: "at upper bound", "move-down": "max move down", "move-up": "max move up", fixed: "fixed" };

const field = (name: string, placeholder: string): HTMLInputElement => el("input", { name, inputmode: "decimal", placeholder, autocomplete: "off" });

export class SetpointPanel {
  private readonly inputsTable = byId<HTMLTableElement>("sp-inputs");
  private readonly outputsTable = byId<HTMLTableElement>("sp-outputs");
  private readonly summary = byId("sp-summary");
  private shape = "";

  /** Rebuilds the form for a model of this shape; values typed for the same shape stay. */
  build(inputs: number, outputs: number): void {
    const shape = `${inputs}x${outputs}`;
    if (shape === this.shape) return;
    this.shape = shape;
    this.inputsTable.replaceChildren(el("tr", {}, ...["input", "lower", "upper", "current", "recommended", ""].map((h) => el("th", {}, h))));
    for (let k = 0; k < inputs; k++) {
      this.inputsTable.append(el("tr", {},
        el("td", {}, `x${k + 1}`),
        el("td", {}, field(`lower${k}`, "−∞")), el("td", {}, field(`upper${k}`, "+∞")), el("td", {}, field(`current${k}`, "—")),
        el("td", { class: "out", "data-recommended": String(k) }, "–"), el("td", { class: "bind", "data-binding": String(k) })));
    }
    this.outputsTable.replaceChildren(el("tr", {}, ...["output", "target", "predicted"].map((h) => el("th", {}, h))));
    for (let j = 0; j < outputs; j++) {
      this.outputsTable.append(el("tr", {}, el("td", {}, `y${j + 1}`), el("td", {}, field(`target${j}`, "required")), el("td", { class: "out", "data-predicted": String(j) }, "–")));
    }
    this.summary.textContent = "";
  }

  /** The request the form describes; throws with what to fix. */
  read(form: HTMLFormElement, inputs: number, outputs: number): SetpointRequest {
    /** The number in field `what` of x_i or y_i (`of`), undefined when left empty. */
    const value = (what: string, of: string, index: number): number | undefined => {
      const text = (form.elements.namedItem(`${what}${index}`) as HTMLInputElement).value.trim();
      if (text === "") return undefined;
      const number = Number(text);
      if (Number.isNaN(number)) throw new Error(`the ${what} of ${of}${index + 1} is not a number`);
      return number;
    };
    const target = Array.from({ length: outputs }, (_, j) => value("target", "y", j));
    if (target.some((v) => v === undefined)) throw new Error("give every output a target");
    const lower = Array.from({ length: inputs }, (_, k) => value("lower", "x", k) ?? -Infinity);
    const upper = Array.from({ length: inputs }, (_, k) => value("upper", "x", k) ?? Infinity);
    const current = Array.from({ length: inputs }, (_, k) => value("current", "x", k));
    const given = current.filter((v) => v !== undefined).length;
    if (given !== 0 && given !== inputs) throw new Error("give the current value of every input, or of none");
    const request: SetpointRequest = { target: target as number[], lower, upper };
    if (given === inputs) request.current = current as number[];
    return request;
  }

  show(answer: SetpointAnswer, current: readonly number[] | undefined): void {
    answer.x.forEach((v, k) => {
      const cellNode = this.inputsTable.querySelector<HTMLElement>(`[data-recommended="${k}"]`)!;
      const move = current ? ` (${v - current[k]! >= 0 ? "+" : "−"}${formatNumber(Math.abs(v - current[k]!))})` : "";
      cellNode.textContent = `${formatNumber(v)}${move}`;
      cellNode.dataset.value = String(v);
      const binding = answer.active[k];
      this.inputsTable.querySelector<HTMLElement>(`[data-binding="${k}"]`)!.textContent = binding ? BINDS[binding] ?? binding : "";
    });
    answer.predicted.forEach((v, j) => {
      const cellNode = this.outputsTable.querySelector<HTMLElement>(`[data-predicted="${j}"]`)!;
      cellNode.textContent = formatNumber(v);
      cellNode.dataset.value = String(v);
    });
    const reach = el("span", { class: answer.reachable ? "reach-yes" : "reach-no", id: "sp-reachable" }, answer.reachable ? "target reachable" : "target not reachable within the bounds");
    this.summary.replaceChildren(reach, ` · ${answer.iterations} iterations${answer.converged ? "" : " (not converged)"} · parameters v${answer.version}`);
  }

  error(message: string): void {
    this.summary.replaceChildren(el("span", { class: "error" }, message));
  }
}
