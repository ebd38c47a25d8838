// The kernel's training steps per second in each runtime an embedder may use:
// Node 20, Bun and Deno (their npm packages, each a process of its own) and
// headless Chromium (a cross-origin-isolated page), one after the other on the
// same machine, each against its own SIMD peak loop. Run: npm run bench:runtimes
import { execFile } from "node:child_process";
import os from "node:os";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { findChromium, findRuntime } from "../test/helpers/tools.js";
import type { StepFigures } from "./runtimes/steps.js";

// the example's server is plain JavaScript that tsc does not copy: load it from the source tree, two levels above dist/bench
const { startStaticServer } = (await import(new URL("../../examples/browser/serve.mjs", import.meta.url).href)) as typeof import("../examples/browser/serve.mjs");
const run = promisify(execFile);
const script = fileURLToPath(new URL("./runtimes/run.js", import.meta.url));

interface Report {
  runtime: string;
  figures: StepFigures[];
}

async function inProcess(command: string, args: string[]): Promise<Report> {
  const { stdout } = await run(command, args, { timeout: 300_000, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" } });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as Report;
}

async function inChromium(): Promise<Report> {
  const page = `<!doctype html><script type="importmap">{"imports":{"tinybench":"/node_modules/tinybench/dist/index.js"}}</script><title>steps</title>`;
  const files = await startStaticServer({
    allow: ["/dist/bench/", "/dist/host/kernel/", "/dist/host/engine/", "/dist/host/base/", "/build/gradline.wasm", "/node_modules/tinybench/dist/"],
    pages: { "/": page },
  });
  const browser = await chromium.launch({ executablePath: await findChromium() });
  try {
    const tab = await browser.newPage();
    await tab.goto(files.url);
    const figures = (await tab.evaluate(`(async () => {
      const { measureSteps } = await import("/dist/bench/runtimes/steps.js");
      return measureSteps(new URL("/build/gradline.wasm", location.href));
    })()`)) as StepFigures[];
    return { runtime: `chromium ${browser.version()} (V8)`, figures };
  } finally {
    await browser.close();
    files.server.close();
  }
}

const sig = (v: number, digits = 3) => Number(v.toPrecision(digits));
const percent = (v: number) => `${Math.round(v * 100)}%`;

const reports: Report[] = [];
console.log(`gradline runtimes bench: one SGD step (standardisation off, lr 1e-4) of the SIMD kernel on a batch resident in the shared memory, loaded with gradline/kernel`);
console.log(`date ${new Date().toISOString()}; ${os.cpus()[0]?.model ?? "?"} × ${os.cpus().length} cores; load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
console.log(`Times: tinybench p50 of samples of consecutive steps (each ≈1 ms), median over 7 interleaved rounds with the peak loop; runtimes one after the other.`);
reports.push(await inProcess(process.execPath, [script]));
reports.push(await inProcess((await findRuntime("bun")).path, [script]));
reports.push(await inProcess((await findRuntime("deno")).path, ["run", "--allow-read", script]));
reports.push(await inChromium());

const node = reports[0]!;
for (const [i, shape] of node.figures.entries()) {
  console.log(`\n(m, n, B) = (${shape.m}, ${shape.n}, ${shape.B}): ${4 * shape.m * shape.n * shape.B} FLOP/step`);
  console.table(
    reports.map((r) => {
      const f = r.figures[i]!;
      return {
        runtime: r.runtime,
        "steps/s": sig(f.stepsPerS),
        "round spread": percent(f.spread),
        "GFLOP/s": sig(f.gflops),
        "peak GFLOP/s": sig(f.peakGflops),
        "÷ peak": sig(f.gflops / f.peakGflops, 2),
        "÷ Node steps/s": sig(f.stepsPerS / shape.stepsPerS, 2),
      };
    }),
  );
}
