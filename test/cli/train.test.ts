// `gradline train` on real files through the real process: a CSV with every awkward
// thing a spreadsheet export has (a BOM, CRLF, a quoted header, quoted fields, blank
// lines, missing values, a wrong field count, a non-number, an unclosed quote), stop
// and skip; the model it trains equal bit for bit to the library's on the same rows in
// the same batches (in-process, and on a server through the client); its
// progressive-validation MAE and RMSE equal the test's own computation; and a 300,000
// row file trained in constant memory.
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEngine, startServer, type GradlineServer, type WireModelConfig } from "../../host/index.js";
import { decodeModelFile } from "../../host/cli/modelFile.js";
import { gradline, lastLine } from "../helpers/cli.js";
import { rng } from "../helpers/random.js";

let folder = "";
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), "gradline-train-"));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** What the library trains on `rows` (inputs then outputs per row), `batch` rows a step, and the progressive-validation errors on the way. */
async function libraryRun(rows: number[][], m: number, n: number, batch: number, config: WireModelConfig) {
  const engine = await createEngine({ workers: 0 });
  const model = engine.createModel(config);
  const absolute = new Float64Array(n);
  const squared = new Float64Array(n);
  for (let first = 0; first < rows.length; first += batch) {
    const chunk = rows.slice(first, first + batch);
    const x = Float32Array.from(chunk.flatMap((row) => row.slice(0, m)));
    const y = Float32Array.from(chunk.flatMap((row) => row.slice(m)));
    const predicted = model.predict(x); // before the step: progressive validation
    for (let i = 0; i < y.length; i++) {
      const error = predicted[i]! - y[i]!;
      absolute[i % n]! += Math.abs(error);
      squared[i % n]! += error * error;
    }
    model.train(x, y);
  }
  const result = {
    snapshot: model.snapshot(), params: model.params(),
    mae: Array.from(absolute, (a) => (a / rows.length).toPrecision(6)),
    rmse: Array.from(squared, (s) => Math.sqrt(s / rows.length).toPrecision(6)),
  };
  engine.close();
  return result;
}

/** The summary's table: output → [MAE, RMSE] as printed. */
function validation(stdout: string): Record<string, [string, string]> {
  const at = stdout.indexOf("progressive validation");
  const table: Record<string, [string, string]> = {};
  for (const line of stdout.slice(at).split("\n").slice(2)) {
    const cells = line.trim().split(/\s+/);
    if (cells.length === 3) table[cells[0]!] = [cells[1]!, cells[2]!];
  }
  return table;
}

// The awkward file: line numbers as an editor shows them (the header is line 1).
const good = [
  [20.5, 1.25, 3, 0.91, 0.5], [21, 1.5, 2.75, 0.93, 0.25], [19.75, 1, 3.5, 0.88, 0.75],
  [22.25, 1.75, 3.25, 0.95, 0.5], [20, 1.125, 2.5, 0.9, 1], [21.5, 1.625, 3.125, 0.94, 0.375], [18.5, 0.75, 4, 0.85, 1.25],
];
const awkward = [
  "\ufefftemp,\"pressure (bar)\",flow,yield,purity", // 1: a BOM, a quoted header
  "20.5,1.25,3,0.91,0.5", // 2
  "\"21\",\"1.5\",2.75,0.93,0.25", // 3: quoted numbers
  "", // 4: blank: not a row
  "19.75,1,3.5,0.88,0.75", // 5
  "22,,3,0.9,0.5", // 6: a missing value
  "22.25, 1.75 ,3.25,0.95,0.5", // 7: spaces around a value
  "20,1.125,2.5,0.9", // 8: a field short
  "20,1.125,2.5,0.9,1", // 9
  "21.5,abc,3,0.9,0.5", // 10: not a number
  "21.5,1.625,3.125,0.94,0.375", // 11
  "18.5,0.75,4,0.85,1.25", // 12
  "19,\"0.5,3,0.8,1", // 13: an unclosed quote runs to the end of the file
].join("\r\n") + "\r\n";
const columns = ["--inputs", "temp,pressure (bar),flow", "--outputs", "yield,purity"];
const awkwardConfig = { inputs: 3, outputs: 2, optimizer: { type: "sgd", lr: 0.05 }, seed: 3 } as const;

describe("gradline train on a CSV file", () => {
  it("skips what cannot be used with its line number, and trains what can, bit for bit as the library does", async () => {
    const file = join(folder, "awkward.csv");
    const saved = join(folder, "awkward.msgpack");
    await writeFile(file, awkward);
    const result = await gradline(["train", file, ...columns, "--batch", "3", "--on-bad-row", "skip", "--lr", "0.05", "--seed", "3", "--save", saved]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("trained 7 rows in 3 batches of up to 3 rows: model awkward (in-process) saved to");
    expect(result.stdout).toContain(
      `bad rows: 4 skipped: line 6 (no value in column "pressure (bar)"); line 8 (4 fields where the header has 5); line 10 (column "pressure (bar)" holds "abc", not a finite number); line 14 (`,
    );
    // csv-parse names the line where it gave up: the file's end, after line 13's line break
    expect(result.stdout).toMatch(/line 14 \(Quote Not Closed: the parsing is finished with an opening quote at line 14\)/);
    const truth = await libraryRun(good, 3, 2, 3, awkwardConfig);
    const file2 = decodeModelFile(new Uint8Array(await readFile(saved)));
    expect(file2.model).toBe("awkward");
    expect(Buffer.from(file2.snapshot).equals(Buffer.from(truth.snapshot))).toBe(true);
    expect(validation(result.stdout)).toEqual({ yield: [truth.mae[0], truth.rmse[0]], purity: [truth.mae[1], truth.rmse[1]] });
  });

  it("stops at the first bad row by default: what came before is trained, the line is the last word, exit 1", async () => {
    const file = join(folder, "stops.csv");
    await writeFile(file, awkward);
    const result = await gradline(["train", file, ...columns, "--batch", "2", "--lr", "0.05", "--seed", "3", "--save", join(folder, "stops.json")]);
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toBe(`gradline: ${file}, line 6: no value in column "pressure (bar)"; nothing after it was trained (--on-bad-row skip trains on without such rows)`);
    expect(result.stdout).toContain("trained 3 rows in 2 batches");
    expect(result.stdout).toContain("bad rows: 1 (stopped at the first): line 6");
    const truth = await libraryRun(good.slice(0, 3), 3, 2, 2, awkwardConfig);
    const saved = decodeModelFile(new Uint8Array(await readFile(join(folder, "stops.json"))));
    expect(Buffer.from(saved.snapshot).equals(Buffer.from(truth.snapshot))).toBe(true);
    // a broken quote stops it too, with its line
    const quote = join(folder, "quote.csv");
    await writeFile(quote, "a,y\n1,2\n\"3,4\n");
    const broken = await gradline(["train", quote, "--inputs", "a", "--outputs", "y"]);
    expect(broken.code).toBe(1);
    expect(lastLine(broken.stderr)).toMatch(new RegExp(`^gradline: ${quote}, line 3: .*Quote Not Closed`));
  });

  it("says what is wrong with a file that is missing, empty, or lacks a column", async () => {
    const empty = join(folder, "empty.csv");
    await writeFile(empty, "");
    const cases: [string, number, string][] = [
      [join(folder, "absent.csv"), 1, `gradline: cannot read ${join(folder, "absent.csv")}: no such file`],
      [empty, 1, `gradline: ${empty} is empty: it needs a header line naming its columns`],
    ];
    for (const [file, code, message] of cases) {
      const result = await gradline(["train", file, "--inputs", "a", "--outputs", "y"]);
      expect(result.code, file).toBe(code);
      expect(lastLine(result.stderr), file).toBe(message);
    }
  });
});

describe("gradline train --server", () => {
  let server: GradlineServer;
  beforeAll(async () => {
    server = await startServer({ port: 0, workers: 1, data: "", logger: false });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("trains the model on the server through the client, as the library would, with or without pipelining", async () => {
    const file = join(folder, "line-7.csv");
    const r = rng(71);
    const rows = Array.from({ length: 1000 }, () => {
      const x = [r.uniform(150, 250), r.uniform(1, 3), r.uniform(10, 20)];
      return [...x, 0.002 * x[0]! + 0.1 * x[1]! - 0.01 * x[2]! + 0.01 * r.normal(), 0.5 - 0.001 * x[0]! + 0.02 * r.normal()];
    });
    await writeFile(file, `temp,pressure,flow,yield,purity\n${rows.map((row) => row.join(",")).join("\n")}\n`);
    const flags = ["--inputs", "temp,pressure,flow", "--outputs", "yield,purity", "--batch", "64", "--optimizer", "adam", "--lr", "0.01", "--server", server.url];
    const result = await gradline(["train", file, ...flags]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`trained 1000 rows in 16 batches of up to 64 rows: model line-7 on ${server.url}, step 16`);
    const config = { inputs: 3, outputs: 2, optimizer: { type: "adam", lr: 0.01 } } as const;
    const truth = await libraryRun(rows, 3, 2, 64, config);
    expect(validation(result.stdout)).toEqual({ yield: [truth.mae[0], truth.rmse[0]], purity: [truth.mae[1], truth.rmse[1]] });
    const { connect } = await import("../../host/index.js");
    const client = await connect(server.url);
    const params = await client.params("line-7");
    expect(Buffer.from(params.W.buffer, params.W.byteOffset, params.W.byteLength).equals(Buffer.from(truth.params.W.buffer, truth.params.W.byteOffset, truth.params.W.byteLength))).toBe(true);
    expect(Array.from(params.b)).toEqual(Array.from(truth.params.b));
    // pipelined (no validation): the same steps in the same order, so the same model
    const pipelined = await gradline(["train", file, ...flags, "--model", "line-7b", "--no-validate"]);
    expect(pipelined.code, pipelined.stderr).toBe(0);
    expect(pipelined.stdout).not.toContain("progressive validation");
    const exported = await client.export("line-7b");
    expect(Buffer.from(exported.snapshot).equals(Buffer.from((await client.export("line-7")).snapshot))).toBe(true);
    // a batch over the server's maxRows is refused before anything is sent
    const maxRows = client.limits!.maxRows;
    const big = await gradline(["train", file, ...flags, "--model", "line-7c", "--batch", String(maxRows + 1)]);
    expect(big.code).toBe(2);
    expect(lastLine(big.stderr)).toBe(`gradline: --batch ${maxRows + 1} is more rows than the server takes in one train (maxRows ${maxRows})`);
    client.close();
  });
});

describe("gradline train on a large file", () => {
  it("streams 300,000 rows in constant memory, to the same model the library trains", async () => {
    const m = 6;
    const n = 2;
    const header = "a,b,c,d,e,f,y1,y2\n";
    const rowsOf = (count: number, seed: number) => {
      const r = rng(seed);
      return function* () {
        for (let i = 0; i < count; i++) {
          const x = Array.from({ length: m }, () => r.uniform(-2, 2));
          yield [...x, 2 * x[0]! - x[1]! + 0.1 * r.normal(), x[2]! + 0.5 * x[3]! - x[5]!];
        }
      };
    };
    const write = async (file: string, rows: () => Generator<number[]>) => {
      const out = createWriteStream(file);
      out.write(header);
      for (const row of rows()) if (!out.write(`${row.join(",")}\n`)) await once(out, "drain");
      out.end();
      await once(out, "finish");
    };
    const large = join(folder, "large.csv");
    const small = join(folder, "small.csv");
    await write(large, rowsOf(300_000, 9));
    await write(small, rowsOf(1_000, 9));
    const size = (await stat(large)).size;
    expect(size).toBeGreaterThan(40e6); // full-precision doubles: about 150 bytes a row
    // Heap caps well under the file's size make V8 collect before it grows, so the peak
    // resident size shows what the command keeps, not garbage not yet collected.
    const env = { NODE_OPTIONS: "--max-old-space-size=16 --max-semi-space-size=1" };
    const peak = async (file: string, save: string) => {
      const result = await gradline(["train", file, "--inputs", "a,b,c,d,e,f", "--outputs", "y1,y2", "--batch", "1024", "--save", save, "--debug"], env, 120_000);
      expect(result.code, result.stderr).toBe(0);
      const kib = /debug: peak RSS (\d+) KiB/.exec(result.stderr);
      expect(kib).not.toBeNull();
      return { kib: Number(kib![1]), stdout: result.stdout };
    };
    const baseline = await peak(small, join(folder, "small.msgpack"));
    const streamed = await peak(large, join(folder, "large.msgpack"));
    // held in memory, the file alone (one byte a character) would add its size
    const grown = (streamed.kib - baseline.kib) * 1024;
    console.log(`peak RSS: ${baseline.kib} KiB for 1,000 rows, ${streamed.kib} KiB for 300,000 rows (${(size / 1e6).toFixed(1)} MB): ${(grown / 1e6).toFixed(1)} MB more`);
    expect(grown).toBeLessThan(size / 2);
    expect(streamed.stdout).toContain("trained 300000 rows in 293 batches");
    // the same rows, the same batches: the same bytes
    const engine = await createEngine({ workers: 0 });
    const model = engine.createModel({ inputs: m, outputs: n });
    const x = new Float32Array(1024 * m);
    const y = new Float32Array(1024 * n);
    let rows = 0;
    for (const row of rowsOf(300_000, 9)()) {
      x.set(row.slice(0, m), rows * m);
      y.set(row.slice(m), rows * n);
      if (++rows === 1024) {
        model.train(x, y);
        rows = 0;
      }
    }
    model.train(x.subarray(0, rows * m), y.subarray(0, rows * n));
    const saved = decodeModelFile(new Uint8Array(await readFile(join(folder, "large.msgpack"))));
    expect(Buffer.from(saved.snapshot).equals(Buffer.from(model.snapshot()))).toBe(true);
    engine.close();
  });
});
