// The server's security guarantees in one place, checked against the real server
// (real workers, a data folder, tokens): model names never reach the filesystem
// unless they are valid, oversize input is refused or drops only its connection,
// keys named __proto__/constructor/prototype pollute nothing, tokens are checked at
// the upgrade and grant only what they say, and the model limits hold. Each check
// looks at what an attacker would want changed (files, prototypes, parameters, the
// model list) and asserts that it did not change.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { encode as independentEncode } from "@msgpack/msgpack";
import { startServer, lineLogger, type GradlineServer } from "../../host/index.js";
import { WireClient, type Reply } from "../helpers/wire.js";

// Taken when this file loads, before any server runs in this process.
const OBJECT_PROTO_KEYS = Reflect.ownKeys(Object.prototype).map(String).sort();
const ARRAY_PROTO_KEYS = Reflect.ownKeys(Array.prototype).map(String).sort();
const FUNCTION_PROTO_KEYS = Reflect.ownKeys(Function.prototype).map(String).sort();

const ADMIN = "admin-token-0123456789abcdef";
const LINE7 = "line-7-token-0123456789abcdef";
const VIEWER = "viewer-token-0123456789abcdef";
const MAX_MODELS = 10;
const LINE7_MAX_MODELS = 2;
const MAX_PAYLOAD = 2 * 1024 * 1024;

const bin = (...values: number[]): Uint8Array => new Uint8Array(new Float32Array(values).buffer);
const hex = (bytes: unknown): string => Buffer.from(bytes as Uint8Array).toString("hex");
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** The documented resolved config of `{inputs: 2, outputs: 1}` (PROTOCOL.md §5.2). */
const DEFAULT_RESOLVED = {
  inputs: 2, outputs: 1, loss: "mse", huberDelta: 1, optimizer: { type: "sgd", lr: 0.01 }, l2: 0, standardize: true, seed: 1,
  drift: { delta: 0.5, threshold: 12, warmup: 50, alpha: 0.01, onDrift: "report", boost: 10, boostSteps: 100 },
  anomaly: { residual: 5, margin: 0.5, stuck: 32, warmup: 256, exclude: false },
};

/** One request of every type that names a model, valid but for what the test varies. */
function modelRequests(model: unknown): Record<string, unknown>[] {
  return [
    { type: "create", model, config: { inputs: 2, outputs: 1 } },
    { type: "open", model },
    { type: "train", model, x: bin(1, 2), y: bin(3) },
    { type: "predict", model, x: bin(1, 2) },
    { type: "params", model },
    { type: "setpoint", model, target: [1] },
    { type: "subscribe", model },
    { type: "unsubscribe", model },
    { type: "delete", model },
  ];
}
const MODEL_TYPES = modelRequests("m").map((r) => r.type as string);

/** A WireClient that numbers its requests. */
class Conn {
  private seq = 1000;
  private constructor(readonly wire: WireClient) {}
  static async open(url: string, token: string): Promise<Conn> {
    return new Conn(await WireClient.open(url, bearer(token)));
  }
  call(message: Record<string, unknown>): Promise<Reply> {
    return this.wire.call({ ...message, seq: ++this.seq });
  }
  /** Sends every message at once (pipelined), then waits for every reply, in order. */
  async all(messages: Record<string, unknown>[]): Promise<Reply[]> {
    const seqs = messages.map((m) => {
      const seq = ++this.seq;
      this.wire.send({ ...m, seq });
      return seq;
    });
    return Promise.all(seqs.map((s) => this.wire.reply(s)));
  }
  /** Sends a raw frame whose seq the caller wrote, waits for its reply. */
  raw(frame: Uint8Array, seq: number): Promise<Reply> {
    this.wire.sendRaw(frame);
    return this.wire.reply(seq);
  }
  async names(): Promise<string[]> {
    const r = await this.call({ type: "list" });
    expect(r.type).toBe("models");
    return (r.models as { model: string }[]).map((m) => m.model);
  }
  /** Everything about a model that a forbidden or rejected request must not change. */
  async state(model: string): Promise<{ W: string; b: string; version: unknown; step: unknown; loss: unknown; config: unknown }> {
    const p = await this.call({ type: "params", model });
    expect(p.type, JSON.stringify(p)).toBe("params");
    const o = await this.call({ type: "open", model });
    expect(o.type, JSON.stringify(o)).toBe("model");
    return { W: hex(p.W), b: hex(p.b), version: p.version, step: p.step, loss: o.loss, config: o.config };
  }
  close(): void {
    this.wire.close();
  }
}

/** Every file and folder under `root`, as "relative/path size" lines (folders end with "/"). */
async function tree(root: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await readdir(join(root, prefix), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(`${rel}/`, ...(await tree(root, rel)));
    else out.push(`${rel} ${(await stat(join(root, rel))).size}`);
  }
  return out;
}
const pathOf = (line: string) => line.split(" ")[0]!;
const pathsOf = (lines: string[]) => lines.map(pathOf).sort();
/** Files the server may write in its data folder: the lock's secret, log segments, and the checkpoint (and previous generation) of a model it holds. */
const serverFile = (path: string, models: string[]) =>
  path === "data/.gradline.lockname" || /^data\/wal-\d{16}\.log$/.test(path) || models.some((n) => path === `data/${n}.ckpt` || path === `data/${n}.ckpt.prev`);
/** The tree without the server's own files: what nothing may add to, remove from or change. */
const foreign = (lines: string[], models: string[]) => lines.filter((line) => !serverFile(pathOf(line), models));

/** The outcome of a WebSocket upgrade: 101 when it opened, else the HTTP status and its WWW-Authenticate. */
function upgrade(url: string, headers: Record<string, string> = {}): Promise<{ status: number; challenge: string | undefined }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on("open", () => {
      ws.close();
      resolve({ status: 101, challenge: undefined });
    });
    ws.on("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode ?? 0, challenge: res.headers["www-authenticate"] });
      ws.terminate();
    });
    ws.on("error", (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

// ---- MessagePack by hand, so exactly the bytes we mean are on the wire ----------

type Bytes = number[];
function str(s: string, form: "fix" | "8" | "16" | "32" = "fix"): Bytes {
  const b = [...Buffer.from(s, "utf8")];
  const n = b.length;
  if (form === "fix") {
    if (n > 31) throw new Error("fixstr holds at most 31 bytes");
    return [0xa0 | n, ...b];
  }
  if (form === "8") return [0xd9, n, ...b];
  if (form === "16") return [0xda, n >> 8, n & 0xff, ...b];
  return [0xdb, 0, 0, n >> 8, n & 0xff, ...b];
}
function map(entries: [Bytes, Bytes][], form: "fix" | "16" | "32" = "fix"): Bytes {
  const n = entries.length;
  const head = form === "fix" ? [0x80 | n] : form === "16" ? [0xde, 0, n] : [0xdf, 0, 0, 0, n];
  return [...head, ...entries.flatMap(([k, v]) => [...k, ...v])];
}
/** A value encoded by an independent MessagePack library (@msgpack/msgpack). */
const value = (v: unknown): Bytes => [...independentEncode(v)];
const frame = (bytes: Bytes) => Uint8Array.from(bytes);
const onWire = (f: Uint8Array, key: string) => Buffer.from(f).includes(Buffer.from(key, "utf8"));

const POISON = { polluted: true, standardize: false, inputs: 99, toString: "pwned", type: "create" };

function expectNoPollution(): void {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.prototype.hasOwnProperty.call(Object.prototype, "polluted")).toBe(false);
  expect(Reflect.ownKeys(Object.prototype).map(String).sort()).toEqual(OBJECT_PROTO_KEYS);
  expect(Reflect.ownKeys(Array.prototype).map(String).sort()).toEqual(ARRAY_PROTO_KEYS);
  expect(Reflect.ownKeys(Function.prototype).map(String).sort()).toEqual(FUNCTION_PROTO_KEYS);
  expect(Object.getPrototypeOf(Object.prototype)).toBeNull();
  expect(String({})).toBe("[object Object]");
  expect(({} as Record<string, unknown>).standardize).toBeUndefined();
  expect(({} as Record<string, unknown>).inputs).toBeUndefined();
}

describe("server security", () => {
  let parent: string;
  let data: string;
  let server: GradlineServer;
  let admin: Conn;
  let log: string[] = [];
  /** The tree of `parent` once the server is up, before any attack. */
  let treeBefore: string[];
  const CANARY = Buffer.from("not a checkpoint: must never be removed or overwritten\n");
  const NOTES = Buffer.from("an operator's file in the data folder\n");
  /** Files that traversal names would reach beyond `parent`, and whether they existed before. */
  const outside = [join(tmpdir(), "evil.ckpt"), join(tmpdir(), "evil"), join(tmpdir(), "passwd.ckpt"), "/etc/passwd.ckpt", "/evil.ckpt"];
  let outsideBefore: boolean[];

  const options = () => ({
    port: 0, workers: 1, data, maxModels: MAX_MODELS, maxPayload: MAX_PAYLOAD, logger: lineLogger((line: string) => log.push(line)),
    tokens: [ADMIN, { token: LINE7, prefixes: ["line-7."], maxModels: LINE7_MAX_MODELS }, { token: VIEWER, readOnly: true }],
  });
  const http = () => server.url.replace("ws:", "http:");
  const metric = async (line: RegExp): Promise<number> => {
    const text = await (await fetch(`${http()}metrics`, { headers: bearer(ADMIN) })).text();
    const match = line.exec(text);
    return match ? Number(match[1]) : 0;
  };
  const connections = async (): Promise<number> => ((await (await fetch(`${http()}healthz`)).json()) as { connections: number }).connections;

  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), "gradline-security-"));
    data = join(parent, "data");
    await mkdir(data);
    await writeFile(join(parent, "canary.ckpt"), CANARY);
    await writeFile(join(data, "notes.txt"), NOTES);
    outsideBefore = outside.map((p) => existsSync(p));
    server = await startServer(options());
    admin = await Conn.open(server.url, ADMIN);
    expect(await admin.call({ type: "create", model: "victim", config: { inputs: 2, outputs: 1, standardize: false } })).toMatchObject({ type: "model", created: true });
    expect(await admin.call({ type: "train", model: "victim", x: bin(1, 2, 3, 4), y: bin(1, 2) })).toMatchObject({ type: "ack", step: 1, version: 1 });
    expect(await admin.call({ type: "create", model: "line-8.secret", config: { inputs: 2, outputs: 1 } })).toMatchObject({ created: true });
    treeBefore = await tree(parent);
  });

  afterAll(async () => {
    admin?.close();
    await server?.close();
    if (parent) await rm(parent, { recursive: true, force: true });
  });

  // ---- tokens at the upgrade ------------------------------------------------

  it("refuses every wrong, missing, short or malformed token at the upgrade with 401 and opens no session", async () => {
    const rejectedBefore = await metric(/^gradline_upgrades_rejected_total\{reason="token"\} (\d+)$/m);
    const acceptedBefore = await metric(/^gradline_connections_total (\d+)$/m);
    const openBefore = await connections();
    const wrongLastChar = ADMIN.slice(0, -1) + (ADMIN.endsWith("f") ? "e" : "f");
    // "none": no well-formed Bearer header and no access_token, so no token presented
    const refused: [string, Record<string, string>, "none" | "wrong"][] = [
      ["/", {}, "none"],
      ["/", { Authorization: "" }, "none"],
      ["/", { Authorization: "Bearer" }, "none"],
      ["/", { Authorization: "Bearer " }, "none"],
      ["/", { Authorization: `Bearer ${wrongLastChar}` }, "wrong"],
      ["/", { Authorization: `Bearer ${ADMIN.slice(0, 16)}` }, "wrong"],
      ["/", { Authorization: `Bearer ${ADMIN.slice(0, -1)}` }, "wrong"],
      ["/", { Authorization: `Bearer ${ADMIN[0]!}` }, "wrong"],
      ["/", { Authorization: `Bearer ${ADMIN}x` }, "wrong"],
      ["/", { Authorization: `Bearer ${ADMIN.toUpperCase()}` }, "wrong"],
      ["/", { Authorization: `Bearer ${ADMIN} ${ADMIN}` }, "none"],
      ["/", { Authorization: `bearer ${wrongLastChar}` }, "wrong"],
      ["/", { Authorization: `BEARER ${ADMIN.slice(0, -1)}` }, "wrong"],
      ["/", { Authorization: ADMIN }, "none"],
      ["/", { Authorization: `Basic ${Buffer.from(`admin:${ADMIN}`).toString("base64")}` }, "none"],
      ["/", { Authorization: `Token ${ADMIN}` }, "none"],
      ["/?access_token=", {}, "none"],
      ["/?access_token=wrong-token-0123456789abcdef", {}, "wrong"],
      [`/?access_token=${ADMIN.slice(0, -1)}`, {}, "wrong"],
      [`/?access_token=${ADMIN.toUpperCase()}`, {}, "wrong"],
      [`/?ACCESS_TOKEN=${ADMIN}`, {}, "none"],
      // a well-formed Bearer header wins over the query parameter, even when wrong
      [`/?access_token=${ADMIN}`, { Authorization: `Bearer ${wrongLastChar}` }, "wrong"],
    ];
    const base = server.url.slice(0, -1);
    for (const [path, headers, presented] of refused) {
      const outcome = await upgrade(base + path, headers);
      // RFC 6750 §3: only a presented token that is wrong is answered error="invalid_token" (PROTOCOL.md §2)
      const challenge = presented === "none" ? 'Bearer realm="gradline"' : 'Bearer realm="gradline", error="invalid_token"';
      expect(outcome, `${path} ${JSON.stringify(headers)}`).toEqual({ status: 401, challenge });
    }
    expect(await connections()).toBe(openBefore);
    expect(await metric(/^gradline_connections_total (\d+)$/m)).toBe(acceptedBefore);
    expect(await metric(/^gradline_upgrades_rejected_total\{reason="token"\} (\d+)$/m)).toBe(rejectedBefore + refused.length);

    // the scheme is case-insensitive (PROTOCOL.md §2); the token is not
    for (const headers of [{ Authorization: `bearer ${ADMIN}` }, { Authorization: `BEARER ${ADMIN}` }, { Authorization: `bEaReR ${VIEWER}` }]) {
      expect((await upgrade(server.url, headers)).status, JSON.stringify(headers)).toBe(101);
    }
    expect((await upgrade(`${server.url}?access_token=${LINE7}`)).status).toBe(101);
    expect((await upgrade(`${server.url}?access_token=wrong-token-0123456789abcdef`, bearer(ADMIN))).status).toBe(101);
    // the only WebSocket path is "/"
    expect((await upgrade(`${base}/other`, bearer(ADMIN))).status).toBe(404);
  });

  it("/metrics needs a valid Bearer header (not access_token); /healthz tells no secrets", async () => {
    for (const [path, headers] of [
      ["metrics", {}],
      ["metrics", { Authorization: "Bearer wrong-token-0123456789abcdef" }],
      ["metrics", { Authorization: `Bearer ${ADMIN.slice(0, -1)}` }],
      [`metrics?access_token=${ADMIN}`, {}],
      ["metrics", { Authorization: ADMIN }],
    ] as [string, Record<string, string>][]) {
      const res = await fetch(`${http()}${path}`, { headers });
      expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
      expect(await res.text()).not.toMatch(/gradline_/);
    }
    expect((await fetch(`${http()}metrics`, { headers: bearer(ADMIN) })).status).toBe(200);
    const health = await (await fetch(`${http()}healthz`)).text();
    expect(JSON.parse(health)).toMatchObject({ status: "ok", models: 2 });
    // no model name, token or path of the data folder for anyone who can reach the port
    for (const secret of ["victim", "line-8.secret", ADMIN, LINE7, VIEWER, parent]) expect(health).not.toContain(secret);
  });

  // ---- model names and the filesystem --------------------------------------

  const TRAVERSAL: unknown[] = [
    "../evil", "../../evil", "../../../../../../tmp/evil", "..", ".", "./victim", ".hidden", ".ckpt", "a/b", "a\\b", "..\\evil", "/etc/passwd",
    "victim/../victim", "%2e%2e", "%2e%2e%2fevil", "..%2fevil", "..%5cevil", "a\u0000b", "\u0000", "victim\u0000.txt", "victim\n", "\nvictim",
    " victim", "victim ", "-rf", "~root", "C:evil", "victim.ckpt;rm", "ｖictim", "vіctim", "victim\u200b", "\u2024\u2024", "．．／evil",
    "..\u2215evil", "e\u0301vil", "", "../canary",
    ["..", "evil"], { model: "../evil" }, Buffer.from("../evil"), 12, null, true,
  ];

  it("path-traversal and look-alike model names are E_FIELD in every request type and touch no file", async () => {
    const requests = TRAVERSAL.flatMap((name) => modelRequests(name).map((r) => ({ name, r })));
    expect(requests.length).toBe(TRAVERSAL.length * MODEL_TYPES.length);
    const replies = await admin.all(requests.map(({ r }) => r));
    replies.forEach((reply, i) => {
      const { name, r } = requests[i]!;
      const label = `${r.type as string} ${JSON.stringify(name)}`;
      expect(reply.type, label).toBe("error");
      expect(reply.code, `${label}: ${JSON.stringify(reply)}`).toBe("E_FIELD");
      expect(reply.message, label).toMatch(/^field "model" /);
      expect(reply.model, label).toBeUndefined(); // a malformed request's name is not echoed as a model
    });
    expect(admin.wire.closed).toBeUndefined();
    // nothing created, nothing gone, no file touched in the data folder, its parent, or beyond
    expect((await admin.names()).sort()).toEqual(["line-8.secret", "victim"]);
    const now = await tree(parent);
    expect(foreign(now, ["line-8.secret", "victim"])).toEqual(foreign(treeBefore, ["line-8.secret", "victim"]));
    expect(await readFile(join(parent, "canary.ckpt"))).toEqual(CANARY);
    expect(outside.map((p) => existsSync(p))).toEqual(outsideBefore);
    // a valid name that happens to be the data folder's own name is just a model, kept inside the folder
    expect(await admin.call({ type: "create", model: "data", config: { inputs: 2, outputs: 1 } })).toMatchObject({ created: true, model: "data" });
  });

  // ---- oversize ---------------------------------------------------------------

  it("oversize names are E_FIELD without echoing them; a frame over maxPayload drops only its own connection", async () => {
    const names = ["v".repeat(129), "v".repeat(1000), "v".repeat(1024 * 1024), `${"v".repeat(128)}.ckpt`];
    const requests = names.flatMap((name) => modelRequests(name));
    const replies = await admin.all(requests);
    for (const reply of replies) {
      expect(reply).toMatchObject({ type: "error", code: "E_FIELD" });
      expect(reply.model).toBeUndefined();
      // the error quotes at most 140 characters of the name: a 1 MiB name is not sent back
      expect(JSON.stringify(reply).length).toBeLessThan(512);
    }
    // other long strings the client sent (a type, a config value) are not sent back whole either
    const huge = "w".repeat(256 * 1024);
    for (const frame of [{ type: huge }, { type: "create", model: "long-loss", config: { inputs: 2, outputs: 1, loss: huge } }]) {
      const [reply] = await admin.all([frame]);
      expect(reply).toMatchObject({ type: "error" });
      expect((reply!.message as string).length).toBeLessThan(1100);
    }
    // 128 characters is the longest valid name, and it works
    const longest = "v".repeat(128);
    expect(await admin.call({ type: "create", model: longest, config: { inputs: 2, outputs: 1 } })).toMatchObject({ created: true, model: longest });

    const victim = await admin.state("victim");
    const bystander = await Conn.open(server.url, VIEWER);
    const big = await WireClient.open(server.url, bearer(ADMIN));
    const openBefore = await connections();
    big.send({ type: "create", seq: 1, model: "x".repeat(MAX_PAYLOAD + 1), config: { inputs: 2, outputs: 1 } });
    await Promise.race([big.whenClosed(), new Promise((resolve) => setTimeout(resolve, 5000))]);
    expect(big.closed?.code).toBe(1006); // uWS drops it without a close frame (PROTOCOL.md §9.3)
    expect(big.log).toEqual([]); // not even an error: nothing of the frame was handled
    expect(bystander.wire.closed).toBeUndefined();
    expect(admin.wire.closed).toBeUndefined();
    expect(await bystander.state("victim")).toEqual(victim);
    expect(await connections()).toBe(openBefore - 1);
    // a new connection is still accepted, and the big name created nothing
    const fresh = await Conn.open(server.url, ADMIN);
    expect((await fresh.names()).every((n) => n.length <= 128)).toBe(true);
    fresh.close();
    bystander.close();
    expect(admin.wire.closed).toBeUndefined();
  });

  // ---- prototype pollution ----------------------------------------------------

  it("__proto__, constructor and prototype keys pollute nothing, in the test process or the server", async () => {
    let seq = 500;
    // 1. at the top level: an ignored unknown field (renamed __proto_ by the decoder), in every str and map encoding
    for (const keyForm of ["fix", "8", "16", "32"] as const) {
      for (const mapForm of ["fix", "16", "32"] as const) {
        const s = ++seq;
        const f = frame(map([
          [str("__proto__", keyForm), value(POISON)],
          [str("type"), str("list")],
          [str("seq"), value(s)],
          [str("constructor"), value({ prototype: { polluted: true } })],
          [str("prototype"), value({ polluted: true })],
        ], mapForm));
        expect(onWire(f, "__proto__")).toBe(true);
        const reply = await admin.raw(f, s);
        expect(reply.type, `${keyForm}/${mapForm}: ${JSON.stringify(reply)}`).toBe("models");
        expectNoPollution();
      }
    }
    // the same in a frame large enough that the decoder reads its keys another way
    {
      const s = ++seq;
      const f = frame(map([[str("client"), str("p".repeat(400), "16")], [str("__proto__"), value(POISON)], [str("type"), str("list")], [str("seq"), value(s)]]));
      expect((await admin.raw(f, s)).type).toBe("models");
      expectNoPollution();
    }
    // 2. fields that exist only under __proto__ are not read: no inherited type, config or model
    {
      const s = ++seq;
      const f = frame(map([[str("__proto__"), value({ type: "create", model: "pp-inherited", config: { inputs: 2, outputs: 1 } })], [str("seq"), value(s)]]));
      expect(await admin.raw(f, s)).toMatchObject({ type: "error", code: "E_MESSAGE", seq: s });
      const s2 = ++seq;
      const f2 = frame(map([[str("type"), str("create")], [str("seq"), value(s2)], [str("model"), str("pp-inherited")], [str("__proto__"), value({ config: { inputs: 2, outputs: 1 } })]]));
      expect(await admin.raw(f2, s2)).toMatchObject({ type: "error", code: "E_FIELD", seq: s2, message: expect.stringContaining('"config"') });
      const s3 = ++seq;
      const f3 = frame(map([[str("type"), str("open")], [str("seq"), value(s3)], [str("__proto__"), value({ model: "victim" })]]));
      expect(await admin.raw(f3, s3)).toMatchObject({ type: "error", code: "E_FIELD", seq: s3, message: expect.stringContaining('"model"') });
    }
    // 3. beside a valid create, the keys are ignored and change nothing in the resolved config
    {
      const s = ++seq;
      const f = frame(map([
        [str("type"), str("create")], [str("seq"), value(s)], [str("model"), str("pp-top")],
        [str("config"), value({ inputs: 2, outputs: 1, standardize: false })],
        [str("__proto__"), value({ ...POISON, config: { inputs: 7, outputs: 7 }, model: "other" })],
        [str("constructor"), value({ prototype: POISON })],
        [str("prototype"), value(POISON)],
      ]));
      const reply = await admin.raw(f, s);
      expect(reply).toMatchObject({ type: "model", created: true, model: "pp-top" });
      expect(reply.config).toEqual({ ...DEFAULT_RESOLVED, standardize: false });
      expectNoPollution();
    }
    // 4. inside config, and inside its optimizer, drift and anomaly maps: refused, naming the key
    const configs: [string, Bytes][] = [];
    const base: [Bytes, Bytes][] = [[str("inputs"), value(2)], [str("outputs"), value(1)]];
    for (const key of ["__proto__", "constructor", "prototype"]) {
      const named = key === "__proto__" ? "__proto_" : key; // the decoder renames __proto__ (PROTOCOL.md §3.1)
      configs.push([`options.${named}`, map([...base, [str(key), value(POISON)]])]);
      configs.push([`options.optimizer.${named}`, map([...base, [str("optimizer"), map([[str("type"), str("adam")], [str("lr"), value(0.01)], [str(key), value(POISON)]])]])]);
      configs.push([`options.drift.${named}`, map([...base, [str("drift"), map([[str("warmup"), value(10)], [str(key), value(POISON)]])]])]);
      configs.push([`options.anomaly.${named}`, map([...base, [str("anomaly"), map([[str(key), value(POISON)], [str("exclude"), value(true)]])]])]);
    }
    for (const form of ["8", "16", "32"] as const) configs.push(["options.__proto_", map([...base, [str("__proto__", form), value(POISON)]], "16")]);
    // a config made only of __proto__: nothing for the engine to inherit inputs/outputs from either
    configs.push(["options.__proto_", map([[str("__proto__"), value({ inputs: 2, outputs: 1 })]])]);
    for (const [field, config] of configs) {
      const s = ++seq;
      const f = frame(map([[str("type"), str("create")], [str("seq"), value(s)], [str("model"), str("pp-config")], [str("config"), config]]));
      const reply = await admin.raw(f, s);
      expect(reply, field).toMatchObject({ type: "error", code: "E_CONFIG", seq: s, message: expect.stringContaining(`${field} `) });
      expectNoPollution();
    }
    // 5. the same through an independent encoder, from JSON that holds the keys as own properties
    const json = [
      '{"type": "list", "seq": SEQ, "__proto__": {"polluted": true}}',
      '{"type": "create", "seq": SEQ, "model": "pp-config", "config": {"inputs": 2, "outputs": 1, "__proto__": {"polluted": true, "standardize": false}}}',
      '{"type": "create", "seq": SEQ, "model": "pp-config", "config": {"inputs": 2, "outputs": 1, "optimizer": {"type": "sgd", "__proto__": {"lr": 5}}}}',
      '{"type": "create", "seq": SEQ, "model": "pp-config", "config": {"inputs": 2, "outputs": 1, "drift": {"__proto__": {"polluted": true}}}}',
      '{"type": "create", "seq": SEQ, "model": "pp-config", "config": {"inputs": 2, "outputs": 1, "anomaly": {"constructor": {"prototype": {"polluted": true}}}}}',
    ];
    for (const text of json) {
      const s = ++seq;
      const f = independentEncode(JSON.parse(text.replace("SEQ", String(s))));
      expect(onWire(f, text.includes("__proto__") ? "__proto__" : "constructor")).toBe(true);
      const reply = await admin.raw(f, s);
      expect(reply.type === "models" || reply.code === "E_CONFIG", `${text}: ${JSON.stringify(reply)}`).toBe(true);
      expect(reply.type, text).toBe(text.includes('"list"') ? "models" : "error");
      expectNoPollution();
    }
    // none of the refused creates made a model; the server still resolves the documented defaults
    expect(await admin.call({ type: "open", model: "pp-config" })).toMatchObject({ type: "error", code: "E_NOT_FOUND" });
    expect(await admin.call({ type: "open", model: "pp-inherited" })).toMatchObject({ type: "error", code: "E_NOT_FOUND" });
    const fresh = await admin.call({ type: "create", model: "pp-defaults", config: { inputs: 2, outputs: 1 } });
    expect(fresh).toMatchObject({ type: "model", created: true, step: 0, version: 0, loss: null });
    expect(fresh.config).toEqual(DEFAULT_RESOLVED);
    expect(Object.keys(fresh.config as object).sort()).toEqual(Object.keys(DEFAULT_RESOLVED).sort());
    expect(await admin.call({ type: "hello", protocol: 1 })).toMatchObject({ type: "welcome", protocol: 1, limits: { maxPayload: MAX_PAYLOAD } });
    expectNoPollution();
  });

  it("names of Object.prototype members are ordinary model names, unknown until created", async () => {
    const names = ["constructor", "toString", "hasOwnProperty", "valueOf", "isPrototypeOf"];
    const replies = await admin.all(names.flatMap((model) => [{ type: "open", model }, { type: "params", model }, { type: "train", model, x: bin(1, 2), y: bin(3) }, { type: "delete", model }]));
    for (const reply of replies) expect(reply, JSON.stringify(reply)).toMatchObject({ type: "error", code: "E_NOT_FOUND" });
    expect(await admin.call({ type: "create", model: "constructor", config: { inputs: 2, outputs: 1 } })).toMatchObject({ created: true, step: 0, version: 0 });
    expect(await admin.call({ type: "open", model: "toString" })).toMatchObject({ code: "E_NOT_FOUND" });
    expectNoPollution();
  });

  // ---- what a token grants --------------------------------------------------

  it("a prefixed token gets E_FORBIDDEN for every request type outside its prefixes, existing model or not, and list hides the others", async () => {
    const line7 = await Conn.open(server.url, LINE7);
    expect(await line7.call({ type: "create", model: "line-7.a", config: { inputs: 2, outputs: 1 } })).toMatchObject({ created: true });
    const secret = await admin.state("line-8.secret");
    const victim = await admin.state("victim");
    const namesBefore = (await admin.names()).sort();
    const outsideNames = ["line-8.secret", "victim", "line-8.ghost", "line-7", "line-70.a", "LINE-7.a", "line-7-a", "xline-7.a"];
    const requests = outsideNames.flatMap((name) => modelRequests(name).map((r) => ({ name, r })));
    const replies = await line7.all(requests.map(({ r }) => r));
    replies.forEach((reply, i) => {
      const { name, r } = requests[i]!;
      // the same answer whether the model exists or not: no way to probe other prefixes' names
      expect(reply, `${r.type as string} ${name}`).toMatchObject({ type: "error", code: "E_FORBIDDEN" });
    });
    expect(new Set(requests.map(({ r }) => r.type))).toEqual(new Set(MODEL_TYPES));
    // nothing was created, changed or deleted; no push of another prefix's model reached this connection
    expect((await admin.names()).sort()).toEqual(namesBefore);
    expect(await admin.state("line-8.secret")).toEqual(secret);
    expect(await admin.state("victim")).toEqual(victim);
    await admin.call({ type: "train", model: "line-8.secret", x: bin(1, 2), y: bin(3) });
    expect(await line7.names()).toEqual(["line-7.a"]);
    expect(line7.wire.log.filter((r) => r.type !== "error" && r.model !== undefined && !String(r.model).startsWith("line-7."))).toEqual([]);
    // inside its prefix, everything works
    const inside = await line7.all(modelRequests("line-7.a").filter((r) => r.type !== "delete"));
    expect(inside.map((r) => r.type)).toEqual(["model", "model", "ack", "prediction", "params", "setpoint", "subscribed", "unsubscribed"]);
    line7.close();
  });

  it("a read-only token cannot train, create or delete; the model stays byte-identical, reads work", async () => {
    const viewer = await Conn.open(server.url, VIEWER);
    const before = await admin.state("victim");
    const listBefore = (await admin.names()).sort();
    const victimConfig = { inputs: 2, outputs: 1, standardize: false };
    const attempts = [
      ...Array.from({ length: 20 }, () => ({ type: "train", model: "victim", x: bin(100, -100), y: bin(1e6) })),
      { type: "create", model: "victim", config: victimConfig }, // even the idempotent create of an existing model
      { type: "create", model: "viewer-model", config: { inputs: 2, outputs: 1 } },
      { type: "delete", model: "victim" },
      { type: "delete", model: "no-such-model" },
    ];
    const replies = await viewer.all(attempts);
    replies.forEach((reply, i) => {
      expect(reply, JSON.stringify(attempts[i]!.type)).toMatchObject({ type: "error", code: "E_FORBIDDEN", message: expect.stringContaining("read-only") });
    });
    expect(await admin.state("victim")).toEqual(before);
    expect(await viewer.state("victim")).toEqual(before);
    expect((await admin.names()).sort()).toEqual(listBefore);
    // reads work, and still see the same version
    const [prediction, params, setpoint, subscribed] = await viewer.all([
      { type: "predict", model: "victim", x: bin(1, 2) },
      { type: "params", model: "victim" },
      { type: "setpoint", model: "victim", target: [1] },
      { type: "subscribe", model: "victim" },
    ]);
    expect(prediction).toMatchObject({ type: "prediction", rows: 1, version: before.version });
    expect(params).toMatchObject({ type: "params", version: before.version });
    expect(hex(params!.W)).toBe(before.W);
    expect(setpoint).toMatchObject({ type: "setpoint", model: "victim", version: before.version });
    expect(subscribed).toMatchObject({ type: "subscribed", model: "victim" });
    const update = await viewer.wire.next((r) => r.type === "update");
    expect(update).toMatchObject({ model: "victim", version: before.version });
    expect(hex(update.W)).toBe(before.W);
    expect((await viewer.names()).sort()).toEqual(listBefore);
    viewer.close();
  });

  // ---- limits ----------------------------------------------------------------

  it("per-token and server-wide model limits give E_LIMIT and create nothing, even when creates are pipelined", async () => {
    const line7 = await Conn.open(server.url, LINE7);
    const covered = (await admin.names()).filter((n) => n.startsWith("line-7."));
    expect(covered).toEqual(["line-7.a"]);
    const wanted = ["line-7.b", "line-7.c", "line-7.d", "line-7.e"];
    const replies = await line7.all(wanted.map((model) => ({ type: "create", model, config: { inputs: 2, outputs: 1 } })));
    const free = LINE7_MAX_MODELS - covered.length;
    expect(replies.slice(0, free).map((r) => r.type)).toEqual(Array(free).fill("model"));
    for (const reply of replies.slice(free)) expect(reply).toMatchObject({ type: "error", code: "E_LIMIT", message: expect.stringContaining("models this token covers") });
    expect((await line7.names()).sort()).toEqual(["line-7.a", ...wanted.slice(0, free)].sort());
    for (const model of wanted.slice(free)) expect(await admin.call({ type: "open", model })).toMatchObject({ code: "E_NOT_FOUND" });
    // at its limit, the idempotent create of a model it has still answers (nothing new is made)
    expect(await line7.call({ type: "create", model: "line-7.a", config: { inputs: 2, outputs: 1 } })).toMatchObject({ type: "model", created: false });

    // fill the server to maxModels, then every further create is refused
    let filler = 0;
    while ((await admin.names()).length < MAX_MODELS) {
      expect(await admin.call({ type: "create", model: `filler-${filler++}`, config: { inputs: 2, outputs: 1 } })).toMatchObject({ created: true });
    }
    const full = (await admin.names()).sort();
    expect(full.length).toBe(MAX_MODELS);
    const refused = await admin.all(["one-too-many", "two-too-many", "line-7.z"].map((model) => ({ type: "create", model, config: { inputs: 2, outputs: 1 } })));
    for (const reply of refused) expect(reply).toMatchObject({ type: "error", code: "E_LIMIT", message: expect.stringContaining("models on this server") });
    expect(await line7.call({ type: "create", model: "line-7.y", config: { inputs: 2, outputs: 1 } })).toMatchObject({ code: "E_LIMIT" });
    expect((await admin.names()).sort()).toEqual(full);
    expect(await admin.call({ type: "create", model: "victim", config: { inputs: 2, outputs: 1, standardize: false } })).toMatchObject({ type: "model", created: false });
    expect(await metric(/^gradline_models (\d+)$/m)).toBe(MAX_MODELS);
    line7.close();
  });

  // ---- restart -----------------------------------------------------------------

  it("after a graceful close only the legitimate models have files, nothing else changed, and only they come back", async () => {
    const names = (await admin.names()).sort();
    expect(names.length).toBe(MAX_MODELS);
    const states = new Map<string, Awaited<ReturnType<Conn["state"]>>>();
    for (const name of names) states.set(name, await admin.state(name));
    admin.close();
    await server.close();

    // the files that were there are unchanged; every new one is the server's own, for a model it holds
    const after = await tree(parent);
    expect(foreign(after, names)).toEqual(foreign(treeBefore, names));
    for (const name of names) expect(pathsOf(after), name).toContain(`data/${name}.ckpt`);
    expect(await readFile(join(parent, "canary.ckpt"))).toEqual(CANARY);
    expect(await readFile(join(data, "notes.txt"))).toEqual(NOTES);
    expect(outside.map((p) => existsSync(p))).toEqual(outsideBefore);

    log = [];
    server = await startServer(options());
    admin = await Conn.open(server.url, ADMIN);
    expect(log.join("\n")).not.toMatch(/skipped/);
    expect((await admin.names()).sort()).toEqual(names);
    for (const name of names) expect(await admin.state(name), name).toEqual(states.get(name));
    // the grants hold after the restart as before
    const line7 = await Conn.open(server.url, LINE7);
    expect((await line7.names()).sort()).toEqual(names.filter((n) => n.startsWith("line-7.")));
    expect(await line7.call({ type: "params", model: "line-8.secret" })).toMatchObject({ code: "E_FORBIDDEN" });
    expect(await admin.call({ type: "open", model: "../victim" })).toMatchObject({ code: "E_FIELD" });
    line7.close();
    expect(foreign(await tree(parent), names)).toEqual(foreign(treeBefore, names));
  });
});
