// The per-model series of GET /metrics (Prometheus text), read by the page with its
// token in the Authorization header: anomalies by kind, drift events and samples,
// which the WebSocket tells only the connection that trained.
import { messageOf } from "../base/errors.js";

export const ANOMALY_KINDS = ["residual", "range", "stuck"] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

export interface ModelMetrics {
  step: number;
  loss: number;
  samples: number;
  drift: number;
  anomalies: Record<AnomalyKind, number>;
}

const blank = (): ModelMetrics => ({ step: NaN, loss: NaN, samples: 0, drift: 0, anomalies: { residual: 0, range: 0, stuck: 0 } });

const LINE = /^(gradline_[a-z_]+)\{([^}]*)\} (\S+)$/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

const unescape = (value: string): string => value.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));

/** Each model's values, by name. */
export function parseMetrics(text: string): Map<string, ModelMetrics> {
  const models = new Map<string, ModelMetrics>();
  for (const line of text.split("\n")) {
    const match = LINE.exec(line);
    if (!match) continue;
    const [, name, labelText, valueText] = match;
    const labels: Record<string, string> = {};
    for (const [, key, value] of labelText!.matchAll(LABEL)) labels[key!] = unescape(value!);
    if (labels.model === undefined) continue;
    let model = models.get(labels.model);
    if (!model) models.set(labels.model, (model = blank()));
    const value = Number(valueText);
    switch (name) {
      case "gradline_model_step": model.step = value; break;
      case "gradline_model_loss": model.loss = value; break;
      case "gradline_model_samples_total": model.samples = value; break;
      case "gradline_drift_events_total": model.drift = value; break;
      case "gradline_anomalies_total":
        if ((ANOMALY_KINDS as readonly string[]).includes(labels.kind ?? "")) model.anomalies[labels.kind as AnomalyKind] = value;
        break;
    }
  }
  return models;
}

export type MetricsAnswer =
  | { state: "ok"; text: string }
  /** 401: `invalid` when a token was presented and refused, else none was. */
  | { state: "unauthorized"; invalid: boolean }
  | { state: "down"; detail: string };

/** GET /metrics with the token as a header (never in the URL); also how the page learns whether a token is needed and good. */
export async function fetchMetrics(token: string | undefined): Promise<MetricsAnswer> {
  let response: Response;
  try {
    response = await fetch("/metrics", { headers: token === undefined ? {} : { Authorization: `Bearer ${token}` }, cache: "no-store" });
  } catch (error) {
    return { state: "down", detail: messageOf(error) };
  }
  if (response.status === 401) return { state: "unauthorized", invalid: /error="invalid_token"/.test(response.headers.get("www-authenticate") ?? "") };
  if (!response.ok) return { state: "down", detail: `HTTP ${response.status}` };
  return { state: "ok", text: await response.text() };
}
