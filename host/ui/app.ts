// The dashboard page: asks for a token when the server needs one, connects with the
// project's own client, keeps every model's numbers and history live (subscription
// updates and drift pushes over the WebSocket, anomaly, drift and sample counters
// from /metrics once a second) and draws the selected model. Writes (create, train,
// delete) go through the same client; a read-only token is refused by the server,
// and the page then hides what it cannot do.
import { GradlineError, messageOf } from "../base/errors.js";
import { connect, type GradlineClient, type Update } from "../client/index.js";
import type { ModelInfo } from "../protocol/messages.js";
import { AnomalyChart, LossChart, type AnomalyHistory, type LossHistory } from "./charts.js";
import { byId, el, showNumber } from "./dom.js";
import { formatNumber, formatRate } from "./format.js";
import { ANOMALY_KINDS, fetchMetrics, parseMetrics, type ModelMetrics } from "./metrics.js";
import { renderImportance, renderParams } from "./params.js";
import { drawPredictedVsActual, type Pair } from "./pva.js";
import { parseRows } from "./rows.js";
import { SetpointPanel } from "./setpoint.js";
import { forgetToken, storedToken, storeToken } from "./token.js";

/** Points of history kept per model (an hour of one a second). */
const HISTORY = 3600;
/** Rows of prediction against actual kept per model. */
const PAIRS = 2000;
const METRICS_EVERY_MS = 1000;
const LIST_EVERY_MS = 2000;

interface ModelView {
  info: ModelInfo;
  step: number;
  version: number;
  loss: number | null;
  lossHistory: LossHistory;
  anomalies: AnomalyHistory;
  metrics: ModelMetrics | undefined;
  /** The last poll's samples and time, for samples/s. */
  polled: { t: number; samples: number; anomalies: Record<string, number> } | undefined;
  rate: number | null;
  params: Update | undefined;
  pairs: Pair[];
  row: HTMLTableRowElement;
}

const now = (): number => Date.now() / 1000;
const push = <T>(list: T[], value: T): void => {
  list.push(value);
  if (list.length > HISTORY) list.shift();
};
const totalAnomalies = (m: ModelMetrics | undefined): number | null => (m ? ANOMALY_KINDS.reduce((sum, kind) => sum + m.anomalies[kind], 0) : null);
/** An error as the page shows it: a GradlineError with its code. */
const shown = (error: unknown): string => (error instanceof GradlineError ? `${error.code}: ${error.message}` : messageOf(error));

class Dashboard {
  private client: GradlineClient | undefined;
  private token: string | undefined;
  private readonly models = new Map<string, ModelView>();
  private selected: string | undefined;
  private readonly loss = new LossChart(byId("loss-chart"));
  private readonly anomalyChart = new AnomalyChart(byId("anomaly-chart"));
  private readonly setpoint = new SetpointPanel();

  async start(): Promise<void> {
    this.wire();
    setInterval(() => (byId("clock").textContent = new Date().toLocaleTimeString("en-GB")), 1000);
    this.token = storedToken();
    // a server with tokens says so in the page: ask first rather than be refused (a 401 is a console error)
    const needed = document.querySelector<HTMLMetaElement>('meta[name="gradline-auth"]')?.content === "token";
    if (needed && this.token === undefined) this.token = await this.askToken("");
    for (;;) {
      const answer = await fetchMetrics(this.token);
      if (answer.state === "ok") break;
      if (answer.state === "unauthorized") {
        this.token = await this.askToken(answer.invalid ? "The server did not accept this token. Check it and try again." : "");
        continue;
      }
      this.status("down", `server unreachable (${answer.detail}); retrying`);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    if (this.token !== undefined) byId("logout").hidden = false;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`;
    this.client = await connect(url, {
      ...(this.token === undefined ? {} : { token: this.token }),
      onStatus: (status, detail) => this.status(status === "connected" ? "connected" : "down", status === "connected" ? "connected" : `connection lost (${detail ?? ""}); reconnecting`),
    });
    this.status("connected", "connected");
    await this.refreshModels();
    setInterval(() => void this.refreshModels().catch((error) => this.notice(shown(error))), LIST_EVERY_MS);
    setInterval(() => void this.pollMetrics(), METRICS_EVERY_MS);
    void this.pollMetrics();
  }

  /** Shows the token dialog until a token the server accepts is given; keeps it in sessionStorage. */
  private askToken(message: string): Promise<string> {
    const dialog = byId<HTMLDialogElement>("login");
    const input = byId<HTMLInputElement>("token");
    byId("login-error").textContent = message;
    this.status("down", "token required");
    if (!dialog.open) dialog.showModal();
    return new Promise((resolve) => {
      // assigned, not added: a second ask replaces the first one's handler
      byId<HTMLFormElement>("login-form").onsubmit = (event) => {
        event.preventDefault();
        const token = input.value.trim();
        void fetchMetrics(token).then((answer) => {
          if (answer.state === "unauthorized") {
            byId("login-error").textContent = "The server did not accept this token. Check it and try again.";
            input.select();
            return;
          }
          storeToken(token);
          input.value = "";
          dialog.close();
          resolve(token);
        });
      };
    });
  }

  private wire(): void {
    // Escape would close the dialog and leave the page waiting for a token nobody can give
    byId("login").addEventListener("cancel", (event) => event.preventDefault());
    byId("logout").addEventListener("click", () => {
      forgetToken();
      location.reload();
    });
    byId<HTMLFormElement>("create").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = event.target as HTMLFormElement;
      const value = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).value.trim();
      const name = value("name");
      void this.write(async (client) => {
        const info = await client.create(name, { inputs: Number(value("inputs")), outputs: Number(value("outputs")) });
        this.notice(info.created ? `Model ${name} created.` : `Model ${name} exists with these options: opened.`);
        await this.refreshModels();
        this.select(name);
      });
    });
    byId("delete").addEventListener("click", () => {
      const name = this.selected;
      if (name === undefined || !confirm(`Delete model ${name}? Its parameters and history are lost.`)) return;
      void this.write(async (client) => {
        await client.delete(name);
        this.notice(`Model ${name} deleted.`);
        await this.refreshModels();
      });
    });
    byId<HTMLFormElement>("rows").addEventListener("submit", (event) => {
      event.preventDefault();
      const train = (event.submitter as HTMLButtonElement | null)?.value === "train";
      void this.checkRows(event.target as HTMLFormElement, train);
    });
    byId<HTMLFormElement>("setpoint").addEventListener("submit", (event) => {
      event.preventDefault();
      const view = this.selected === undefined ? undefined : this.models.get(this.selected);
      if (!view || !this.client) return;
      const { inputs, outputs } = view.info.config;
      let request;
      try {
        request = this.setpoint.read(event.target as HTMLFormElement, inputs, outputs);
      } catch (error) {
        return this.setpoint.error(shown(error));
      }
      this.client.setpoint(view.info.model, request).then(
        (answer) => this.setpoint.show(answer, request.current as number[] | undefined),
        (error: unknown) => this.setpoint.error(shown(error)),
      );
    });
  }

  /** Runs a write; E_FORBIDDEN says the token may not, and the page stops offering writes. */
  private async write(action: (client: GradlineClient) => Promise<void>): Promise<void> {
    if (!this.client) return;
    try {
      await action(this.client);
    } catch (error) {
      if (error instanceof GradlineError && error.code === "E_FORBIDDEN" && /read-only/.test(error.message)) {
        document.body.classList.add("read-only");
        const access = byId("access");
        access.hidden = false;
        access.textContent = "read-only";
        return this.notice("Refused: this token is read-only. It sees everything and can change nothing.");
      }
      this.notice(`Refused: ${shown(error)}`);
    }
  }

  /** Predicts the pasted rows (and trains on them after, when asked): the pairs feed prediction against actual. */
  private async checkRows(form: HTMLFormElement, train: boolean): Promise<void> {
    const view = this.selected === undefined ? undefined : this.models.get(this.selected);
    const result = byId("rows-result");
    if (!view || !this.client) return;
    const { inputs, outputs } = view.info.config;
    let rows;
    try {
      rows = parseRows((form.elements.namedItem("csv") as HTMLTextAreaElement).value, inputs, outputs);
    } catch (error) {
      result.textContent = shown(error);
      return;
    }
    try {
      const prediction = await this.client.predict(view.info.model, rows.x);
      let absolute = 0;
      for (let i = 0; i < rows.y.length; i++) {
        view.pairs.push({ actual: rows.y[i]!, predicted: prediction.y[i]!, output: i % outputs });
        absolute += Math.abs(rows.y[i]! - prediction.y[i]!);
      }
      view.pairs.splice(0, Math.max(0, view.pairs.length - PAIRS));
      this.drawPairs(view);
      const mae = `${rows.rows} rows · MAE ${formatNumber(absolute / rows.y.length)} (parameters v${prediction.version})`;
      result.textContent = mae;
      if (train) {
        await this.write(async (client) => {
          const ack = await client.train(view.info.model, rows.x, rows.y);
          result.textContent = `${mae}, then trained: step ${ack.step}, loss ${formatNumber(ack.loss)}`;
        });
      }
    } catch (error) {
      result.textContent = shown(error);
    }
  }

  private async refreshModels(): Promise<void> {
    const client = this.client!;
    const listed = await client.list();
    const names = new Set(listed.map((info) => info.model));
    for (const name of [...this.models.keys()]) if (!names.has(name)) this.remove(name);
    for (const info of listed) {
      if (this.models.has(info.model)) continue;
      const view = this.add(info);
      await client.subscribe(info.model, { everySteps: 1, minIntervalMs: 200 }, (update) => this.updated(view, update), {
        onDrift: (event) => this.drifted(view, event.step),
        onDeleted: () => this.remove(info.model),
      }).catch(() => this.remove(info.model));
    }
    byId("no-models").hidden = this.models.size > 0;
    if (this.selected === undefined || !this.models.has(this.selected)) {
      const first = this.models.keys().next();
      if (first.done) this.select(undefined);
      else this.select(first.value);
    }
  }

  private add(info: ModelInfo): ModelView {
    const row = el("tr", { "data-model": info.model });
    row.addEventListener("click", () => this.select(info.model));
    const view: ModelView = {
      info, step: info.step, version: info.version, loss: info.loss,
      lossHistory: { t: [], loss: [], drifts: [] }, anomalies: { t: [], perSecond: { residual: [], range: [], stuck: [] } },
      metrics: undefined, polled: undefined, rate: null, params: undefined, pairs: [], row,
    };
    row.append(el("td", {}, info.model), ...["step", "version", "loss", "rate", "anomalies", "drift"].map((c) => el("td", { "data-column": c })));
    // rows in name order, as list gives them
    const body = byId<HTMLTableElement>("models").tBodies[0]!;
    const after = Array.from(body.rows).find((r) => (r.dataset.model ?? "") > info.model);
    body.insertBefore(row, after ?? null);
    this.models.set(info.model, view);
    this.renderRow(view);
    return view;
  }

  private remove(name: string): void {
    const view = this.models.get(name);
    if (!view) return;
    view.row.remove();
    this.models.delete(name);
    if (this.selected === name) this.select(this.models.keys().next().value);
    byId("no-models").hidden = this.models.size > 0;
  }

  private updated(view: ModelView, update: Update): void {
    view.step = update.step;
    view.version = update.version;
    view.loss = update.loss;
    view.params = update;
    if (update.loss !== null) {
      push(view.lossHistory.t, now());
      push(view.lossHistory.loss, update.loss > 0 ? update.loss : null); // a log scale has no place for 0
    }
    this.renderRow(view);
    if (view.info.model !== this.selected) return;
    this.renderTiles(view);
    this.loss.show(view.lossHistory);
    renderParams(byId("params"), update.W, update.b, update.inputs, update.outputs);
    renderImportance(byId("importance"), update.importance, update.inputs, update.outputs);
  }

  /** A drift push: marked on the loss chart at once, not at the next poll. */
  private drifted(view: ModelView, step: number): void {
    view.lossHistory.drifts.push({ t: now(), step });
    if (view.info.model !== this.selected) return;
    const chart = byId("loss-chart");
    chart.dataset.lastDriftStep = String(step);
    chart.dataset.lastDriftAt = String(Date.now());
    this.loss.redraw();
  }

  private async pollMetrics(): Promise<void> {
    const answer = await fetchMetrics(this.token);
    if (answer.state === "unauthorized") return this.notice("The server no longer accepts this token: reload the page and give a new one.");
    if (answer.state !== "ok") return;
    const t = now();
    const all = parseMetrics(answer.text);
    for (const view of this.models.values()) {
      const m = all.get(view.info.model);
      if (!m) continue;
      view.metrics = m;
      const before = view.polled;
      if (before && t > before.t) {
        view.rate = (m.samples - before.samples) / (t - before.t);
        push(view.anomalies.t, t);
        for (const kind of ANOMALY_KINDS) push(view.anomalies.perSecond[kind], Math.max(0, m.anomalies[kind] - before.anomalies[kind]!) / (t - before.t));
      }
      view.polled = { t, samples: m.samples, anomalies: { ...m.anomalies } };
      this.renderRow(view);
      if (view.info.model === this.selected) {
        this.renderTiles(view);
        this.anomalyChart.show(view.anomalies);
      }
    }
  }

  private select(name: string | undefined): void {
    this.selected = name;
    for (const view of this.models.values()) view.row.classList.toggle("selected", view.info.model === name);
    const detail = byId("detail");
    const view = name === undefined ? undefined : this.models.get(name);
    detail.hidden = !view;
    if (!view) return;
    const { inputs, outputs, optimizer } = view.info.config;
    byId("model-name").textContent = view.info.model;
    byId("model-shape").textContent = `${inputs} inputs → ${outputs} output${outputs === 1 ? "" : "s"} · ${optimizer.type}`;
    this.setpoint.build(inputs, outputs);
    this.renderTiles(view);
    this.loss.show(view.lossHistory);
    this.anomalyChart.show(view.anomalies);
    if (view.params) {
      renderParams(byId("params"), view.params.W, view.params.b, inputs, outputs);
      renderImportance(byId("importance"), view.params.importance, inputs, outputs);
    } else {
      byId("params").replaceChildren(el("p", { class: "muted" }, "Waiting for the first update."));
      byId("importance").replaceChildren();
    }
    this.drawPairs(view);
  }

  private drawPairs(view: ModelView): void {
    if (view.info.model !== this.selected) return;
    drawPredictedVsActual(byId<HTMLCanvasElement>("pva"), view.pairs);
    byId("pva-note").textContent = view.pairs.length === 0
      ? "gradline relays no controller's data to watchers: paste rows from the line to compare the model with them."
      : `${view.pairs.length} values; dashed: prediction = actual.`;
  }

  private renderRow(view: ModelView): void {
    this.renderFigures(view, (field) => view.row.querySelector<HTMLElement>(`[data-column="${field}"]`));
  }

  private renderTiles(view: ModelView): void {
    this.renderFigures(view, (field) => (field === "version" ? null : byId(`t-${field}`)));
  }

  /** The figures of a model where `at` finds a place for them (the table's row, the tiles), anomalies and drift marked when there are any. */
  private renderFigures(view: ModelView, at: (field: string) => HTMLElement | null): void {
    const anomalies = totalAnomalies(view.metrics);
    const drift = view.metrics?.drift ?? null;
    const figures: [string, number | null | undefined, string][] = [
      ["step", view.step, formatNumber(view.step)], ["version", view.version, formatNumber(view.version)],
      ["loss", view.loss, formatNumber(view.loss)], ["rate", view.rate, formatRate(view.rate)],
      ["anomalies", anomalies, formatNumber(anomalies)], ["drift", drift, formatNumber(drift)],
    ];
    for (const [field, value, text] of figures) {
      const node = at(field);
      if (node) showNumber(node, value, text);
    }
    at("anomalies")!.classList.toggle("flagged", (anomalies ?? 0) > 0);
    at("drift")!.classList.toggle("alarm", (drift ?? 0) > 0);
  }

  private status(state: "connected" | "down" | "connecting", text: string): void {
    const node = byId("status");
    node.dataset.state = state;
    node.textContent = text;
  }

  private notice(text: string): void {
    const node = byId("notice");
    node.hidden = false;
    node.textContent = text;
  }
}

void new Dashboard().start().catch((error: unknown) => {
  const node = byId("status");
  node.dataset.state = "down";
  node.textContent = `could not connect: ${shown(error)}`;
});
