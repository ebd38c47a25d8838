// The `gradline` command as a newcomer meets it, through the real process: help per
// command, --version, usage errors with the error as the last line, values that
// look like options, URLs that are not, and the data-folder messages.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, gradline, lastLine } from "./helpers/cli.js";
import { freePort, serverRefuses, spawnServer } from "./helpers/serverProcess.js";

let folder = "";
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), "gradline-cli-"));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe("gradline, the command", () => {
  it("prints its version, an overview, and each command's own help", async () => {
    const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    expect((await gradline(["--version"])).stdout).toBe(`gradline ${pkg.version} (Node ${process.version})\n`);
    const overview = await gradline(["--help"]);
    expect(overview.code).toBe(0);
    expect(overview.stdout).toMatch(/serve .*\n(.*\n)*.*demo .*\n.*seed /);
    const serve = await gradline(["serve", "--help"]);
    expect(serve.stdout.startsWith("usage: gradline serve [options]")).toBe(true);
    expect(serve.stdout).toContain("--reuse-port");
    expect(serve.stdout).not.toContain("--iterations");
    const seed = await gradline(["seed", "-h"]);
    expect(seed.stdout).toContain("--iterations N");
    expect(seed.stdout).not.toContain("--reuse-port");
  });

  it("prints the help of every command: its usage line, and only its own options", async () => {
    const own: Record<string, string> = {
      train: "--on-bad-row A", models: "--json", inspect: "--json", export: "--format F", import: "--model NAME",
      predict: "--outputs y1,y2", setpoint: "--max-move X",
    };
    const overview = (await gradline(["help"])).stdout;
    for (const [command, option] of Object.entries(own)) {
      const help = await gradline([command, "--help"]);
      expect(help.code, command).toBe(0);
      expect(help.stdout.startsWith(`usage: gradline ${command} `), command).toBe(true);
      expect(help.stdout, command).toContain(option);
      expect(help.stdout, command).not.toContain("--reuse-port");
      expect(overview).toMatch(new RegExp(`\\n  ${command} +\\S`));
    }
    // the commands that talk to a server say where it is
    for (const command of ["models", "inspect", "export", "import", "predict", "setpoint", "train"]) {
      expect((await gradline([command, "-h"])).stdout, command).toContain("--server URL");
    }
  });

  it("answers a new command's bad arguments with its usage line and one clear line last, exit 2", async () => {
    const csv = join(folder, "two.csv");
    await writeFile(csv, "a,y\n1,2\n");
    const cases: [string[], string][] = [
      [["train"], "gradline: name the CSV file to train on"],
      [["train", csv], "gradline: --inputs and --outputs are required: the columns of"],
      [["train", csv, "--inputs", "a", "--outputs", "a"], `gradline: column "a" is both an input and an output`],
      [["train", csv, "--inputs", "a,,b", "--outputs", "y"], "gradline: --inputs must be comma-separated column names"],
      [["train", csv, "--inputs", "a", "--outputs", "y", "--batch", "0"], "gradline: --batch must be an integer >= 1 (got \"0\")"],
      [["train", csv, "--inputs", "a", "--outputs", "y", "--on-bad-row", "ignore"], `gradline: --on-bad-row must be stop or skip (got "ignore")`],
      [["train", csv, "--inputs", "a", "--outputs", "y", "--optimizer", "rmsprop"], `gradline: --optimizer must be sgd, momentum or adam (got "rmsprop")`],
      [["train", csv, "--inputs", "a", "--outputs", "y", "--lr", "fast"], `gradline: --lr must be a number (got "fast")`],
      [["train", csv, "--inputs", "a", "--outputs", "y", "--lr", "-1"], "gradline: options.optimizer.lr must be"],
      [["train", csv, "--inputs", "b", "--outputs", "y"], `gradline: column "b" is not in the header of ${csv} (its columns: a, y)`],
      [["train", csv, "--inputs", "a", "--outputs", "y", "--server", "localhost:8080"], `gradline: --server must be a ws:// or wss:// URL`],
      [["train", csv, "--inputs", "a", "--outputs", "y", "--server", "ws://127.0.0.1:9/", "--save", "m.json"], "gradline: --save is for in-process training"],
      [["inspect"], "gradline: name the model to inspect"],
      [["inspect", "no/such"], `gradline: "no/such" is not a model name`],
      [["export", "m", "--format", "xml"], `gradline: --format must be json or msgpack (got "xml")`],
      [["import"], "gradline: name the model file to import"],
      [["predict", "m"], "gradline: name the CSV file of inputs to predict for"],
      [["setpoint", "m"], "gradline: --target is required"],
      [["models", "extra"], `gradline: unexpected argument "extra"`],
    ];
    for (const [args, message] of cases) {
      const result = await gradline(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(lastLine(result.stderr), args.join(" ")).toContain(message);
      expect(result.stderr.split("\n")[0], args.join(" ")).toMatch(new RegExp(`^usage: gradline ${args[0]} .*\\(gradline ${args[0]} --help lists the options\\)$`));
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it("answers a usage error with the command's usage line and the error last, exit 2", async () => {
    const cases: [string[], Record<string, string>, string][] = [
      [["serve", "--port", "-1", "--data", ""], {}, "gradline: --port: must be an integer from 0 to 65535 (got -1)"],
      [["serve", "--data", ""], { GRADLINE_PORT: "abc" }, `gradline: GRADLINE_PORT="abc": must be an integer`],
      [["seed", "--bogus"], {}, "gradline: Unknown option '--bogus'"],
      [["frob"], {}, `gradline: unknown command "frob": the commands are serve, train, models, inspect, export, import, predict, setpoint, demo, seed and help`],
      [["demo", "--url", "127.0.0.1:8080"], {}, `gradline: --url must be a ws:// or wss:// URL, such as ws://127.0.0.1:8080/ (got "127.0.0.1:8080")`],
      [["demo"], { GRADLINE_URL: "localhost:8080" }, `(got "localhost:8080" from GRADLINE_URL)`],
    ];
    for (const [args, env, message] of cases) {
      const result = await gradline(args, env);
      expect(result.code, args.join(" ")).toBe(2);
      expect(lastLine(result.stderr)).toContain(message);
      expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
      if (args[0] !== "frob") expect(result.stderr.split("\n")[0]).toBe(`usage: gradline ${args[0]} [options]  (gradline ${args[0]} --help lists the options)`);
    }
  });

  it("takes the usual spellings of a boolean variable", async () => {
    const { serverOptionsFrom } = await import("../host/server/settings.js");
    for (const [word, value] of [["yes", true], ["On", true], ["1", true], ["true", true], ["no", false], ["OFF", false], ["0", false]] as const) {
      const { options } = await serverOptionsFrom({ flags: {}, env: { GRADLINE_ALLOW_FALLBACK: word, GRADLINE_DATA: "" } });
      expect(options.allowFallback, word).toBe(value);
    }
    const server = await spawnServer(["--data", "", "--port", "0", "--workers", "0"], { GRADLINE_ALLOW_FALLBACK: "yes" });
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  });
});

describe("gradline serve and its data folder", () => {
  it("says a file given as the data folder is not a folder", async () => {
    const file = join(folder, "a-file");
    await writeFile(file, "not a folder");
    const refused = await serverRefuses(["--data", file, "--port", "0", "--workers", "0"]);
    expect(refused.code).toBe(1);
    expect(refused.output).toContain(`gradline: E_CONFIG: the data folder ${file} is not a folder: it is a file; name a folder (it is created if missing), or "" for none`);
    expect(await readFile(file, "utf8")).toBe("not a folder");
  });

  it("leaves no data folder behind when a start fails", async () => {
    const port = await freePort();
    const holder = await spawnServer(["--data", "", "--port", String(port), "--workers", "0"]);
    const data = join(folder, "never-used", "a", "b");
    const refused = await serverRefuses(["--data", data, "--port", String(port), "--workers", "0"]);
    expect(refused.code).toBe(1);
    expect(refused.output).toContain("the port is in use");
    // none of the three folders it made is left
    expect(existsSync(join(folder, "never-used"))).toBe(false);
    expect(existsSync(folder)).toBe(true);
    holder.child.kill("SIGTERM");
    await holder.exited;
  });

  it("calls a log file of random bytes damaged, not a torn write, and keeps a copy past shutdown", async () => {
    const data = join(folder, "random-log");
    const first = await spawnServer(["--data", data, "--port", "0", "--workers", "0"]);
    first.child.kill("SIGTERM");
    await first.exited;
    const junk = Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24);
    await writeFile(join(data, "wal-0000000000000001.log"), junk);
    const server = await spawnServer(["--data", data, "--port", "0", "--workers", "0"]);
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    const said = server.output();
    expect(said).toMatch(/ERROR: log wal-0000000000000001.log is damaged at byte 0 /);
    expect(said).toContain("a copy is set aside as wal-0000000000000001.log.damaged");
    expect(said).not.toContain("cut short by a crash");
    expect(await readdir(data)).toContain("wal-0000000000000001.log.damaged");
    expect(new Uint8Array(await readFile(join(data, "wal-0000000000000001.log.damaged")))).toEqual(junk);
  });
});

describe("gradline serve's log", () => {
  it("says one line per connection, refused upgrade, create, delete and error reply, in the chosen format, and nothing per train", async () => {
    const { connect } = await import("../host/index.js");
    const token = "a-token-of-24-characters";
    for (const format of ["pretty", "json"] as const) {
      const server = await spawnServer(["--data", "", "--port", "0", "--workers", "0", "--token", token, "--log-format", format]);
      const status = await new Promise<number>((resolve) => {
        const socket = new WebSocket(server.url); // no token
        socket.on("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
        socket.on("error", () => {});
      });
      expect(status).toBe(401);
      const client = await connect(server.url, { token });
      await client.create("logged", { inputs: 1, outputs: 1 });
      for (let i = 0; i < 20; i++) await client.train("logged", new Float32Array([i]), new Float32Array([2 * i]));
      await expect(client.train("logged", new Float32Array([1, 2]), new Float32Array([1]))).rejects.toMatchObject({ code: "E_SHAPE" });
      await client.delete("logged");
      client.close();
      // the server has seen the close (its disconnection line is written) before it is stopped
      const metrics = server.url.replace("ws://", "http://") + "metrics";
      for (let tries = 0; !/gradline_connections 0\b/.test(await (await fetch(metrics, { headers: { Authorization: `Bearer ${token}` } })).text()); tries++) {
        if (tries > 200) throw new Error("the server never saw the client go");
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
      const lines = server.output().trim().split("\n");
      const events = format === "json"
        ? lines.map((l) => (JSON.parse(l) as { event: string }).event)
        : lines.map((l) => /"event":"([\w-]+)"/.exec(l)?.[1] ?? "?");
      expect(events).toEqual(["listening", "upgrade-refused", "connection", "create", "error-reply", "delete", "disconnection", "stopping", "closed"]);
      expect(server.output()).not.toContain(token);
      if (format === "pretty") expect(lines[0]).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: gradline listening on ws:/);
      else expect(JSON.parse(lines[4]!)).toMatchObject({ level: "info", event: "error-reply", code: "E_SHAPE", model: "logged" });
    }
  });

  it("takes --log-level, and refuses a level it does not know", async () => {
    const { connect } = await import("../host/index.js");
    const verbose = await spawnServer(["--data", "", "--port", "0", "--workers", "0", "--log-level", "debug"]);
    const client = await connect(verbose.url);
    await client.create("chatty", { inputs: 1, outputs: 1 });
    for (let i = 0; i < 3; i++) await client.train("chatty", new Float32Array([i]), new Float32Array([i]));
    client.close();
    verbose.child.kill("SIGTERM");
    expect(await verbose.exited).toBe(0);
    expect(verbose.output().match(/DEBUG: step \d+ of chatty \(1 rows, loss /g)).toHaveLength(3);
    // at warn, not even "listening" is said: the port tells when it serves
    const port = await freePort();
    const quiet = spawn(process.execPath, [cli, "serve", "--data", "", "--port", String(port), "--workers", "0", "--log-level", "warn"], { stdio: ["ignore", "pipe", "pipe"] });
    let said = "";
    quiet.stdout!.on("data", (chunk) => (said += chunk));
    quiet.stderr!.on("data", (chunk) => (said += chunk));
    for (let tries = 0; !(await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)); tries++) {
      if (tries > 400) throw new Error(`never served: ${said}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    quiet.kill("SIGTERM");
    expect(await new Promise((resolve) => quiet.on("close", resolve))).toBe(0);
    expect(said).toBe("");
    const refused = await gradline(["serve", "--data", "", "--log-level", "loud"]);
    expect(refused.code).toBe(2);
    expect(lastLine(refused.stderr)).toBe("gradline: --log-level: must be one of debug, info, warn, error, silent (got \"loud\")");
  });
});
