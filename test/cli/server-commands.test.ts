// The commands that talk to a server, through the real process against a real server:
// models and inspect say what the protocol says; export → import round-trips bit for
// bit in both formats (the snapshot bytes, and W and b); predict writes the
// predictions the client gets; setpoint prints the answer the client gets; and
// the failures say what went wrong, last, exit 1.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, startServer, type GradlineClient, type GradlineServer } from "../../host/index.js";
import { decodeModelFile } from "../../host/cli/modelFile.js";
import { gradline, lastLine } from "../helpers/cli.js";
import { normals, rng } from "../helpers/random.js";

let folder = "";
let server: GradlineServer;
let client: GradlineClient;
let at: string[];
const TOKEN = "a-cli-token-of-24-chars!";
const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), "gradline-remote-"));
  server = await startServer({ port: 0, workers: 1, data: "", logger: false, tokens: [TOKEN] });
  client = await connect(server.url, { token: TOKEN });
  at = ["--server", server.url];
  await client.create("line-3", { inputs: 3, outputs: 2, optimizer: { type: "momentum", lr: 0.02, momentum: 0.9 }, seed: 8 });
  const r = rng(3);
  for (let i = 0; i < 30; i++) await client.train("line-3", normals(r, 16 * 3), normals(r, 16 * 2));
});
afterAll(async () => {
  client?.close();
  await server?.close();
  await rm(folder, { recursive: true, force: true });
});

describe("gradline models and inspect", () => {
  it("list the models and show one, as the protocol tells them", async () => {
    const env = { GRADLINE_TOKEN: TOKEN };
    const table = await gradline(["models", ...at], env);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/^model +inputs→outputs +step +version +loss +optimizer$/);
    expect(table.stdout).toMatch(/^line-3 +3→2 +30 +30 +\S+ +momentum\(lr 0.02, momentum 0.9, nesterov false\)$/m);
    const listed = JSON.parse((await gradline(["models", ...at, "--json"], env)).stdout) as unknown;
    expect(listed).toEqual(await client.list());

    const shown = await gradline(["inspect", "line-3", ...at, "--json"], env);
    expect(shown.code, shown.stderr).toBe(0);
    const report = JSON.parse(shown.stdout) as Record<string, unknown> & { W: number[][]; b: number[]; importance: number[][]; anomaly: { seen: number }; drift: { seen: number; warmingUp: boolean }; counted: { driftAlarms: number } };
    const params = await client.params("line-3");
    expect(report).toMatchObject({ model: "line-3", step: 30, version: 30, config: (await client.open("line-3")).config });
    expect(report.W.flat()).toEqual(Array.from(params.W));
    expect(report.b).toEqual(Array.from(params.b));
    expect(report.importance.flat()).toEqual(Array.from(params.importance!));
    expect(report.anomaly.seen).toBe(30 * 16); // every sample checked
    expect(report.drift).toMatchObject({ seen: 30, warmingUp: true }); // 30 of the 50 warm-up steps
    expect(report.counted.driftAlarms).toBe(0);
    const text = await gradline(["inspect", "line-3", ...at], env);
    expect(text.stdout).toContain("model line-3: 3 inputs → 2 outputs, step 30, version 30");
    expect(text.stdout).toContain("drift detection: warming up (30 of 50 steps)");
    expect(text.stdout).toContain("anomaly checks: 480 samples checked");
  });

  it("say what went wrong, last, exit 1: no such model, a refused token, no server", async () => {
    const absent = await gradline(["inspect", "absent", ...at, "--token", TOKEN]);
    expect(absent.code).toBe(1);
    expect(lastLine(absent.stderr)).toBe('gradline: E_NOT_FOUND: no model named "absent"; create it first (list shows the models there are)');
    const refused = await gradline(["models", ...at, "--token", `${TOKEN}x`]);
    expect(refused.code).toBe(1);
    expect(lastLine(refused.stderr)).toMatch(/^gradline: E_\w+: .*token/);
    const nobody = await gradline(["models", "--server", "ws://127.0.0.1:9/"]);
    expect(nobody.code).toBe(1);
    expect(lastLine(nobody.stderr)).toMatch(/^gradline: E_\w+: .*ws:\/\/127\.0\.0\.1:9\//);
  });
});

describe("gradline export and import", () => {
  it("round-trip a model bit for bit, as JSON and as MessagePack", async () => {
    const env = { GRADLINE_TOKEN: TOKEN };
    const original = await client.export("line-3");
    const params = await client.params("line-3");
    for (const format of ["json", "msgpack"] as const) {
      const file = join(folder, `line-3.${format}`);
      const written = await gradline(["export", "line-3", "--format", format, "--out", file, ...at], env);
      expect(written.code, written.stderr).toBe(0);
      const raw = new Uint8Array(await readFile(file));
      const decoded = decodeModelFile(raw);
      expect(decoded.format).toBe(format);
      expect(Buffer.from(decoded.snapshot).equals(Buffer.from(original.snapshot))).toBe(true);
      if (format === "json") {
        const json = JSON.parse(Buffer.from(raw).toString("utf8")) as { W: number[]; b: number[]; step: number; model: string };
        expect(json).toMatchObject({ model: "line-3", step: 30 });
        expect(json.W).toEqual(Array.from(params.W)); // raw units, as params gives them
        expect(json.b).toEqual(Array.from(params.b));
      }
      const name = `line-3-${format}`;
      const imported = await gradline(["import", file, "--model", name, ...at], env);
      expect(imported.code, imported.stderr).toBe(0);
      expect(imported.stdout).toBe(`imported ${file} as model ${name}: 3 → 2, step 30, version 30\n`);
      expect(Buffer.from((await client.export(name)).snapshot).equals(Buffer.from(original.snapshot))).toBe(true);
      const copy = await client.params(name);
      expect(bytes(copy.W).equals(bytes(params.W))).toBe(true);
      expect(bytes(copy.b).equals(bytes(params.b))).toBe(true);
    }
    // to standard output, JSON by default
    const piped = await gradline(["export", "line-3", ...at], env);
    expect(Buffer.from(decodeModelFile(new TextEncoder().encode(piped.stdout)).snapshot).equals(Buffer.from(original.snapshot))).toBe(true);
    // the file's own name, taken: refused, and nothing changes
    const again = await gradline(["import", join(folder, "line-3.json"), ...at], env);
    expect(again.code).toBe(1);
    expect(lastLine(again.stderr)).toBe('gradline: E_CONFLICT: model "line-3" already exists; an import creates a new model: delete it first, or import under another name');
    // a file that is no model file is refused before anything is sent
    const junk = join(folder, "junk.json");
    await writeFile(junk, '{"hello": 1}');
    const refused = await gradline(["import", junk, ...at], env);
    expect(refused.code).toBe(1);
    expect(lastLine(refused.stderr)).toBe(`gradline: ${junk}: it is not a model file (no "format": "gradline-model")`);
  });
});

describe("gradline predict and setpoint", () => {
  it("writes the predictions the client gets, one line per usable row", async () => {
    const env = { GRADLINE_TOKEN: TOKEN };
    const input = join(folder, "inputs.csv");
    await writeFile(input, "p,q,r,note\n1,2,3,a\n0.5,-1,2,b\n1,,2,c\n-2,0.25,1e-3,d\n");
    const out = join(folder, "predicted.csv");
    const result = await gradline(["predict", "line-3", input, "--inputs", "p,q,r", "--outputs", "yield,purity", "--on-bad-row", "skip", "--out", out, ...at], env);
    expect(result.code, result.stderr).toBe(0);
    expect(lastLine(result.stderr)).toBe('predicted 3 rows with model line-3 (version 30); 1 bad row(s): line 4 (no value in column "q")');
    const x = new Float32Array([1, 2, 3, 0.5, -1, 2, -2, 0.25, 1e-3]);
    const { y } = await client.predict("line-3", x);
    const lines = (await readFile(out, "utf8")).trimEnd().split("\n");
    expect(lines[0]).toBe("p,q,r,yield,purity");
    expect(lines.slice(1).map((line) => line.split(",").map(Number))).toEqual([0, 1, 2].map((r) => [...x.subarray(r * 3, r * 3 + 3), ...y.subarray(r * 2, r * 2 + 2)]));
    // without --inputs, a file of exactly the model's inputs
    const plain = join(folder, "plain.csv");
    await writeFile(plain, "p,q,r\n1,2,3\n");
    const first = await gradline(["predict", "line-3", plain, ...at], env);
    expect(first.stdout).toBe(`p,q,r,y0,y1\n1,2,3,${y[0]},${y[1]}\n`);
    const wide = await gradline(["predict", "line-3", input, ...at], env);
    expect(wide.code).toBe(2);
    expect(lastLine(wide.stderr)).toBe(`gradline: ${input} has 4 columns and model line-3 3 inputs: name them with --inputs`);
  });

  it("prints the setpoint the client gets", async () => {
    const env = { GRADLINE_TOKEN: TOKEN };
    const asked = { target: [0.5, -0.25], lower: [-1, -1, -1], upper: [1, 1, 1] };
    const answer = await client.setpoint("line-3", asked);
    const json = await gradline(["setpoint", "line-3", "--target", "0.5,-0.25", "--lower", "-1,-1,-1", "--upper", "1,1,1", "--json", ...at], env);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(answer);
    const text = await gradline(["setpoint", "line-3", "--target", "0.5,-0.25", "--lower", "-1,-1,-1", "--upper", "1,1,1", ...at], env);
    expect(text.stdout).toContain(`model line-3 (version 30): target ${answer.reachable ? "reachable" : "not reachable within the bounds"}`);
    expect(text.stdout).toMatch(/^input +recommended +binds$/m);
    const short = await gradline(["setpoint", "line-3", "--target", "0.5", ...at], env);
    expect(short.code).toBe(2);
    expect(lastLine(short.stderr)).toBe("gradline: --target must have 2 comma-separated values, one per output (got 1)");
  });
});
