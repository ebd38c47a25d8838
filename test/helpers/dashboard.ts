// What the dashboard tests share: a page that records its console errors and every
// URL it requests (HTTP and WebSocket), the line data they train on, and where
// screenshots go (an ignored folder).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { linearTargets, normals, type Rng } from "./random.js";

export const SCREENSHOTS = fileURLToPath(new URL("../../node_modules/.cache/gradline-dashboard/", import.meta.url));

export interface WatchedPage {
  page: Page;
  /** Console errors and uncaught exceptions. */
  errors: string[];
  /** Every URL the page asked for, WebSockets included. */
  urls: string[];
}

/** A new page (its own context: nothing in sessionStorage) with the machine's locale, or `locale`. */
export async function openPage(browser: Browser, url: string, locale?: string): Promise<WatchedPage> {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, ...(locale === undefined ? {} : { locale }) });
  const errors: string[] = [];
  const urls: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("request", (request) => urls.push(request.url()));
  page.on("websocket", (socket) => urls.push(socket.url()));
  await page.goto(url);
  return { page, errors, urls };
}

/** Gives the token in the page's dialog. */
export async function logIn(page: Page, token: string): Promise<void> {
  await page.locator("#token").fill(token);
  await page.locator("#login-form button[type=submit]").click();
}

/** The whole page, or only what the viewport shows (`fullPage` false: docs/dashboard.png is one of these). */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, name);
  await page.screenshot({ path, fullPage });
  return path;
}

/** A kiln's line: yield from temperature, pressure and flow, y = W·x + b plus noise. */
export function kilnBatch(r: Rng, rows: number, W: readonly number[], b: number): { x: Float32Array; y: Float32Array } {
  const x = normals(r, rows * 3);
  for (let i = 0; i < x.length; i += 3) {
    x[i] = 180 + 15 * x[i]!; // temperature, °C
    x[i + 1] = 2 + 0.3 * x[i + 1]!; // pressure, bar
    x[i + 2] = 40 + 5 * x[i + 2]!; // flow, l/min
  }
  return { x, y: linearTargets(x, W, [b], 3, 1, 0.5, r) };
}

/** How many pixels of the canvas in `selector` are close to the colour rgb (a line drawn in it). */
export function pixelsOf(page: Page, selector: string, rgb: readonly [number, number, number]): Promise<number> {
  return page.evaluate(({ selector, rgb }) => {
    const canvas = document.querySelector<HTMLCanvasElement>(selector)!;
    const { data } = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3]! > 128 && Math.abs(data[i]! - rgb[0]) < 40 && Math.abs(data[i + 1]! - rgb[1]) < 40 && Math.abs(data[i + 2]! - rgb[2]) < 40) count++;
    }
    return count;
  }, { selector, rgb });
}
