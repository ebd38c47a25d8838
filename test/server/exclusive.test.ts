// One server per data folder and per port, through the real `gradline serve`
// processes: a second server on the same folder (by any path to it) or on a port
// in use refuses to start, says who holds it, and leaves the first one and the
// folder as they were; a kill -9 releases the folder at once; --reuse-port
// shares a port only when asked.
import { mkdtemp, readdir, readFile, rm, stat, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connect, startServer } from "../../host/index.js";
import { freePort, serverRefuses, spawnServer, type ServerProcess } from "../helpers/serverProcess.js";

const running: ServerProcess[] = [];
async function serve(args: string[]): Promise<ServerProcess> {
  const server = await spawnServer([...args, "--workers", "0"]);
  running.push(server);
  return server;
}
afterAll(async () => {
  for (const s of running) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
});

/** Every file of the folder with its size and contents' length: what a second server must not change. */
async function contents(folder: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(folder)).sort()) out[name] = (await readFile(join(folder, name))).toString("base64");
  return out;
}

async function healthy(url: string): Promise<boolean> {
  const response = await fetch(url.replace("ws://", "http://") + "healthz").catch(() => undefined);
  return response?.status === 200;
}

describe("one server per data folder", () => {
  it("refuses a second server on the folder, by any path to it, naming the first; kill -9 frees it at once", async () => {
    const data = await mkdtemp(join(tmpdir(), "gradline-lock-"));
    const alias = `${data}-alias`;
    await symlink(data, alias);
    try {
      const first = await serve(["--data", data, "--port", "0"]);
      const client = await connect(first.url);
      await client.create("line-1", { inputs: 2, outputs: 1 });
      await client.train("line-1", new Float32Array([1, 2]), new Float32Array([3]));
      client.close();
      const before = await contents(data);

      for (const path of [data, alias, `${data}/.`]) {
        const second = await serverRefuses(["--data", path, "--port", "0", "--workers", "0"]);
        expect(second.code).toBe(1);
        expect(second.output).toContain(`gradline: E_CONFIG: the data folder ${path} is in use by another gradline server (pid ${first.child.pid}, serving ${first.url}, since `);
        expect(second.output).toContain("stop that server first, or give this one another data folder");
        expect(second.output).not.toContain("listening");
      }
      expect(await contents(data)).toEqual(before);
      expect(await healthy(first.url)).toBe(true);

      // kill -9: the kernel releases the lock with the process; a restart takes the folder without waiting
      first.child.kill("SIGKILL");
      await first.exited;
      const restarted = await serve(["--data", data, "--port", "0"]);
      const again = await connect(restarted.url);
      expect((await again.params("line-1")).step).toBe(1);
      again.close();
      restarted.child.kill("SIGTERM");
      expect(await restarted.exited).toBe(0);
    } finally {
      await rm(alias, { force: true });
      await rm(data, { recursive: true, force: true });
    }
  });

  it("releases the folder when a server closes, and when its start fails after taking it", async () => {
    const data = await mkdtemp(join(tmpdir(), "gradline-lock-"));
    try {
      const first = await startServer({ data, port: 0, workers: 0, logger: false });
      await expect(startServer({ data, port: 0, workers: 0, logger: false })).rejects.toMatchObject({ code: "E_CONFIG", details: { owner: { pid: process.pid, url: first.url } } });
      // a start that takes the folder and then cannot listen gives it back
      await expect(startServer({ data: join(data, "other"), port: first.port, workers: 0, logger: false })).rejects.toMatchObject({ code: "E_CONFIG" });
      const other = await startServer({ data: join(data, "other"), port: 0, workers: 0, logger: false });
      await other.close();
      await first.close();
      const next = await startServer({ data, port: 0, workers: 0, logger: false });
      await next.close();
      expect((await stat(data)).isDirectory()).toBe(true);
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });
});

describe("one server per port", () => {
  it("refuses a port in use with a message that says so, and the first keeps every connection", async () => {
    const port = await freePort();
    const first = await serve(["--data", "", "--port", String(port)]);
    const second = await serverRefuses(["--data", "", "--port", String(port), "--workers", "0"]);
    expect(second.code).toBe(1);
    expect(second.output).toContain(`gradline: E_CONFIG: cannot listen on 127.0.0.1:${port}: the port is in use (by another gradline server, or another program)`);
    expect(second.output).toContain("--reuse-port");
    // every connection reaches the first: it sees all of them
    const clients = await Promise.all(Array.from({ length: 8 }, () => connect(first.url)));
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/gradline_connections 8\b/);
    for (const c of clients) c.close();
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
  });

  it("refuses an address that is not this machine's", async () => {
    const refused = await serverRefuses(["--data", "", "--host", "192.0.2.1", "--port", "0", "--workers", "0", "--token", "a-token-of-24-characters"]);
    expect(refused.code).toBe(1);
    expect(refused.output).toContain("cannot listen on 192.0.2.1:0: 192.0.2.1 is not an address of this machine");
  });

  it("shares a port when every server asks for it with --reuse-port", async () => {
    const port = await freePort();
    const a = await serve(["--data", "", "--port", String(port), "--reuse-port"]);
    const b = await serve(["--data", "", "--port", String(port)], ).catch((e: Error) => e);
    // one that does not ask is still refused: sharing is never silent
    expect(b).toBeInstanceOf(Error);
    const c = await spawnServer(["--data", "", "--port", String(port), "--workers", "0"], { GRADLINE_REUSE_PORT: "yes" });
    running.push(c);
    // both listen: with the first gone, the port still answers, from the second
    a.child.kill("SIGTERM");
    expect(await a.exited).toBe(0);
    expect(await healthy(c.url)).toBe(true);
    c.child.kill("SIGTERM");
    expect(await c.exited).toBe(0);
  });
});

describe("the lock against other local processes", () => {
  it("is named with a secret only the folder's owner can read, so a squatter on the folder's identity alone does not block it", async () => {
    const { createHash } = await import("node:crypto");
    const { createServer } = await import("node:net");
    const data = await mkdtemp(join(tmpdir(), "gradline-squat-"));
    try {
      const { dev, ino } = await stat(data, { bigint: true });
      // what a process that cannot read the folder could compute
      const guess = createServer(() => {}).listen(`\0gradline-data-${createHash("sha256").update(`${dev}:${ino}`).digest("hex").slice(0, 32)}`);
      const server = await startServer({ data, port: 0, workers: 0, logger: false });
      const secret = await stat(join(data, ".gradline.lockname"));
      expect(secret.mode & 0o777).toBe(0o600);
      await server.close();
      guess.close();
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });

  it("is not held up by a peer that keeps its connection open, and quotes a holder's words only in their own form", async () => {
    const { createConnection, createServer } = await import("node:net");
    const { lockAddress } = await import("../../host/store/lock.js");
    const data = await mkdtemp(join(tmpdir(), "gradline-peer-"));
    try {
      const server = await startServer({ data, port: 0, workers: 0, logger: false });
      const { address } = await lockAddress(data);
      const peer = createConnection(address);
      peer.on("error", () => {});
      await new Promise((resolve) => peer.once("data", resolve));
      // the peer never ends its side; close() must not wait for it
      const started = Date.now();
      await server.close();
      expect(Date.now() - started).toBeLessThan(5_000);
      peer.destroy();

      // a process on the lock's name (here the test itself, which can read the secret) that answers with forged text
      const impostor = createServer((socket) => socket.end(JSON.stringify({ pid: 4242, url: "ws://evil/\nFAKE LOG LINE", since: "\u001b[31mred" }) + "\n")).listen(address);
      await new Promise((resolve) => impostor.once("listening", resolve));
      const refused = await startServer({ data, port: 0, workers: 0, logger: false }).catch((e: Error) => e);
      impostor.close();
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toBe(`the data folder ${data} is in use by another gradline server (pid 4242, since an unknown time): stop that server first, or give this one another data folder`);
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });
});
