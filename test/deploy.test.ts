// The service files: the Dockerfile is valid (dockerfile-utils, the parser behind
// VS Code's Docker support), names what the build makes and options that exist, and
// its health check works against a real server; the systemd unit's keys are systemd's,
// and its ExecStart, with its environment, starts a server that stops cleanly on its
// KillSignal.
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { validate } from "dockerfile-utils";
import { describe, expect, it } from "vitest";
import { serverDefaults, startServer } from "../host/index.js";
import { settings, variableOf } from "../host/server/settings.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const exec = promisify(execFile);
const variables = new Set([...settings.map((s) => variableOf(s.key)), "GRADLINE_TOKENS", "GRADLINE_TOKENS_FILE"]);

describe("Dockerfile", () => {
  it("is valid, copies what the build makes, and sets only options that exist", async () => {
    const text = await readFile(join(root, "Dockerfile"), "utf8");
    expect(validate(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
    for (const [, source] of text.matchAll(/^COPY --from=build \/app\/(\S+)/gm)) expect(existsSync(join(root, source!)), source).toBe(true);
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(text)![1]!) as string[];
    expect(cmd.slice(0, 3)).toEqual(["node", "dist/host/cli.js", "serve"]);
    expect(Number(/^EXPOSE (\d+)$/m.exec(text)![1])).toBe(serverDefaults.port);
    for (const [, name] of text.matchAll(/\b(GRADLINE_[A-Z_]+)=/g)) expect(variables, name).toContain(name);
  });

  it("has a health check that passes on a serving server and fails where none answers", async () => {
    const text = await readFile(join(root, "Dockerfile"), "utf8");
    const check = JSON.parse(/^HEALTHCHECK .* CMD (\[.*\])$/m.exec(text)![1]!) as string[];
    expect(check.slice(0, 2)).toEqual(["node", "-e"]);
    const server = await startServer({ port: 0, workers: 0, logger: false });
    // the port the container's server listens on, as the image's environment gives it
    const env = { ...process.env, GRADLINE_PORT: String(server.port) };
    try {
      await exec(process.execPath, ["-e", check[2]!], { env });
    } finally {
      await server.close();
    }
    await expect(exec(process.execPath, ["-e", check[2]!], { env })).rejects.toMatchObject({ code: 1 });
  });
});

describe("deploy/gradline.service", () => {
  /** systemd's keys that the unit may use, by section (systemd.unit, systemd.service, systemd.exec, systemd.kill). */
  const keys: Record<string, string[]> = {
    Unit: ["Description", "Documentation", "After", "Wants", "Requires"],
    Service: [
      "Type", "User", "Group", "WorkingDirectory", "Environment", "EnvironmentFile", "ExecStart", "KillSignal", "TimeoutStopSec",
      "Restart", "RestartSec", "StateDirectory", "LimitNOFILE", "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "ReadWritePaths",
    ],
    Install: ["WantedBy"],
  };

  async function unit(): Promise<Map<string, [string, string][]>> {
    const sections = new Map<string, [string, string][]>();
    let current: [string, string][] | undefined;
    for (const [i, raw] of (await readFile(join(root, "deploy/gradline.service"), "utf8")).split("\n").entries()) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      const section = /^\[(\w+)\]$/.exec(line);
      if (section) {
        sections.set(section[1]!, (current = []));
        continue;
      }
      const pair = /^(\w+)=(.*)$/.exec(line);
      expect(pair, `line ${i + 1}: ${line}`).not.toBeNull();
      expect(current, `line ${i + 1}: a key before any section`).toBeDefined();
      current!.push([pair![1]!, pair![2]!]);
    }
    return sections;
  }

  it("uses only systemd's sections and keys, and options that exist", async () => {
    const sections = await unit();
    expect([...sections.keys()]).toEqual(["Unit", "Service", "Install"]);
    for (const [name, pairs] of sections) for (const [key] of pairs) expect(keys[name], `[${name}] ${key}`).toContain(key);
    for (const [key, value] of sections.get("Service")!) {
      if (key === "Environment") expect(variables.has(value.split("=")[0]!) || value.startsWith("NODE_ENV="), value).toBe(true);
    }
    expect(sections.get("Service")!.find(([k]) => k === "StateDirectory")?.[1]).toBe("gradline");
  });

  it("starts, with its ExecStart and environment, a server that its KillSignal stops cleanly", async () => {
    const service = new Map((await unit()).get("Service")!.map(([k, v]) => [k, v] as const));
    const env: Record<string, string> = {};
    for (const [key, value] of (await unit()).get("Service")!) if (key === "Environment") env[value.split("=")[0]!] = value.slice(value.indexOf("=") + 1);
    const [program, script, ...args] = service.get("ExecStart")!.split(" ");
    expect(program).toBe("/usr/bin/node");
    expect(script!.startsWith("/opt/gradline/")).toBe(true);
    const data = await mkdtemp(join(tmpdir(), "gradline-unit-"));
    try {
      // the unit's environment, with the data folder and the port of this test
      const child = spawn(process.execPath, [join(root, script!.slice("/opt/gradline/".length)), ...args], {
        cwd: root, env: { ...process.env, ...env, GRADLINE_DATA: data, GRADLINE_PORT: "0", GRADLINE_WORKERS: "0" }, stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on("data", (chunk: Buffer) => {
          output += chunk;
          if (output.includes("listening on")) resolve();
        });
        child.on("exit", (code) => reject(new Error(`exited ${code}: ${output}`)));
      });
      // without a token it keeps to loopback whatever GRADLINE_HOST says: the unit relies on the env file for tokens
      expect(output).toContain("no token configured: loopback only (asked for 0.0.0.0)");
      child.kill(service.get("KillSignal") as NodeJS.Signals);
      expect(await new Promise((resolve) => child.on("exit", resolve))).toBe(0);
      expect(Number(service.get("TimeoutStopSec"))).toBeGreaterThanOrEqual(60);
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });
});
