// A connection that cannot be opened says which failure it was (nothing listening, a
// missing token, a wrong token), in its message and in details.reason, through the real
// server and the `ws` package; and nothing that was never sent is called "may have been
// applied": neither connect() nor the requests that waited for the connection.
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, GradlineClient, startServer, type GradlineServer } from "../../host/index.js";
import type { GradlineError } from "../../host/base/errors.js";

const TOKEN = "connect-errors-token-0123456789";

/** A port that was just free: bound by the system, then released, so nothing listens on it. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const refusal = (promise: Promise<unknown>): Promise<GradlineError> =>
  promise.then(
    () => {
      throw new Error("it connected");
    },
    (error: GradlineError) => error,
  );

describe("client connection failures", () => {
  let server: GradlineServer;
  beforeAll(async () => {
    server = await startServer({ port: 0, workers: 1, tokens: [TOKEN], logger: false });
  });
  afterAll(() => server.close());

  it("a URL that is not ws:// or wss://: E_CONFIG naming the form, before anything is dialled", async () => {
    for (const url of ["127.0.0.1:8080", "http://127.0.0.1:8080/", "", "ws://"]) {
      await expect(connect(url)).rejects.toMatchObject({
        code: "E_CONFIG",
        message: `the server's URL must be a ws:// or wss:// URL, such as ws://127.0.0.1:8080/ (got ${JSON.stringify(url)})`,
      });
    }
  });

  it("nothing listening: connection refused, is the server running?", async () => {
    const url = `ws://127.0.0.1:${await freePort()}/`;
    const error = await refusal(connect(url));
    expect(error.code).toBe("E_CLOSED");
    expect(error.message).toBe(`connection refused at ${url}: is the server running?; nothing was sent`);
    expect(error.details).toEqual({ sent: false, reason: "refused", url });
  });

  it("no token for a server that needs one: 401, this server needs a token", async () => {
    const error = await refusal(connect(server.url));
    expect(error.code).toBe("E_CLOSED");
    expect(error.message).toBe(`401 from ${server.url}: this server needs a token (connect(url, { token })); nothing was sent`);
    expect(error.details).toMatchObject({ sent: false, reason: "token-required" });
  });

  it("a wrong token: 401, the server refused the token", async () => {
    const error = await refusal(connect(server.url, { token: `${TOKEN}-not` }));
    expect(error.code).toBe("E_CLOSED");
    expect(error.message).toBe(`401 from ${server.url}: the server refused the token; nothing was sent`);
    expect(error.details).toMatchObject({ sent: false, reason: "token-refused" });
  });

  it("fails requests made before a first connection that never came as not sent, with the connection's reason", async () => {
    const url = `ws://127.0.0.1:${await freePort()}/`;
    const client = new GradlineClient(url, {});
    const asked = [client.list(), client.train("line-7", [[1, 2]], [[3]])].map(refusal);
    const opened = await refusal(client.opened);
    for (const error of await Promise.all(asked)) {
      expect(error).toBe(opened);
      expect(error.message).not.toMatch(/may or may not/);
    }
    expect(opened.details).toMatchObject({ sent: false, reason: "refused" });
    // and afterwards: not connected, not reconnecting, nothing sent
    const later = await refusal(client.list());
    expect(later.details).toEqual({ sent: false });
    expect(later.message).toMatch(/^the request was not sent \(not connected, and not reconnecting\); nothing was applied$/);
  });

  it("after giving up reconnecting, says why the last attempt failed and that the waiting requests were not sent", async () => {
    const own = await startServer({ port: 0, workers: 1, logger: false });
    let dropped!: () => void;
    const disconnected = new Promise<void>((resolve) => (dropped = resolve));
    const client = await connect(own.url, { reconnect: { maxAttempts: 1, initialDelayMs: 1 }, onStatus: (status) => status === "disconnected" && dropped() });
    await client.create("gone", { inputs: 1, outputs: 1 });
    const closing = own.close(); // its port closes: the reconnect attempt is refused
    // asked while reconnecting (the attempt waits on a timer; this runs first): it waits, unsent
    await disconnected;
    const waiting = await refusal(client.train("gone", [1], [2]));
    await closing;
    expect(waiting.code).toBe("E_CLOSED");
    expect(waiting.message).toBe(
      `the request was not sent (gave up reconnecting after 1 attempts; last: connection refused at ${own.url}: is the server running?); nothing was applied`,
    );
    expect(waiting.details).toEqual({ sent: false, reason: "refused" });
    client.close();
  });
});
