// `gradline serve`'s options from the command line, the environment and a config
// file, through the real process: every option of startServer can be set in all
// three, a flag wins over its variable and a variable over the file, and a bad
// value is refused naming where it came from (exit 2, nothing started).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../host/index.js";
import { settings, flagOf, variableOf } from "../../host/server/settings.js";
import { serverRefuses, spawnServer } from "../helpers/serverProcess.js";

let folder = "";
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), "gradline-settings-"));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

async function config(name: string, options: unknown): Promise<string> {
  const path = join(folder, name);
  await writeFile(path, JSON.stringify(options));
  return path;
}

describe("gradline serve settings", () => {
  it("takes options from the file, the environment and flags, in that order of precedence", async () => {
    const file = await config("layers.json", { maxRows: 10, maxInflight: 7, dedupeWindow: 99, maxModels: 1, durability: "checkpoint", engine: { shardRows: 512 } });
    const server = await spawnServer(["--config", file, "--max-inflight", "5", "--data", join(folder, "data"), "--port", "0", "--workers", "0"], {
      GRADLINE_MAX_ROWS: "20", GRADLINE_MAX_INFLIGHT: "6",
    });
    try {
      const client = await connect(server.url);
      // the welcome states the limits the server applies
      expect(client.limits).toMatchObject({ maxRows: 20, maxInflight: 5 });
      expect(client.server).toMatchObject({ dedupeWindow: 99, durability: "checkpoint" });
      await client.create("one", { inputs: 1, outputs: 1 });
      await expect(client.create("two", { inputs: 1, outputs: 1 })).rejects.toMatchObject({ code: "E_LIMIT" });
      client.close();
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  });

  it("has a flag and a variable for every option, and the file takes startServer's names", async () => {
    const usage = (await serverRefuses(["--help"])).output;
    for (const s of settings) {
      expect(usage).toContain(`--${flagOf(s.key)}`);
      expect(usage).toContain(variableOf(s.key));
    }
    // the options the protocol document names as server options are among them
    for (const key of ["idleTimeout", "maxInflight", "maxModels", "maxModelBytes", "maxMemory", "dedupeWindow", "dedupeClients", "maxBackpressure"]) {
      expect(settings.map((s) => s.key)).toContain(key);
    }
  });

  it("refuses bad values naming the flag, the variable or the file they came from", async () => {
    const cases: [string[], Record<string, string>, string][] = [
      [["--port", "abc"], {}, `gradline: --port "abc": must be an integer`],
      [[], { GRADLINE_PORT: "abc" }, `gradline: GRADLINE_PORT="abc": must be an integer`],
      [[], { GRADLINE_PORT: "99999" }, "gradline: GRADLINE_PORT: must be an integer from 0 to 65535 (got 99999)"],
      [["--idle-timeout", "3"], {}, "gradline: --idle-timeout: must be 0 (never) or from 8 to 960 seconds (got 3)"],
      [[], { GRADLINE_ALLOW_FALLBACK: "maybe" }, `gradline: GRADLINE_ALLOW_FALLBACK="maybe": must be one of 1, true, yes, on or 0, false, no, off`],
      [["--config", join(folder, "missing.json")], {}, `gradline: config file ${join(folder, "missing.json")}: ENOENT`],
    ];
    for (const [args, env, message] of cases) {
      const refused = await serverRefuses([...args, "--data", "", "--workers", "0"], env);
      expect(refused.code, message).toBe(2);
      expect(refused.output).toContain(message);
      expect(refused.output).not.toContain("listening");
    }
    const typo = await config("typo.json", { maxRow: 10 });
    const unknown = await serverRefuses(["--config", typo, "--data", "", "--workers", "0"]);
    expect(unknown.code).toBe(2);
    expect(unknown.output).toContain(`gradline: config file ${typo}: unknown option maxRow (the options are startServer's: `);
    const wrongType = await config("type.json", { maxRows: "10" });
    const typed = await serverRefuses(["--config", wrongType, "--data", "", "--workers", "0"]);
    expect(typed.output).toContain(`gradline: ${wrongType}: maxRows: must be an integer from 1 to 16777216 (got "10")`);
    // a token names the place it came from, and which of that place's tokens it is
    const fileTokens = await config("tokens.json", { tokens: ["a-valid-token-of-24-chars"] });
    const listFile = join(folder, "list.json");
    await writeFile(listFile, JSON.stringify(["a-second-token-ok-here", "short"]));
    for (const [args, env, message] of [
      [["--token", "short"], {}, "gradline: --token, token 1: must be at least 16 characters without spaces"],
      [["--config", fileTokens], { GRADLINE_TOKENS: "a-valid-token-of-16,short" }, "gradline: GRADLINE_TOKENS, token 2: must be at least 16 characters"],
      [["--config", fileTokens, "--tokens-file", listFile], {}, `gradline: ${listFile}: token 2: must be at least 16 characters`],
    ] as [string[], Record<string, string>, string][]) {
      const refused = await serverRefuses([...args, "--data", "", "--port", "0", "--workers", "0"], env);
      expect(refused.code, message).toBe(2);
      expect(refused.output).toContain(message);
    }
    const engine = await config("engine.json", { engine: { shardRows: 0 } });
    const badEngine = await serverRefuses(["--config", engine, "--data", "", "--workers", "0"]);
    expect(badEngine.output).toContain(`gradline: ${engine}: shardRows: `);
  });
});
