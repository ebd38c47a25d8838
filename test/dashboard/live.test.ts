// The dashboard on GET /, in headless Chromium: it loads with no console error, draws
// the loss of live trains, shows the numbers /metrics and params hold, marks a drift
// alarm as its push arrives, and answers setpoint and prediction-against-actual asks.
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, lineLogger, startServer, type GradlineClient, type GradlineServer } from "../../host/index.js";
import { kilnBatch, logIn, openPage, pixelsOf, screenshot, type WatchedPage } from "../helpers/dashboard.js";
import { rng } from "../helpers/random.js";

const TOKEN = "wall-dashboard-token-0123456789";
const MODEL = "kiln-3";
/** Yield per °C, per bar, per l/min; the drift flips the process. */
const BEFORE = [0.08, 1.5, -0.2];
const AFTER = [-0.3, 4, 0.5];
const LOSS_BLUE: [number, number, number] = [76, 201, 240];
const ALARM_RED: [number, number, number] = [248, 81, 73];

describe("dashboard, live", () => {
  let server: GradlineServer;
  let client: GradlineClient;
  let browser: Browser;
  let watched: WatchedPage;
  const log: string[] = [];
  const r = rng(7);
  let lastStep = 0;

  const http = () => server.url.replace("ws:", "http:");
  const metrics = async () => (await fetch(`${http()}metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
  const metric = (text: string, line: RegExp) => Number(line.exec(text)?.[1]);

  beforeAll(async () => {
    server = await startServer({ port: 0, workers: 1, tokens: [TOKEN], logger: lineLogger((line) => log.push(line)) });
    client = await connect(server.url, { token: TOKEN });
    await client.create(MODEL, { inputs: 3, outputs: 1, optimizer: { type: "adam", lr: 0.05 } });
    browser = await chromium.launch({ executablePath: inject("chromium") });
  });
  afterAll(async () => {
    await browser?.close();
    client?.close();
    await server?.close();
  });

  it("serves the page on GET / with its own policy, and its files from gradline and npm", async () => {
    const page = await fetch(http());
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.headers.get("content-security-policy")).toMatch(/script-src 'self' 'sha256-/);
    expect(await page.text()).toContain('<meta name="gradline-auth" content="token">');
    for (const path of ["dashboard/lib/uplot.js", "dashboard/lib/msgpackr/index.js", "dashboard/host/client/index.js", "dashboard/host/ui/app.js"]) {
      expect((await fetch(`${http()}${path}`)).headers.get("content-type"), path).toMatch(/^text\/javascript/);
    }
    // only the table's paths: nothing else of the disk
    expect((await fetch(`${http()}dashboard/host/ui/../../../package.json`)).status).toBe(404);
    expect((await fetch(`${http()}dashboard/host/server/server.js`)).status).toBe(404);
  });

  it("loads with no console error, asks for the token, and draws the loss of live trains", async () => {
    watched = await openPage(browser, http());
    const { page } = watched;
    await page.locator("#login").waitFor({ state: "visible" });
    await logIn(page, TOKEN);
    await page.waitForFunction(() => document.querySelector("#status")?.getAttribute("data-state") === "connected", undefined, { timeout: 20_000 });
    // train until the chart shows a line of blue: updates come at most every 200 ms, so this spans several
    let training = true;
    const trainer = (async () => {
      // past the drift detector's warm-up (50 steps), so the change below is a change
      for (let i = 0; training || i < 150; i++) {
        const { x, y } = kilnBatch(r, 32, BEFORE, 3);
        if (i % 25 === 24) y[5] = y[5]! + 400; // a residual outlier now and then
        if (i % 40 === 39) x[3] = 400; // and a temperature reading out of range
        lastStep = (await client.train(MODEL, x, y)).step;
      }
    })();
    await page.waitForFunction(() => Number(document.querySelector("#t-step")?.getAttribute("data-value")) >= 40, undefined, { timeout: 30_000 });
    await expect.poll(() => pixelsOf(page, "#loss-chart canvas", LOSS_BLUE), { timeout: 30_000 }).toBeGreaterThan(200);
    training = false;
    await trainer;
    expect(watched.errors).toEqual([]);
  });

  it("loads in a browser started with a POSIX locale (LANG=C), whose language Intl refuses", async () => {
    const kiosk = await openPage(browser, http(), "en-US@posix");
    await logIn(kiosk.page, TOKEN);
    await kiosk.page.waitForFunction(() => document.querySelector("#status")?.getAttribute("data-state") === "connected", undefined, { timeout: 20_000 });
    await kiosk.page.locator('#models tr[data-model="kiln-3"]').waitFor();
    expect(kiosk.errors).toEqual([]);
    await kiosk.page.close();
  });

  it("shows the numbers /metrics and params hold", async () => {
    const { page } = watched;
    const text = await metrics();
    const step = metric(text, /^gradline_model_step\{model="kiln-3"\} (\S+)$/m);
    expect(step).toBe(lastStep);
    const expected = {
      step,
      loss: metric(text, /^gradline_model_loss\{model="kiln-3"\} (\S+)$/m),
      anomalies: ["residual", "range", "stuck"].reduce((sum, kind) => sum + (metric(text, new RegExp(`^gradline_anomalies_total\\{model="kiln-3",kind="${kind}"\\} (\\S+)$`, "m")) || 0), 0),
      drift: metric(text, /^gradline_drift_events_total\{model="kiln-3"\} (\S+)$/m) || 0,
    };
    expect(expected.anomalies).toBeGreaterThan(0);
    // the page polls /metrics once a second and hears every step's update: wait for it to catch up, then compare exactly
    const shown = () => page.evaluate(() => Object.fromEntries(["step", "loss", "anomalies", "drift"].map((k) => [k, Number(document.querySelector(`#t-${k}`)!.getAttribute("data-value"))])));
    await expect.poll(shown, { timeout: 20_000 }).toEqual(expected);
    const row = await page.evaluate(() => Object.fromEntries(["step", "loss", "anomalies", "drift"].map((k) => [k, Number(document.querySelector(`#models tr[data-model="kiln-3"] [data-column="${k}"]`)!.getAttribute("data-value"))])));
    expect(row).toEqual(expected);
    expect(await page.locator("#t-step").textContent()).toBe(step.toLocaleString("en-US"));

    const params = await client.params(MODEL);
    const cells = await page.evaluate(() => ({
      W: [0, 1, 2].map((k) => Number(document.querySelector(`[data-cell="W[0][${k}]"]`)!.getAttribute("data-value"))),
      b: Number(document.querySelector('[data-cell="b[0]"]')!.getAttribute("data-value")),
      importance: [0, 1, 2].map((k) => Number(document.querySelector(`[data-importance="0,${k}"]`)!.getAttribute("data-value"))),
    }));
    expect(cells).toEqual({ W: Array.from(params.W), b: params.b[0], importance: Array.from(params.importance!) });
  });

  it("marks an injected drift on the loss chart as its push arrives", async () => {
    const { page } = watched;
    // the process changes at once: train on the new relation until the detector raises its alarm
    let drift: { step: number; at: number } | undefined;
    for (let i = 0; i < 400 && !drift; i++) {
      const { x, y } = kilnBatch(r, 32, AFTER, 20);
      const ack = await client.train(MODEL, x, y);
      if (ack.drift) drift = { step: ack.drift.step, at: Date.now() };
    }
    expect(drift, "no drift alarm in 400 batches after the change").toBeDefined();
    await page.waitForFunction((step) => document.querySelector("#loss-chart")?.getAttribute("data-last-drift-step") === String(step), drift!.step, { timeout: 20_000 });
    // received by the page (its own clock, the same machine's) within a second of the ack: a push, not a poll
    const receivedAt = Number(await page.locator("#loss-chart").getAttribute("data-last-drift-at"));
    expect(receivedAt - drift!.at).toBeLessThan(1000);
    expect(Number(await page.locator("#loss-chart").getAttribute("data-drift-markers"))).toBeGreaterThanOrEqual(1);
    expect(await pixelsOf(page, "#loss-chart canvas", ALARM_RED)).toBeGreaterThan(50);
    // the drift count follows from /metrics
    await page.waitForFunction(() => Number(document.querySelector("#t-drift")?.getAttribute("data-value")) >= 1, undefined, { timeout: 20_000 });
    // a little more of the new process, so the chart shows the loss settling again
    for (let i = 0; i < 60; i++) {
      const { x, y } = kilnBatch(r, 32, AFTER, 20);
      await client.train(MODEL, x, y);
    }
    expect(watched.errors).toEqual([]);
  });

  it("answers a setpoint ask and plots prediction against actual for pasted rows", async () => {
    const { page } = watched;
    const rows = Array.from({ length: 40 }, () => {
      const { x, y } = kilnBatch(r, 1, AFTER, 20);
      return [...x, ...y].map((v) => v.toFixed(3)).join(", ");
    }).join("\n");
    await page.locator('#rows textarea[name="csv"]').fill(rows);
    await page.locator('#rows button[value="check"]').click();
    await page.waitForFunction(() => /40 rows · MAE/.test(document.querySelector("#rows-result")?.textContent ?? ""), undefined, { timeout: 20_000 });

    const fill = (name: string, value: string) => page.locator(`#setpoint input[name="${name}"]`).fill(value);
    await fill("target0", "-20");
    for (const [k, lower, upper, current] of [[0, "160", "200", "180"], [1, "1.5", "2.5", "2"], [2, "30", "50", "40"]] as const) {
      await fill(`lower${k}`, lower);
      await fill(`upper${k}`, upper);
      await fill(`current${k}`, current);
    }
    await page.locator("#setpoint button[type=submit]").click();
    await page.locator("#sp-reachable").waitFor({ timeout: 20_000 });
    const answer = await client.setpoint(MODEL, { target: [-20], lower: [160, 1.5, 30], upper: [200, 2.5, 50], current: [180, 2, 40] });
    const shown = await page.evaluate(() => [0, 1, 2].map((k) => Number(document.querySelector(`[data-recommended="${k}"]`)!.getAttribute("data-value"))));
    // the page's ask ran on the same parameters unless a step came between: none did
    expect(shown).toEqual(answer.x);
    expect(await page.locator("#sp-reachable").textContent()).toBe(answer.reachable ? "target reachable" : "target not reachable within the bounds");
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, "live.png");
    // what a wall screen shows without scrolling
    await page.setViewportSize({ width: 1440, height: 900 });
    await screenshot(page, "wall.png", false);
    expect(watched.errors).toEqual([]);
    // nothing of the token in the page's URLs or the server's log
    expect(watched.urls.filter((url) => url.includes(TOKEN) || url.includes(Buffer.from(TOKEN).toString("base64url")))).toEqual([]);
    expect(log.filter((line) => line.includes(TOKEN))).toEqual([]);
  });
});
