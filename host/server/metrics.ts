// Prometheus text exposition (format 0.0.4): counters, gauges and one histogram,
// with labels. Small enough to own; the server renders it on GET /metrics.

type Labels = Readonly<Record<string, string>>;

/** One labelled series; hot paths hold it instead of naming its labels on every update. */
export interface Series<T> {
  readonly labels: Labels;
  value: T;
}

const NO_LABELS: Labels = Object.freeze({});

const escapeLabel = (v: string): string => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  return entries.length === 0 ? "" : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
}

const number = (v: number): string => (Number.isNaN(v) ? "NaN" : v === Infinity ? "+Inf" : v === -Infinity ? "-Inf" : String(v));

interface Metric {
  render(): string;
}

abstract class Family<T> {
  protected readonly entries = new Map<string, Series<T>>();
  constructor(readonly name: string, readonly help: string, readonly kind: "counter" | "gauge" | "histogram") {}

  protected abstract initial(): T;

  /** The series of these labels, created at zero on first use. */
  series(labels: Labels = NO_LABELS): Series<T> {
    const key = labels === NO_LABELS ? "" : labelText(labels);
    let entry = this.entries.get(key);
    if (!entry) this.entries.set(key, (entry = { labels, value: this.initial() }));
    return entry;
  }

  /** Drops one labelled series (a deleted model's). */
  remove(labels: Labels): void {
    this.entries.delete(labelText(labels));
  }

  protected header(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.kind}\n`;
  }
}

/** One line per series: `name{labels} value`. */
function renderScalars(header: string, name: string, entries: Map<string, Series<number>>): string {
  let out = header;
  for (const { labels, value } of entries.values()) out += `${name}${labelText(labels)} ${number(value)}\n`;
  return out;
}

export class Counter extends Family<number> implements Metric {
  constructor(name: string, help: string) {
    super(name, help, "counter");
  }
  protected initial(): number {
    return 0;
  }
  inc(labels: Labels = NO_LABELS, by = 1): void {
    this.series(labels).value += by;
  }
  render(): string {
    return renderScalars(this.header(), this.name, this.entries);
  }
}

/** A gauge holds set values, or reads them when rendered (`collect`). */
export class Gauge extends Family<number> implements Metric {
  constructor(name: string, help: string, private readonly collect?: () => number) {
    super(name, help, "gauge");
  }
  protected initial(): number {
    return 0;
  }
  set(labels: Labels, value: number): void {
    this.series(labels).value = value;
  }
  render(): string {
    if (this.collect) this.series().value = this.collect();
    return renderScalars(this.header(), this.name, this.entries);
  }
}

/** Cumulative buckets with upper bounds in seconds, as Prometheus expects. */
export class Histogram extends Family<{ counts: Float64Array; sum: number; count: number }> implements Metric {
  constructor(name: string, help: string, private readonly bounds: readonly number[]) {
    super(name, help, "histogram");
  }
  protected initial(): { counts: Float64Array; sum: number; count: number } {
    return { counts: new Float64Array(this.bounds.length), sum: 0, count: 0 };
  }
  observe(seconds: number, labels: Labels = NO_LABELS): void {
    const h = this.series(labels).value;
    // bounds are few and sorted: a linear scan beats a search at this size
    for (let i = 0; i < this.bounds.length; i++) {
      if (seconds <= this.bounds[i]!) {
        h.counts[i]!++;
        break;
      }
    }
    h.sum += seconds;
    h.count++;
  }
  render(): string {
    let out = this.header();
    for (const { labels, value } of this.entries.values()) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += value.counts[i]!;
        out += `${this.name}_bucket${labelText({ ...labels, le: number(bound) })} ${cumulative}\n`;
      });
      out += `${this.name}_bucket${labelText({ ...labels, le: "+Inf" })} ${value.count}\n`;
      out += `${this.name}_sum${labelText(labels)} ${value.sum}\n${this.name}_count${labelText(labels)} ${value.count}\n`;
    }
    return out;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  add<M extends Metric>(metric: M): M {
    this.metrics.push(metric);
    return metric;
  }
  render(): string {
    return this.metrics.map((m) => m.render()).join("");
  }
}

/** The server's metrics, by name. */
export function serverMetrics(read: { connections: () => number; queueDepth: () => number; models: () => number; degraded: () => number }) {
  const registry = new Registry();
  return {
    registry,
    connections: registry.add(new Gauge("gradline_connections", "Open WebSocket connections.", read.connections)),
    connectionsTotal: registry.add(new Counter("gradline_connections_total", "WebSocket connections accepted.")),
    rejectedUpgrades: registry.add(new Counter("gradline_upgrades_rejected_total", "WebSocket upgrades refused, by reason.")),
    messages: registry.add(new Counter("gradline_messages_total", "Frames received, by message type.")),
    batches: registry.add(new Counter("gradline_batches_total", "Training batches applied.")),
    samples: registry.add(new Counter("gradline_samples_total", "Training samples applied.")),
    errors: registry.add(new Counter("gradline_errors_total", "Error replies sent, by code.")),
    stepLatency: registry.add(
      new Histogram("gradline_step_latency_seconds", "Time from a train frame's arrival to its ack being queued for sending.", [
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
      ]),
    ),
    queueDepth: registry.add(new Gauge("gradline_queue_depth", "Training steps accepted and not yet applied.", read.queueDepth)),
    models: registry.add(new Gauge("gradline_models", "Models loaded.", read.models)),
    unreadClosed: registry.add(new Counter("gradline_unread_closed_total", "Connections closed for not reading their replies (over maxBackpressure).")),
    updatesSent: registry.add(new Counter("gradline_updates_sent_total", "Parameter updates pushed to subscribers.")),
    modelLoss: registry.add(new Gauge("gradline_model_loss", "Loss of each model's last step.")),
    modelStep: registry.add(new Gauge("gradline_model_step", "Steps each model has taken.")),
    modelSamples: registry.add(new Counter("gradline_model_samples_total", "Training samples applied to each model.")),
    anomalies: registry.add(new Counter("gradline_anomalies_total", "Readings flagged as anomalous, by model and kind (residual, range, stuck).")),
    driftEvents: registry.add(new Counter("gradline_drift_events_total", "Process changes detected on each model's loss stream.")),
    duplicates: registry.add(new Counter("gradline_duplicate_trains_total", "Trains resent under a (clientId, seq) already taken: answered with the first ack, not applied again.")),
    degraded: registry.add(new Gauge("gradline_storage_degraded", "1 while the data folder fails (writes are refused with E_STORAGE), else 0.", read.degraded)),
    storageErrors: registry.add(new Counter("gradline_storage_errors_total", "Failed writes to the data folder, by operation.")),
    checkpointRounds: registry.add(new Counter("gradline_checkpoint_rounds_total", "Checkpoint rounds completed (changed models written, log truncated).")),
    residentBytes: registry.add(new Gauge("gradline_process_resident_bytes", "Resident memory of the server process (RSS).", () => process.memoryUsage.rss())),
    heapUsedBytes: registry.add(new Gauge("gradline_heap_used_bytes", "JavaScript heap in use on the server's main thread (after the last collection it is the live data).", () => process.memoryUsage().heapUsed)),
  };
}

export type ServerMetrics = ReturnType<typeof serverMetrics>;
