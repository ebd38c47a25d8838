// examples/browser/ as a user meets it: `npm run example:browser` (the real
// command, a real process), the page in headless Chromium, points clicked on
// the canvas. The kernel's line must reach the one through the points.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

const serve = fileURLToPath(new URL("../../examples/browser/serve.mjs", import.meta.url));
const screenshot = fileURLToPath(new URL("../../node_modules/.cache/gradline-example.png", import.meta.url));

/** Starts the example's server on a free port; resolves with the page's URL it prints. */
function startExample(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [serve, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let text = "";
    child.stdout!.on("data", (chunk) => {
      text += chunk;
      const url = /open (http:\/\/\S+)/.exec(text)?.[1];
      if (url) resolve({ child, url });
    });
    child.stderr!.on("data", (chunk) => (text += chunk));
    child.on("exit", (code) => reject(new Error(`the example's server exited (${code}): ${text}`)));
  });
}

async function status(page: Page): Promise<Record<string, string>> {
  return page.locator("#fit").evaluate((el) => ({ ...(el as HTMLElement).dataset, text: el.textContent ?? "" }));
}

describe("examples/browser", () => {
  let example: { child: ChildProcess; url: string };
  let browser: Browser;
  beforeAll(async () => {
    example = await startExample();
    browser = await chromium.launch({ executablePath: inject("chromium") });
  });
  afterAll(async () => {
    await browser?.close();
    example?.child.kill();
  });

  it("fits the line through the points a user clicks", async () => {
    const page = await browser.newPage({ viewport: { width: 800, height: 700 } });
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(error.message));
    await page.goto(example.url);
    await page.waitForFunction(() => document.getElementById("fit")?.textContent === "Click to add points.");
    // y = 0.5·x + 2 at x = 1 … 9; the canvas is 600 × 400 pixels for 0 … 10 on both axes, y upwards
    const canvas = page.locator("#plot");
    for (let x = 1; x <= 9; x++) await canvas.click({ position: { x: 60 * x, y: 400 - 40 * (0.5 * x + 2) } });
    await page.waitForFunction(() => document.getElementById("fit")?.dataset.converged === "true", undefined, { timeout: 30_000 });
    const fit = await status(page);
    expect(problems).toEqual([]);
    expect(Number(fit.points)).toBe(9);
    expect(Math.abs(Number(fit.slope) - 0.5)).toBeLessThan(1e-3);
    expect(Math.abs(Number(fit.intercept) - 2)).toBeLessThan(5e-3);
    expect(Number(fit.steps)).toBeGreaterThan(100);
    expect(fit.text).toContain("least squares: slope 0.5000, intercept 2.0000");
    await page.screenshot({ path: screenshot });

    await page.getByRole("button", { name: "Clear" }).click();
    await page.waitForFunction(() => document.getElementById("fit")?.dataset.points === "0");
    expect((await status(page)).text).toBe("Click to add points.");
  });

  it("says how to serve it where the page is not cross-origin isolated", async () => {
    const page = await browser.newPage();
    // the same files, without the COOP/COEP headers: as if opened from another static server
    await page.route("**/*", async (route) => {
      const response = await route.fetch();
      const headers = { ...response.headers() };
      delete headers["cross-origin-opener-policy"];
      delete headers["cross-origin-embedder-policy"];
      await route.fulfill({ response, headers });
    });
    await page.goto(example.url);
    await page.waitForFunction(() => document.getElementById("fit")?.dataset.error !== undefined);
    expect((await status(page)).text).toBe(
      "The kernel did not start: this page is not cross-origin isolated, so the kernel's shared memory is refused: serve it with `npm run example:browser`",
    );
  });
});
