// Runs the built `gradline` command as a user would: a real process.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const cli = fileURLToPath(new URL("../../dist/host/cli.js", import.meta.url));
const run = promisify(execFile);

/** Runs `gradline …`; resolves with exit code, stdout and stderr (never rejects). */
export async function gradline(args: string[], env: Record<string, string> = {}, timeout = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, timeout, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

export const lastLine = (text: string): string | undefined => text.trimEnd().split("\n").at(-1);
