// `gradline demo` against a real server: the model it streams into converges to the
// simulated line's true response, dead sensors are refused, botched readings absorbed,
// the catalyst change is reported as drift, and the setpoint it asks for works on the
// true line.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type GradlineServer } from "../../host/index.js";
import { runDemo } from "../../host/demo/demo.js";

const cli = fileURLToPath(new URL("../../dist/host/cli.js", import.meta.url));

describe("demo", () => {
  let server: GradlineServer;
  beforeAll(async () => {
    server = await startServer({ port: 0, workers: 1, logger: false });
  });
  afterAll(() => server.close());

  it("learns the line's true coefficients within 10% while it drifts", async () => {
    const lines: string[] = [];
    const result = await runDemo({ url: server.url, model: "demo-a", batches: 2000, rows: 32, rate: 0, seed: 5, changeAt: 1200, log: (l) => lines.push(l) });
    // every batch is a step, except those refused (NaN) and those left out entirely (frozen sensors)
    expect(result.learned.step + result.rejected).toBeLessThanOrEqual(2000);
    expect(result.learned.step + result.rejected).toBeGreaterThan(1950);
    expect(result.rejected).toBeGreaterThan(0);
    expect(result.worstRelativeError).toBeLessThan(0.1);
    // the intercepts track the drifting truth too (yield falls 2e-4 points per batch)
    result.truth.b.forEach((b, j) => expect(Math.abs(result.learned.b[j]! - b)).toBeLessThan(2));
    expect(lines.some((l) => /E_NONFINITE \(a dead \w+ sensor\)/.test(l))).toBe(true);
    // glitches, frozen sensors and botched lab readings show up as anomaly flags
    expect(result.faulty).toBeGreaterThan(5);
    expect(result.caught / result.faulty).toBeGreaterThanOrEqual(0.9);
    // steps lag batches by the stepless ones; the change is caught within 20 steps
    expect(result.drift.length).toBeGreaterThanOrEqual(1);
    const stepless = 2000 - result.learned.step; // refused or left out entirely: batches without a step
    expect(result.drift[0]!).toBeGreaterThan(result.changeAt - stepless);
    expect(result.drift[0]!).toBeLessThanOrEqual(result.changeAt + 20);
    // the recommended setting, applied to the true line, gives what the model promised
    const { x, predicted, actual } = result.setpoint;
    [165, 10, 32].forEach((lo, k) => expect(x[k]!).toBeGreaterThanOrEqual(lo));
    [195, 14, 48].forEach((hi, k) => expect(x[k]!).toBeLessThanOrEqual(hi));
    predicted.forEach((p, j) => expect(Math.abs(p - actual[j]!), `output ${j}`).toBeLessThan(1.5));
  });

  it("run again on the same model, goes on with the line where the last run stopped", async () => {
    const first: string[] = [];
    const once = await runDemo({ url: server.url, model: "demo-twice", batches: 600, rows: 32, rate: 0, seed: 8, changeAt: 900, log: (l) => first.push(l) });
    expect(once.drift).toEqual([]);
    const second: string[] = [];
    const twice = await runDemo({ url: server.url, model: "demo-twice", batches: 600, rows: 32, rate: 0, seed: 8, changeAt: 900, log: (l) => second.push(l) });
    // the simulation's batch index continues: batches refused for a dead sensor were not taken, so it is ≥ the model's version
    const from = Number(/goes on from batch (\d+)/.exec(second.join("\n"))?.[1]);
    expect(from).toBeGreaterThanOrEqual(once.learned.version);
    expect(from).toBe(600);
    expect(second.join("\n")).toContain("streaming batches 600 to 1199");
    // the catalyst change at batch 900 falls in the second run, and is the drift it reports; nothing before it
    expect(twice.drift.length).toBeGreaterThanOrEqual(1);
    expect(twice.drift[0]!).toBeGreaterThan(once.learned.step + (900 - 600) - 30);
    // flag lines name batches of the second run, in order
    const batches = second.flatMap((l) => /^batch (\d+):/.exec(l)?.[1] ?? []).map(Number);
    expect(batches.every((b) => b >= 600 && b < 1200)).toBe(true);
  });

  it("runs from the command line (npm run demo) and exits 0 when it converged", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [cli, "demo", "--url", server.url, "--batches", "1500", "--rate", "0", "--model", "demo-b"]);
    expect(stdout).toMatch(/created model "demo-b"/);
    expect(stdout).toMatch(/largest coefficient error: \d+\.\d%/);
  });
});
