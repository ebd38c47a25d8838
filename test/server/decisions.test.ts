// The decision layer over the wire: setpoints, feature importance and drift events
// through the real server and client, held to a single-thread replica, to statistics
// computed here from the data sent, and to a change planted at a known step.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, createEngine, startServer, type GradlineClient, type GradlineServer } from "../../host/index.js";
import { linearTargets, normals, rng } from "../helpers/random.js";

const config = { inputs: 3, outputs: 2, optimizer: { type: "adam" as const, lr: 0.05 }, seed: 4 };

/** Population σ of column k of a row-major rows × width array. */
function spread(data: Float32Array[], width: number, k: number): number {
  let n = 0;
  let sum = 0;
  let sq = 0;
  for (const block of data) for (let i = k; i < block.length; i += width) (n++, (sum += block[i]!), (sq += block[i]! * block[i]!));
  const mean = sum / n;
  return Math.sqrt(sq / n - mean * mean);
}

describe("decisions over the wire", () => {
  let server: GradlineServer;
  let client: GradlineClient;
  beforeAll(async () => {
    server = await startServer({ port: 0, workers: 2, logger: false });
    client = await connect(server.url);
  });
  afterAll(async () => {
    client.close();
    await server.close();
  });

  it("setpoints and importance equal a single-thread replica's; importance matches the data's spreads", async () => {
    const r = rng(31);
    const W = [0.5, 2, -1, -0.3, 0.8, 0.1];
    const b = [1, -2];
    const xs: Float32Array[] = [];
    const ys: Float32Array[] = [];
    await client.create("sp-line", config);
    const engine = await createEngine({ workers: 0 });
    const replica = engine.createModel(config);
    for (let i = 0; i < 300; i++) {
      const x = Float32Array.from(normals(r, 16 * 3), (v, j) => v * [10, 1, 0.1][j % 3]! + [100, 5, 0][j % 3]!);
      const y = linearTargets(x, W.map((w, j) => w / [10, 1, 0.1][j % 3]!), b, 3, 2, 0.01, r);
      xs.push(x);
      ys.push(y);
      replica.train(x, y);
      await client.train("sp-line", x, y);
    }
    const request = { target: [1.5, -1], lower: [80, 3, -0.2], upper: [120, 7, 0.2], fixed: [null, 5.5, null], current: [100, 5.5, 0], maxMove: [5, 1, 1], lambda: 1e-3 };
    const remote = await client.setpoint("sp-line", request);
    const local = replica.setpoint(request);
    expect(remote.x).toEqual(Array.from(local.x));
    expect(remote.predicted).toEqual(Array.from(local.predicted));
    expect(remote).toMatchObject({ model: "sp-line", version: 300, iterations: local.iterations, optimality: local.optimality, converged: local.converged, reachable: local.reachable, active: local.active });
    expect(remote.converged, "the optimality conditions hold at the answer").toBe(true);
    expect(remote.x[1]).toBe(5.5);

    const params = await client.params("sp-line");
    for (let j = 0; j < 2; j++) {
      for (let k = 0; k < 3; k++) {
        // σ over every sample sent, computed here from the data
        const expected = (params.W[j * 3 + k]! * spread(xs, 3, k)) / spread(ys, 2, j);
        expect(params.importance![j * 3 + k], `importance[${j}][${k}]`).toBeCloseTo(expected, 4);
      }
    }
    engine.close();
  });

  it("a setpoint request the model cannot take is E_SETPOINT, with its seq", async () => {
    await expect(client.setpoint("sp-line", { target: [1] })).rejects.toMatchObject({ code: "E_SETPOINT", message: expect.stringContaining("target") });
    await expect(client.setpoint("sp-line", { target: [1, 1], lower: [0, 0, 0], upper: [1, -1, 1] })).rejects.toMatchObject({ code: "E_SETPOINT" });
    await expect(client.setpoint("nobody", { target: [1, 1] })).rejects.toMatchObject({ code: "E_NOT_FOUND" });
  });

  it("a change of the true W at a known step is reported in the ack, to subscribers and in metrics", async () => {
    await client.create("drift-line", { ...config, optimizer: { type: "sgd", lr: 0.05 } });
    const drifts: number[] = [];
    await client.subscribe("drift-line", { everySteps: 1000 }, () => {}, { onDrift: (event) => drifts.push(event.step) });
    const r = rng(8);
    const before = [1, -1, 0.5, 0.2, 0.4, -0.6];
    const after = [-1, 1, 0.5, 0.2, 1.4, 0.6];
    const changeAt = 400;
    const acked: number[] = [];
    for (let i = 1; i <= 600; i++) {
      const x = normals(r, 32 * 3);
      const y = linearTargets(x, i <= changeAt ? before : after, [0, 0], 3, 2, 0.1, r);
      const ack = await client.train("drift-line", x, y);
      if (ack.drift) acked.push(ack.drift.step);
    }
    expect(acked.length).toBeGreaterThanOrEqual(1);
    expect(acked[0]!).toBeGreaterThan(changeAt);
    expect(acked[0]!).toBeLessThanOrEqual(changeAt + 20);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(drifts).toEqual(acked);
    const text = await (await fetch(server.url.replace("ws:", "http:") + "metrics")).text();
    expect(text).toMatch(new RegExp(`^gradline_drift_events_total\\{model="drift-line"\\} ${acked.length}$`, "m"));
  });
});
