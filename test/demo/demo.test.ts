// `gradline demo` against a real server: the model it streams into converges to the
// simulated line's true response, dead sensors are refused, botched readings absorbed.
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
    server = await startServer({ port: 0, workers: 1, log: () => {} });
  });
  afterAll(() => server.close());

  it("learns the line's true coefficients within 10% while it drifts", async () => {
    const lines: string[] = [];
    const result = await runDemo({ url: server.url, model: "demo-a", batches: 2000, rows: 32, rate: 0, seed: 5, log: (l) => lines.push(l) });
    expect(result.learned.step + result.rejected).toBe(2000);
    expect(result.rejected).toBeGreaterThan(0);
    expect(result.worstRelativeError).toBeLessThan(0.1);
    // the intercepts track the drifting truth too (yield falls 2e-4 points per batch)
    result.truth.b.forEach((b, j) => expect(Math.abs(result.learned.b[j]! - b)).toBeLessThan(2));
    expect(lines.some((l) => /E_NONFINITE \(a dead \w+ sensor\)/.test(l))).toBe(true);
  });

  it("runs from the command line (npm run demo) and exits 0 when it converged", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [cli, "demo", "--url", server.url, "--batches", "1500", "--rate", "0", "--model", "demo-b"]);
    expect(stdout).toMatch(/created model "demo-b"/);
    expect(stdout).toMatch(/largest coefficient error: \d+\.\d%/);
  });
});
