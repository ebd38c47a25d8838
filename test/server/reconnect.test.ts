// The client rides out a server restart: it reconnects with backoff, renews its
// subscription, and sends requests made while it was away; the restarted server
// has the model back from its data folder.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connect, startServer, type GradlineError, type Update } from "../../host/index.js";
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
    const server = await startServer({ port: 0, workers: 0, logger: false });
    const client = await connect(server.url, { reconnect: false });
    await client.create("m", { inputs: 1, outputs: 1 });
    await server.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await expect(client.train("m", new Float32Array([1]), new Float32Array([1]))).rejects.toMatchObject({ code: "E_CLOSED" });
    client.close();
  });
  it("trains left unanswered by a crash are sent again and applied once; with resend: false they fail with E_CLOSED (sent)", async () => {
    const folder = await mkdtemp(join(tmpdir(), "gradline-resend-"));
    const port = String(await freePort());
    const args = ["--port", port, "--workers", "1", "--data", folder];
    let server = await spawnServer(args);
    const options = { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } };
    const resending = await connect(server.url, options);
    const giving = await connect(server.url, { ...options, resend: false });
    for (const [client, model] of [[resending, "a"], [giving, "b"]] as const) await client.create(model, { inputs: 4, outputs: 1, optimizer: "sgd" });
    const x = new Float32Array(64 * 4).map((_, i) => Math.sin(i));
    const y = new Float32Array(64).map((_, i) => Math.cos(i));
    const resent = Array.from({ length: 600 }, () => resending.train("a", x, y));
    const given = Array.from({ length: 600 }, () => giving.train("b", x, y).then(() => "ack" as const, (error: GradlineError) => error));
    await Promise.race([resent[0], given[0]]);
    server.child.kill("SIGKILL");
    await server.exited;
    server = await spawnServer(args);

    // every train of the resending client is acked, each step once, and the model took exactly 600
    const acks = await Promise.all(resent);
    expect(acks.map((ack) => ack.step).sort((p, q) => p - q)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    expect((await resending.params("a")).step).toBe(600);
    // the other client is told which requests were sent and may or may not have been applied
    const outcomes = await Promise.all(given);
    const lost = outcomes.filter((o): o is GradlineError => o !== "ack");
    expect(lost.length).toBeGreaterThan(0);
    for (const error of lost) expect(error).toMatchObject({ code: "E_CLOSED", details: { sent: true } });
    resending.close();
    giving.close();
    server.child.kill("SIGTERM");
    await server.exited;
    await rm(folder, { recursive: true, force: true });
  });
});
