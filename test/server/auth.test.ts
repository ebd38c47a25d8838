// Bearer tokens are checked at the upgrade (401 otherwise) and on /metrics; with no
// token configured the server binds loopback only, whatever host it was given.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "node:http";
import WebSocket from "ws";
import { connect, startServer, lineLogger, type GradlineServer } from "../../host/index.js";

const TOKEN = "line-7-controller-token-0123";

/** The HTTP status of a WebSocket upgrade attempt: 101 when it succeeded. */
function upgradeStatus(url: string, headers: Record<string, string> = {}, protocols: string[] = []): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers });
    ws.on("open", () => {
      ws.close();
      resolve(101);
    });
    ws.on("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on("error", (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

describe("server auth", () => {
  let server: GradlineServer;
  let http: string;

  beforeAll(async () => {
    server = await startServer({ port: 0, workers: 1, tokens: [TOKEN, "second-token-abcdefghij"], logger: false });
    http = server.url.replace("ws:", "http:");
  });
  afterAll(() => server.close());

  it("refuses an upgrade without a token, or with a wrong one, with 401", async () => {
    expect(await upgradeStatus(server.url)).toBe(401);
    expect(await upgradeStatus(server.url, { Authorization: `Bearer ${TOKEN}x` })).toBe(401);
    expect(await upgradeStatus(server.url, { Authorization: `Bearer ${TOKEN.slice(0, -1)}` })).toBe(401);
    expect(await upgradeStatus(server.url, { Authorization: TOKEN })).toBe(401);
    expect(await upgradeStatus(`${server.url}?access_token=nope`)).toBe(401);
    const metrics = await (await fetch(`${http}metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
    expect(metrics).toMatch(/^gradline_upgrades_rejected_total\{reason="token"\} 5$/m);
  });

  it("answers a missing token and a wrong one with different 401s (RFC 6750: error=\"invalid_token\" for the wrong one)", async () => {
    // an upgrade request by hand (fetch may not send Connection: Upgrade)
    const answer = (headers: Record<string, string>) =>
      new Promise<{ status: number | undefined; challenge: string | undefined; body: string }>((resolve, reject) => {
        const upgrade = { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==" };
        request(http, { headers: { ...upgrade, ...headers } }, (response) => {
          let body = "";
          response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
          response.on("end", () => resolve({ status: response.statusCode, challenge: response.headers["www-authenticate"], body }));
        }).on("error", reject).end();
      });
    expect(await answer({})).toEqual({ status: 401, challenge: 'Bearer realm="gradline"', body: "this server needs a bearer token\n" });
    expect(await answer({ Authorization: `Bearer ${TOKEN}x` })).toEqual({
      status: 401, challenge: 'Bearer realm="gradline", error="invalid_token"', body: "the bearer token was not accepted\n",
    });
    // /metrics answers the same way
    expect((await fetch(`${http}metrics`, { headers: { Authorization: "Bearer nope" } })).headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
  });

  it("accepts any configured token, as a header or as access_token (browsers)", async () => {
    expect(await upgradeStatus(server.url, { Authorization: `Bearer ${TOKEN}` })).toBe(101);
    expect(await upgradeStatus(server.url, { Authorization: "bearer second-token-abcdefghij" })).toBe(101);
    expect(await upgradeStatus(`${server.url}?access_token=${TOKEN}`)).toBe(101);
  });

  it("takes a token offered as a gradline.bearer.<base64url> subprotocol, and echoes only the other entry", async () => {
    const offer = (token: string) => ["gradline", `gradline.bearer.${Buffer.from(token).toString("base64url")}`];
    const opened = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(server.url, offer(TOKEN));
      ws.on("open", () => {
        resolve(ws.protocol);
        ws.close();
      });
      ws.on("error", reject);
    });
    expect(opened).toBe("gradline");
    // a token of any characters survives: base64url keeps it inside a subprotocol name's alphabet
    expect(await upgradeStatus(server.url, {}, offer("second-token-abcdefghij"))).toBe(101);
    expect(await upgradeStatus(server.url, {}, offer(`${TOKEN}x`))).toBe(401);
    // the header still wins over the subprotocol
    expect(await upgradeStatus(server.url, { Authorization: `Bearer ${TOKEN}x` }, offer(TOKEN))).toBe(401);
  });

  it("the client passes its token; a wrong one fails to connect with a hint", async () => {
    const client = await connect(server.url, { token: TOKEN });
    expect(client.server?.protocol).toBe(1);
    client.close();
    await expect(connect(server.url, { token: "wrong-token-0123456789" })).rejects.toMatchObject({ code: "E_CLOSED", message: expect.stringContaining("401") });
  });

  it("guards /metrics with the token; /healthz stays open", async () => {
    expect((await fetch(`${http}metrics`)).status).toBe(401);
    expect((await fetch(`${http}metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect((await fetch(`${http}healthz`)).status).toBe(200);
  });

  it("without tokens listens on loopback only, and says so", async () => {
    const lines: string[] = [];
    const open = await startServer({ port: 0, workers: 0, host: "0.0.0.0", logger: lineLogger((line) => lines.push(line)) });
    expect(open.host).toBe("127.0.0.1");
    expect(lines.join("\n")).toMatch(/no token configured: loopback only \(asked for 0\.0\.0\.0\)/);
    await open.close();
  });

  it("refuses tokens too short to be secret", async () => {
    await expect(startServer({ port: 0, workers: 0, tokens: ["short"], logger: false })).rejects.toMatchObject({ code: "E_CONFIG" });
  });
});
