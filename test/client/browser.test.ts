// The built client in headless Chromium, with the browser's own WebSocket: the token
// travels as an offered subprotocol (never in the URL), frames are the same
// MessagePack, results match the server.
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startServer, type GradlineServer } from "../../host/index.js";
import { startStaticServer } from "../../examples/browser/serve.mjs";

const TOKEN = "browser-dashboard-token-42";
/** The page, dist/host and msgpackr's ESM build; nothing else. */
const page = `<!doctype html><script type="importmap">{"imports":{"msgpackr":"/node_modules/msgpackr/index.js"}}</script><title>gradline</title>`;

describe("client in a browser", () => {
  let gradline: GradlineServer;
  let files: Awaited<ReturnType<typeof startStaticServer>>;
  let browser: Browser;

  beforeAll(async () => {
    gradline = await startServer({ port: 0, workers: 1, tokens: [TOKEN], logger: false });
    files = await startStaticServer({ allow: ["/dist/host/", "/node_modules/msgpackr/"], pages: { "/": page } });
    browser = await chromium.launch({ executablePath: inject("chromium") });
  });
  afterAll(async () => {
    await browser?.close();
    files?.server.close();
    await gradline?.close();
  });

  it("connects with a token, trains, predicts and receives updates", async () => {
    const page = await browser.newPage();
    await page.goto(files.url);
    // plain JavaScript as text: the test runner must not rewrite the browser's import()
    const result = (await page.evaluate(`(async ({ url, token }) => {
      const { connect } = await import("/dist/host/client/index.js");
      const client = await connect(url, { token });
      await client.create("browser-line", { inputs: 2, outputs: 1, optimizer: "sgd", standardize: false });
      const pushed = [];
      await client.subscribe("browser-line", {}, (u) => pushed.push(u.step));
      const x = new Float32Array([1, 2, 3, 4]);
      const y = new Float32Array([5, 11]);
      const acks = await Promise.all([client.train("browser-line", x, y), client.train("browser-line", x, y)]);
      const params = await client.params("browser-line");
      const prediction = await client.predict("browser-line", new Float32Array([0.5, -1]));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const refused = await client.train("browser-line", new Float32Array([1]), y).catch((e) => e.code);
      client.close();
      return {
        native: typeof WebSocket === "function",
        steps: acks.map((a) => a.step), W: Array.from(params.W), b: Array.from(params.b), y: Array.from(prediction.y), pushed, refused,
      };
    })(${JSON.stringify({ url: gradline.url, token: TOKEN })})`)) as { native: boolean; steps: number[]; W: number[]; b: number[]; y: number[]; pushed: number[]; refused: string };
    expect(result.native).toBe(true);
    expect(result.steps).toEqual([1, 2]);
    expect(result.pushed).toEqual([0, 1, 2]);
    expect(result.refused).toBe("E_SHAPE");
    // ŷ = W·x + b from the parameters the browser read
    expect(result.y[0]).toBeCloseTo(result.W[0]! * 0.5 - result.W[1]! + result.b[0]!, 5);
  });

  it("trains on number[][] rows, as the library takes them", async () => {
    const page = await browser.newPage();
    await page.goto(files.url);
    const steps = await page.evaluate(`(async ({ url, token }) => {
      const { connect } = await import("/dist/host/client/index.js");
      const client = await connect(url, { token });
      await client.create("browser-rows", { inputs: 2, outputs: 1 });
      const { step } = await client.train("browser-rows", [[1, 2], [3, 4]], [[5], [11]]);
      const refused = await client.train("browser-rows", [[1, 2], [3]], [[5], [11]]).catch((e) => e.code);
      client.close();
      return [step, refused];
    })(${JSON.stringify({ url: gradline.url, token: TOKEN })})`);
    expect(steps).toEqual([1, "E_SHAPE"]);
  });

  it("is refused with a wrong token, for a reason it cannot know", async () => {
    const page = await browser.newPage();
    await page.goto(files.url);
    const code = await page.evaluate(`(async (url) => {
      const { connect } = await import("/dist/host/client/index.js");
      return connect(url, { token: "wrong-token-0123456789" }).then(() => "connected", (e) => [e.code, e.details.reason, e.details.sent]);
    })(${JSON.stringify(gradline.url)})`);
    // a browser's WebSocket hides the 401: the client cannot tell this from nothing listening
    expect(code).toEqual(["E_CLOSED", "unknown", false]);
  });
});
