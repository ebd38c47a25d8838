// The protocol end to end through the TypeScript client against the real server:
// every request type, with results held to the in-process engine (single-thread
// truth) and to closed-form predictions.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, createEngine, startServer, type GradlineClient, type GradlineServer, type Update } from "../../host/index.js";
import { linearTargets, normals, rng } from "../helpers/random.js";

const config = { inputs: 4, outputs: 3, optimizer: { type: "adam" as const, lr: 0.05 }, standardize: true, seed: 7 };

describe("server round trip", () => {
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

  it("says hello with the server's limits", () => {
    expect(client.server).toMatchObject({ type: "welcome", protocol: 1, limits: { maxRows: 65_536, maxInflight: 4096 } });
  });

  it("creates a model, opens it, and refuses the same name with another shape", async () => {
    const created = await client.create("rt-create", config);
    expect(created).toMatchObject({ model: "rt-create", created: true, step: 0, version: 0, loss: null });
    expect(created.config).toMatchObject({ inputs: 4, outputs: 3, optimizer: { type: "adam", lr: 0.05, beta1: 0.9 } });
    expect(await client.create("rt-create", config)).toMatchObject({ created: false });
    expect(await client.open("rt-create")).toMatchObject({ model: "rt-create", step: 0 });
    await expect(client.create("rt-create", { ...config, inputs: 5 })).rejects.toMatchObject({ code: "E_CONFLICT" });
    await expect(client.create("rt-create", { ...config, optimizer: "sgd" })).rejects.toMatchObject({ code: "E_CONFLICT" });
  });

  it("applies pipelined batches in order, exactly as one thread would", async () => {
    const r = rng(11);
    const W = normals(r, 12);
    const b = normals(r, 3);
    const batches = Array.from({ length: 200 }, () => {
      const x = normals(r, 32 * 4);
      return { x, y: linearTargets(x, W, b, 4, 3, 0.01, r) };
    });
    await client.create("rt-train", config);
    const acks = await Promise.all(batches.map(({ x, y }) => client.train("rt-train", x, y)));
    expect(acks.map((a) => a.step)).toEqual(batches.map((_, i) => i + 1));
    expect(acks.map((a) => a.version)).toEqual(batches.map((_, i) => i + 1));

    const engine = await createEngine({ workers: 0 });
    const reference = engine.createModel(config);
    const losses = batches.map(({ x, y }) => reference.train(x, y).loss);
    expect(acks.map((a) => a.loss)).toEqual(losses);
    const remote = await client.params("rt-train");
    const local = reference.params();
    expect(remote).toMatchObject({ model: "rt-train", step: 200, version: 200, inputs: 4, outputs: 3 });
    expect(Array.from(remote.W)).toEqual(Array.from(local.W));
    expect(Array.from(remote.b)).toEqual(Array.from(local.b));
    engine.close();
  });

  it("predicts x·Wᵀ + b with the version that produced it", async () => {
    const { W, b, version } = await client.params("rt-train");
    const x = normals(rng(5), 3 * 4);
    const prediction = await client.predict("rt-train", x);
    expect(prediction).toMatchObject({ model: "rt-train", rows: 3, version });
    const expected = linearTargets(x, W, b, 4, 3);
    prediction.y.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 4));
  });

  it("pushes subscribers the current parameters, then every k steps", async () => {
    await client.create("rt-sub", config);
    const updates: Update[] = [];
    const subscription = await client.subscribe("rt-sub", { everySteps: 5 }, (u) => updates.push(u));
    const r = rng(3);
    for (let i = 0; i < 20; i++) await client.train("rt-sub", normals(r, 8), normals(r, 6));
    await new Promise((resolve) => setTimeout(resolve, 50));
    // the first update is the state at subscription; then one per 5 steps, each the latest parameters
    expect(updates.map((u) => u.step)).toEqual([0, 5, 10, 15, 20]);
    const last = await client.params("rt-sub");
    expect(Array.from(updates.at(-1)!.W)).toEqual(Array.from(last.W));
    await subscription.unsubscribe();
    await client.train("rt-sub", normals(r, 8), normals(r, 6));
    await client.train("rt-sub", normals(r, 8), normals(r, 6));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(updates).toHaveLength(5);
  });

  it("rate-limits updates in time: at most one per minIntervalMs, the last one current", async () => {
    await client.create("rt-rate", config);
    const updates: Update[] = [];
    await client.subscribe("rt-rate", { minIntervalMs: 200 }, (u) => updates.push(u));
    const r = rng(4);
    const acks = await Promise.all(Array.from({ length: 100 }, () => client.train("rt-rate", normals(r, 8), normals(r, 6))));
    await new Promise((resolve) => setTimeout(resolve, 450));
    // first at subscription, then the steps that fell into the next windows, the last one being step 100
    expect(updates.length).toBeGreaterThanOrEqual(2);
    expect(updates.length).toBeLessThanOrEqual(4);
    expect(updates.at(-1)!.step).toBe(acks.at(-1)!.step);
  });

  it("lists models and deletes one, telling its subscribers", async () => {
    await client.create("rt-delete", config);
    let deleted = false;
    await client.subscribe("rt-delete", {}, () => {}, { onDeleted: () => (deleted = true) });
    const names = (await client.list()).map((m) => m.model);
    expect(names).toEqual(expect.arrayContaining(["rt-create", "rt-train", "rt-delete"]));
    await client.delete("rt-delete");
    await expect(client.open("rt-delete")).rejects.toMatchObject({ code: "E_NOT_FOUND" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(deleted).toBe(true);
    expect((await client.list()).map((m) => m.model)).not.toContain("rt-delete");
  });

  it("reports metrics in Prometheus text format", async () => {
    const text = await (await fetch(server.url.replace("ws:", "http:") + "metrics")).text();
    expect(text).toMatch(/^# TYPE gradline_batches_total counter$/m);
    expect(text).toMatch(/^gradline_model_step\{model="rt-train"\} 200$/m);
    // 200 batches of 32 rows
    expect(text).toMatch(/^gradline_model_samples_total\{model="rt-train"\} 6400$/m);
    expect(text).toMatch(/^gradline_step_latency_seconds_count \d+$/m);
    expect(text).toMatch(/^gradline_errors_total\{code="E_CONFLICT"\} 2$/m);
    const health = await fetch(server.url.replace("ws:", "http:") + "healthz");
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok" });
  });
});
