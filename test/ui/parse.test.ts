// What the dashboard page reads without a browser: the server's own /metrics text
// parsed per model, and rows pasted on the page refused by line number.
import { describe, expect, it } from "vitest";
import { serverMetrics } from "../../host/server/metrics.js";
import { parseMetrics } from "../../host/ui/metrics.js";
import { parseRows } from "../../host/ui/rows.js";

describe("the page's parsers", () => {
  it("reads each model's step, loss, samples, drift and anomalies from the text the server renders", () => {
    const metrics = serverMetrics({ connections: () => 1, queueDepth: () => 0, models: () => 2, degraded: () => 0 });
    for (const [model, step] of [["kiln-3", 120], ["press.2", 7]] as const) {
      metrics.modelStep.set({ model }, step);
      metrics.modelLoss.set({ model }, step / 1000);
      metrics.modelSamples.inc({ model }, step * 32);
    }
    metrics.driftEvents.inc({ model: "kiln-3" });
    metrics.anomalies.inc({ model: "kiln-3", kind: "range" }, 4);
    metrics.anomalies.inc({ model: "press.2", kind: "stuck" });
    metrics.batches.inc(); // a series without a model label is no model's
    const parsed = parseMetrics(metrics.registry.render());
    expect([...parsed.keys()]).toEqual(["kiln-3", "press.2"]);
    expect(parsed.get("kiln-3")).toEqual({ step: 120, loss: 0.12, samples: 3840, drift: 1, anomalies: { residual: 0, range: 4, stuck: 0 } });
    expect(parsed.get("press.2")).toEqual({ step: 7, loss: 0.007, samples: 224, drift: 0, anomalies: { residual: 0, range: 0, stuck: 1 } });
  });

  it("splits pasted rows into x and y, and names the line that does not fit", () => {
    const rows = parseRows("# temperature, pressure, yield\n180, 2.0, 14.5\r\n\n185;2.1;15\n", 2, 1);
    expect(rows.rows).toBe(2);
    expect(Array.from(rows.x)).toEqual([180, 2, 185, Math.fround(2.1)]);
    expect(Array.from(rows.y)).toEqual([14.5, 15]);
    expect(() => parseRows("180, 2.0, 14.5\n180, 2.0", 2, 1)).toThrow(/line 2 has 2 values/);
    expect(() => parseRows("180, x, 14.5", 2, 1)).toThrow(/line 1 holds something that is not a finite number/);
    expect(() => parseRows("\n# nothing\n", 2, 1)).toThrow(/no rows/);
  });
});
