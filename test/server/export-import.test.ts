// The protocol's export and import (docs/PROTOCOL.md §7.2): a snapshot out, a new model
// in, bit for bit; what an import refuses (a taken name, bytes that are no snapshot, a
// read-only token) and that a refusal changes nothing; and an imported model surviving
// a crash (the log's import record replayed) and a restart in checkpoint mode.
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connect, lineLogger, startServer, type GradlineClient, type GradlineServer } from "../../host/index.js";
import { normals, rng } from "../helpers/random.js";
import { WireClient } from "../helpers/wire.js";

const config = { inputs: 4, outputs: 2, optimizer: { type: "adam", lr: 0.01 }, seed: 5 } as const;
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
const folders: string[] = [];
async function folder(): Promise<string> {
  const made = await mkdtemp(join(tmpdir(), "gradline-import-"));
  folders.push(made);
  return made;
}
afterAll(async () => {
  for (const f of folders) await rm(f, { recursive: true, force: true });
});

/** Trains `count` seeded batches of 32 rows into `model`. */
async function trainSome(client: GradlineClient, model: string, count: number, seed: number): Promise<void> {
  const r = rng(seed);
  for (let i = 0; i < count; i++) await client.train(model, normals(r, 32 * 4), normals(r, 32 * 2));
}

describe("export and import over the protocol", () => {
  it("round-trips a model bit for bit, and the copy trains on exactly as the original", async () => {
    const server = await startServer({ port: 0, workers: 1, data: "", logger: false });
    const client = await connect(server.url);
    await client.create("original", config);
    await trainSome(client, "original", 20, 1);
    const exported = await client.export("original");
    expect(exported).toMatchObject({ model: "original", step: 20, version: 20 });
    const info = await client.import("copy", exported.snapshot);
    expect(info).toMatchObject({ model: "copy", step: 20, version: 20, loss: null });
    expect(info.config).toEqual((await client.open("original")).config);
    expect(same((await client.export("copy")).snapshot, exported.snapshot)).toBe(true);
    const [p, q] = await Promise.all([client.params("original"), client.params("copy")]);
    expect(same(new Uint8Array(q.W.buffer, q.W.byteOffset, q.W.byteLength), new Uint8Array(p.W.buffer, p.W.byteOffset, p.W.byteLength))).toBe(true);
    expect(Array.from(q.b)).toEqual(Array.from(p.b));
    await trainSome(client, "original", 5, 2);
    await trainSome(client, "copy", 5, 2);
    expect(same((await client.export("copy")).snapshot, (await client.export("original")).snapshot)).toBe(true);
    client.close();
    await server.close();
  });

  it("refuses a taken name, bytes that are no snapshot and a read-only token, and changes nothing", async () => {
    const admin = "an-admin-token-of-24-chars";
    const viewer = "a-viewer-token-of-24-chars";
    const server = await startServer({ port: 0, workers: 1, data: "", logger: false, tokens: [admin, { token: viewer, readOnly: true }] });
    const client = await connect(server.url, { token: admin });
    await client.create("kept", config);
    await trainSome(client, "kept", 3, 3);
    const { snapshot } = await client.export("kept");
    await expect(client.import("kept", snapshot)).rejects.toMatchObject({ code: "E_CONFLICT", message: expect.stringContaining('model "kept" already exists; an import creates a new model') });
    expect(same((await client.export("kept")).snapshot, snapshot)).toBe(true);
    const broken = snapshot.slice(0, snapshot.length - 7);
    await expect(client.import("broken", broken)).rejects.toMatchObject({ code: "E_SNAPSHOT" });
    await expect(client.import("junk", new Uint8Array([1, 2, 3]))).rejects.toMatchObject({ code: "E_SNAPSHOT" });
    await expect(client.export("absent")).rejects.toMatchObject({ code: "E_NOT_FOUND" });
    const wire = await WireClient.open(server.url, { Authorization: `Bearer ${admin}` });
    expect(await wire.call({ type: "import", seq: 1, model: "m" })).toMatchObject({ code: "E_FIELD", message: expect.stringContaining('field "snapshot" is missing') });
    expect(await wire.call({ type: "import", seq: 2, model: "m", snapshot: "text" })).toMatchObject({ code: "E_FIELD", message: expect.stringContaining("must be bin") });
    wire.close();
    const reader = await connect(server.url, { token: viewer });
    expect(same((await reader.export("kept")).snapshot, snapshot)).toBe(true); // reading is allowed
    await expect(reader.import("viewer-copy", snapshot)).rejects.toMatchObject({ code: "E_FORBIDDEN" });
    expect((await client.list()).map((m) => m.model)).toEqual(["kept"]);
    reader.close();
    client.close();
    await server.close();
  });

  it("keeps an imported model through a crash (its log record) and through a restart in checkpoint mode", async () => {
    for (const durability of ["wal", "checkpoint"] as const) {
      const source = await startServer({ port: 0, workers: 1, data: "", logger: false });
      const from = await connect(source.url);
      await from.create("line", config);
      await trainSome(from, "line", 10, 4);
      const { snapshot } = await from.export("line");
      from.close();
      await source.close();

      const data = await folder();
      let server: GradlineServer = await startServer({ port: 0, workers: 1, data, durability, logger: false });
      let client = await connect(server.url);
      await client.import("moved", snapshot);
      await trainSome(client, "moved", 4, 5);
      const expected = (await client.export("moved")).snapshot;
      // in wal mode the folder as a crash leaves it: every reply is in, so every record is synced
      const image = durability === "wal" ? await folder() : data;
      if (durability === "wal") await cp(data, image, { recursive: true });
      client.close();
      await server.close();
      const lines: string[] = [];
      server = await startServer({ port: 0, workers: 1, data: image, durability, logger: lineLogger((line) => lines.push(line)) });
      client = await connect(server.url);
      expect(same((await client.export("moved")).snapshot, expected), durability).toBe(true);
      // the crash image has no checkpoint of it: the import and the 4 trains come from the log
      if (durability === "wal") expect(lines.join("\n")).toContain("1 model(s) restored from");
      if (durability === "wal") expect(lines.join("\n")).toContain("5 logged operation(s) replayed");
      client.close();
      await server.close();
    }
  });
});
