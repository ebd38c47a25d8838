// What a token may do: model-name prefixes, read-only tokens, and the limits on
// models per token and on the server. A refused request changes nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, startServer, type GradlineClient, type GradlineServer } from "../../host/index.js";

const ADMIN = "admin-token-0123456789";
const LINE7 = "line-7-token-0123456789";
const VIEWER = "viewer-token-0123456789";
const config = { inputs: 2, outputs: 1, optimizer: "sgd" as const, standardize: false };
const x = new Float32Array([1, 2]);
const y = new Float32Array([3]);

describe("server permissions", () => {
  let server: GradlineServer;
  let admin: GradlineClient;
  let line7: GradlineClient;
  let viewer: GradlineClient;

  beforeAll(async () => {
    server = await startServer({
      port: 0, workers: 0, logger: false, maxModels: 4,
      tokens: [ADMIN, { token: LINE7, prefixes: ["line-7."], maxModels: 2 }, { token: VIEWER, readOnly: true }],
    });
    [admin, line7, viewer] = await Promise.all([connect(server.url, { token: ADMIN }), connect(server.url, { token: LINE7 }), connect(server.url, { token: VIEWER })]);
  });
  afterAll(async () => {
    for (const client of [admin, line7, viewer]) client.close();
    await server.close();
  });

  it("a prefixed token works inside its prefixes and nowhere else", async () => {
    await admin.create("line-8.yield", config);
    await line7.create("line-7.yield", config);
    expect(await line7.train("line-7.yield", x, y)).toMatchObject({ step: 1 });
    await expect(line7.create("line-8.purity", config)).rejects.toMatchObject({ code: "E_FORBIDDEN" });
    await expect(line7.train("line-8.yield", x, y)).rejects.toMatchObject({ code: "E_FORBIDDEN" });
    await expect(line7.params("line-8.yield")).rejects.toMatchObject({ code: "E_FORBIDDEN" });
    expect((await line7.list()).map((m) => m.model)).toEqual(["line-7.yield"]);
    expect((await admin.params("line-8.yield")).step).toBe(0);
  });

  it("a read-only token reads, predicts and asks for setpoints, but never trains, creates or deletes", async () => {
    await expect(viewer.train("line-7.yield", x, y)).rejects.toMatchObject({ code: "E_FORBIDDEN", message: expect.stringContaining("read-only") });
    await expect(viewer.create("viewer-model", config)).rejects.toMatchObject({ code: "E_FORBIDDEN" });
    await expect(viewer.delete("line-7.yield")).rejects.toMatchObject({ code: "E_FORBIDDEN" });
    expect((await viewer.params("line-7.yield")).step).toBe(1);
    expect((await viewer.predict("line-7.yield", x)).rows).toBe(1);
    expect((await viewer.setpoint("line-7.yield", { target: [1] })).model).toBe("line-7.yield");
    expect((await viewer.list()).map((m) => m.model).sort()).toEqual(["line-7.yield", "line-8.yield"]);
  });

  it("limits the models a token covers, and the models on the server", async () => {
    await line7.create("line-7.purity", config);
    await expect(line7.create("line-7.energy", config)).rejects.toMatchObject({ code: "E_LIMIT", message: expect.stringContaining("models this token covers") });
    await admin.create("other", config);
    await expect(admin.create("one-too-many", config)).rejects.toMatchObject({ code: "E_LIMIT", message: expect.stringContaining("models on this server") });
    expect((await admin.list()).length).toBe(4);
  });
  it("a prefixed token sees in /metrics only the series of the models it covers", async () => {
    // line-7.yield and line-8.yield from the first test, both trained
    await admin.train("line-8.yield", x, y);
    const page = async (token: string) => (await fetch(server.url.replace("ws://", "http://") + "metrics", { headers: { Authorization: `Bearer ${token}` } })).text();
    const all = await page(ADMIN);
    expect(all).toContain('model="line-8.yield"');
    expect(all).toContain('model="line-7.yield"');
    const mine = await page(LINE7);
    expect(mine).toContain('gradline_model_step{model="line-7.yield"}');
    expect(mine).not.toContain("line-8.");
    // the server-wide series stay: every series of the page without a model label is there (values move between reads)
    const unlabelled = (text: string) => text.split("\n").filter((l) => !l.includes('model="')).map((l) => l.replace(/ [^ ]+$/, ""));
    expect(unlabelled(mine)).toEqual(unlabelled(all));
  });


});
