// The kernel embedded through gradline/kernel in four runtimes, each a real
// process: Node 20, Bun and Deno (from their npm packages) and headless
// Chromium on a cross-origin-isolated page. Each runs test/embed/embedding.js;
// its numbers must match the closed-form least-squares fit, Node's in-process
// engine bit for bit, and, for the data-parallel step with two workers of that
// runtime, the single-thread step bit for bit.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createEngine, type Engine, type ModelOptions } from "../../host/index.js";
import { startStaticServer } from "../../examples/browser/serve.mjs";
import { findRuntime } from "../helpers/tools.js";
import { leastSquares } from "../helpers/leastSquares.js";
import { ADAM, ANOMALY, M, N, samples, streamBatches, workloads, type EmbeddingReport } from "./embedding.js";

const run = promisify(execFile);
const script = fileURLToPath(new URL("./run.js", import.meta.url));
const bitsOf = (values: Float32Array): number[] => Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
const floatsOf = (bits: number[]): Float32Array => new Float32Array(Uint32Array.from(bits).buffer);
const zeros = { W: new Float32Array(N * M), b: new Float32Array(N) };

/** What Node's in-process engine makes of the same batches, through createModel/train and nothing of the loader. */
interface Reference {
  fit: number[];
  stream: number[];
  excluded: number;
  sharded: number[];
  shardedStep: number;
}

async function engineReference(): Promise<Reference> {
  const engine: Engine = await createEngine({ workers: 0, shardRows: workloads.sharded.shardRows });
  const plain: Partial<ModelOptions> = { inputs: M, outputs: N, loss: "mse", anomaly: false, drift: false, init: zeros };
  try {
    const fit = engine.createModel({ ...plain, inputs: M, outputs: N, standardize: false, optimizer: { type: "sgd", lr: workloads.fit.lr } });
    const data = samples(workloads.fit.seed, workloads.fit.rows);
    for (let i = 0; i < workloads.fit.steps; i++) fit.train(data.x, data.y);

    const w = workloads.stream;
    const stream = engine.createModel({
      ...plain, inputs: M, outputs: N, standardize: true,
      optimizer: { type: "adam", lr: w.lr, ...ADAM }, anomaly: { ...ANOMALY, exclude: true },
    });
    const batches = streamBatches();
    let excluded = 0;
    for (let i = 0; i < w.steps; i++) excluded += stream.train(batches[i % batches.length]!.x, batches[i % batches.length]!.y).excluded;

    const sh = workloads.sharded;
    const sharded = engine.createModel({ ...plain, inputs: M, outputs: N, standardize: true, optimizer: { type: "sgd", lr: sh.lr } });
    const shardData = samples(sh.seed, sh.rows, true);
    const step = sharded.train(shardData.x, shardData.y).step;
    const flat = (p: { W: Float32Array; b: Float32Array }) => bitsOf(Float32Array.of(...p.W, ...p.b));
    return { fit: flat(fit.params()), stream: flat(stream.params()), excluded, sharded: flat(sharded.params()), shardedStep: step };
  } finally {
    engine.close();
  }
}

function expectEmbedding(report: EmbeddingReport, reference: Reference): void {
  // the closed-form fit of the very data it trained on
  const data = samples(workloads.fit.seed, workloads.fit.rows);
  const truth = leastSquares(data.x, data.y, M, N);
  const fit = floatsOf(report.fit.params);
  for (let i = 0; i < N * M; i++) expect(Math.abs(fit[i]! - truth.W[i]!)).toBeLessThan(1e-4);
  for (let j = 0; j < N; j++) expect(Math.abs(fit[N * M + j]! - truth.b[j]!)).toBeLessThan(1e-4);
  expect(report.fit.steps).toBe(workloads.fit.steps);
  // bit for bit what the engine computes
  expect(report.fit.params).toEqual(reference.fit);
  expect(report.stream.params).toEqual(reference.stream);
  expect(report.stream.excluded).toBe(reference.excluded);
  expect(report.sharded.params).toEqual(reference.sharded);
  expect(report.sharded.step).toBe(reference.shardedStep);
  // two workers over the shared memory leave the block exactly as one thread does
  expect(report.sharded.workerBlock).toEqual(report.sharded.singleBlock);
}

describe("the kernel embedded in four runtimes", () => {
  let reference: Reference;
  beforeAll(async () => {
    reference = await engineReference();
    // the stream's exclusion is exercised, not vacuous: the outlier batch comes round 10 times in 160 steps
    expect(reference.excluded).toBeGreaterThanOrEqual(10);
  });

  async function report(command: string, args: string[]): Promise<EmbeddingReport & { runtime: string }> {
    const { stdout } = await run(command, args, { timeout: 60_000, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" } });
    return JSON.parse(stdout.trim().split("\n").at(-1)!);
  }

  it("Node 20", async () => {
    const result = await report(process.execPath, [script]);
    expect(result.runtime).toBe(`node ${process.versions.node}`);
    expectEmbedding(result, reference);
  });

  it("Bun, Worker threads", async () => {
    const bun = await findRuntime("bun");
    const result = await report(bun.path, [script]);
    expect(result.runtime).toBe(`bun ${bun.version}`);
    expectEmbedding(result, reference);
  });

  it("Deno, Web Workers", async () => {
    const deno = await findRuntime("deno");
    const result = await report(deno.path, ["run", "--allow-read", script]);
    expect(result.runtime).toMatch(/^deno \d+\.\d+\.\d+$/);
    expect(deno.version).toContain(result.runtime.slice(5));
    expectEmbedding(result, reference);
  });

  describe("Chromium, Web Workers", () => {
    let files: Awaited<ReturnType<typeof startStaticServer>>;
    let browser: Awaited<ReturnType<typeof chromium.launch>>;
    beforeAll(async () => {
      files = await startStaticServer({ allow: ["/test/embed/", "/dist/host/kernel/", "/dist/host/base/errors.js", "/build/gradline.wasm"], pages: { "/": "<!doctype html><title>embedding</title>" } });
      browser = await chromium.launch({ executablePath: inject("chromium") });
    });
    afterAll(async () => {
      await browser?.close();
      files?.server.close();
    });

    it("trains on a cross-origin-isolated page, the kernel fetched by URL", async () => {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on("pageerror", (error) => problems.push(error.message));
      await page.goto(files.url);
      // plain JavaScript as text: the test runner must not rewrite the page's import()
      const result = (await page.evaluate(`(async () => {
        const { runEmbedding } = await import("/test/embed/embedding.js");
        const report = await runEmbedding(new URL("/build/gradline.wasm", location.href));
        return { isolated: crossOriginIsolated, runtime: navigator.userAgent, ...report };
      })()`)) as EmbeddingReport & { isolated: boolean; runtime: string };
      expect(problems).toEqual([]);
      expect(result.isolated).toBe(true);
      expect(result.runtime).toContain("Chrome/");
      expectEmbedding(result, reference);
    });
  });
});
