// The client rides out a server restart: it reconnects with backoff, renews its
// subscription, and sends requests made while it was away; the restarted server
// has the model back from its data folder.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connect, startServer, type Update } from "../../host/index.js";
import { freePort, spawnServer } from "../helpers/serverProcess.js";

describe("client reconnect", () => {
  let data = "";
  afterAll(() => rm(data, { recursive: true, force: true }));

  it("reconnects after a restart, renews subscriptions and sends what waited", async () => {
    data = await mkdtemp(join(tmpdir(), "gradline-reconnect-"));
    // separate processes, as a real restart, on one fixed port (uWS sets SO_REUSEADDR only
    // for a fixed port; with port 0 the old connections' TIME_WAIT would block the rebind)
    const port = String(await freePort());
    const first = await spawnServer(["--port", port, "--workers", "0", "--data", data]);
    const statuses: string[] = [];
    const client = await connect(first.url, { reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, onStatus: (s) => statuses.push(s) });
    await client.create("line", { inputs: 2, outputs: 1, optimizer: "sgd", standardize: false });
    await client.train("line", new Float32Array([1, 2]), new Float32Array([3]));
    const updates: Update[] = [];
    await client.subscribe("line", {}, (u) => updates.push(u));

    first.child.kill("SIGTERM");
    await first.exited;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(client.connected).toBe(false);
    const waiting = client.train("line", new Float32Array([1, 2]), new Float32Array([3]));

    const second = await spawnServer(["--port", port, "--workers", "0", "--data", data]);
    const ack = await waiting;
    expect(ack).toMatchObject({ model: "line", step: 2 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(statuses).toEqual(["connected", "disconnected", "connected"]);
    // at subscription (step 1); renewed after the restart with the restored state (step 1); then step 2
    expect(updates.map((u) => u.step)).toEqual([1, 1, 2]);
    client.close();
    await expect(client.list()).rejects.toMatchObject({ code: "E_CLOSED" });
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  });

  it("without reconnect, requests in flight fail with E_CLOSED when the server goes", async () => {
    const server = await startServer({ port: 0, workers: 0, log: () => {} });
    const client = await connect(server.url, { reconnect: false });
    await client.create("m", { inputs: 1, outputs: 1 });
    await server.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await expect(client.train("m", new Float32Array([1]), new Float32Array([1]))).rejects.toMatchObject({ code: "E_CLOSED" });
    client.close();
  });
});
