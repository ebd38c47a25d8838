// The dashboard with tokens: a wrong token is refused with a message that says so, a
// read-only token sees the models but cannot create, train or delete from the page,
// and no token ever shows in a URL the page requests or in the server's log.
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, lineLogger, startServer, type GradlineClient, type GradlineServer } from "../../host/index.js";
import { kilnBatch, logIn, openPage, screenshot, type WatchedPage } from "../helpers/dashboard.js";
import { rng } from "../helpers/random.js";

const ADMIN = "line-admin-token-0123456789";
const READER = "wall-reader-token-abcdefghij";
const WRONG = "not-a-token-of-this-server-42";
const MODEL = "press-2";

describe("dashboard, tokens", () => {
  let server: GradlineServer;
  let admin: GradlineClient;
  let browser: Browser;
  const pages: WatchedPage[] = [];
  const log: string[] = [];

  const http = () => server.url.replace("ws:", "http:");
  const open = async () => {
    const watched = await openPage(browser, http());
    pages.push(watched);
    return watched;
  };
  const connected = (watched: WatchedPage) =>
    watched.page.waitForFunction(() => document.querySelector("#status")?.getAttribute("data-state") === "connected", undefined, { timeout: 20_000 });
  const notice = (watched: WatchedPage) =>
    watched.page.waitForFunction(() => !document.querySelector<HTMLElement>("#notice")!.hidden, undefined, { timeout: 20_000 }).then(() => watched.page.locator("#notice").textContent());

  beforeAll(async () => {
    server = await startServer({ port: 0, workers: 1, tokens: [ADMIN, { token: READER, readOnly: true }], logger: lineLogger((line) => log.push(line)) });
    admin = await connect(server.url, { token: ADMIN });
    await admin.create(MODEL, { inputs: 3, outputs: 1 });
    const r = rng(3);
    for (let i = 0; i < 20; i++) {
      const { x, y } = kilnBatch(r, 16, [0.1, 1, -0.2], 2);
      await admin.train(MODEL, x, y);
    }
    browser = await chromium.launch({ executablePath: inject("chromium") });
  });
  afterAll(async () => {
    await browser?.close();
    admin?.close();
    await server?.close();
  });

  it("refuses a wrong token with a message that says so, and lets a good one in", async () => {
    const watched = await open();
    const { page } = watched;
    await page.locator("#login").waitFor({ state: "visible" });
    await logIn(page, WRONG);
    await page.waitForFunction(() => /did not accept this token/.test(document.querySelector("#login-error")?.textContent ?? ""), undefined, { timeout: 20_000 });
    expect(await page.locator("#login").isVisible()).toBe(true);
    await screenshot(page, "wrong-token.png");
    await logIn(page, READER);
    await connected(watched);
    await page.waitForFunction((model) => Number(document.querySelector(`#models tr[data-model="${model}"] [data-column="step"]`)?.getAttribute("data-value")) === 20, MODEL, { timeout: 20_000 });
    // the one console error is the 401 of the wrong token's check
    expect(watched.errors.filter((e) => !/401/.test(e))).toEqual([]);
  });

  it("a read-only token cannot create, train or delete from the page", async () => {
    // each write on a fresh page: the first refusal hides the write controls
    const refusedOn = async (act: (watched: WatchedPage) => Promise<void>) => {
      const watched = await open();
      await logIn(watched.page, READER);
      await connected(watched);
      await watched.page.locator(`#models tr[data-model="${MODEL}"]`).waitFor();
      await act(watched);
      expect(await notice(watched)).toMatch(/read-only/);
      expect(await watched.page.locator("#access").textContent()).toBe("read-only");
      expect(await watched.page.locator("#create").isVisible()).toBe(false);
      return watched;
    };
    await refusedOn(async ({ page }) => {
      await page.locator('#create input[name="name"]').fill("press-3");
      await page.locator("#create button").click();
    });
    await refusedOn(async ({ page }) => {
      await page.locator('#rows textarea[name="csv"]').fill("180, 2, 40, 17\n185, 2.1, 41, 17.5");
      await page.locator('#rows button[value="train"]').click();
    });
    const last = await refusedOn(async ({ page }) => {
      page.once("dialog", (dialog) => void dialog.accept());
      await page.locator("#delete").click();
    });
    await screenshot(last.page, "read-only.png");
    // nothing changed: no new model, no step, the model still there
    expect((await admin.list()).map((m) => [m.model, m.step])).toEqual([[MODEL, 20]]);
  });

  it("never puts a token in a URL it requests, nor in the server's log", async () => {
    const forms = (token: string) => [token, Buffer.from(token).toString("base64url"), encodeURIComponent(token)];
    const urls = pages.flatMap((watched) => watched.urls);
    expect(urls.some((url) => url.startsWith("ws://"))).toBe(true);
    for (const token of [ADMIN, READER, WRONG]) {
      expect(urls.filter((url) => forms(token).some((form) => url.includes(form)))).toEqual([]);
      expect(log.filter((line) => forms(token).some((form) => line.includes(form)))).toEqual([]);
    }
    // the page checks a token on /metrics before it opens a WebSocket: the wrong one never tried to connect
    expect(log.filter((line) => /upgrade|refused/.test(line))).toEqual([]);
    expect(log.some((line) => /connection \d+ from/.test(line))).toBe(true);
  });
});
