// The programs the tests and benchmarks start besides Node: Chromium, Bun and
// Deno. Each comes from an npm package (the README's `npm install` is the whole
// set-up); what only the system's package manager can add, a missing shared
// library, is installed here when this is a Debian machine and we are root, and
// otherwise named in one line.
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

/** The checkout: two folders up from test/helpers, or three from its build in dist/test/helpers (benchmarks). */
const root = ((here) => (existsSync(join(here, "package.json")) ? here : dirname(here)))(fileURLToPath(new URL("../..", import.meta.url)));
const run = promisify(execFile);

/** Debian packages of the shared libraries Chromium needs beyond libc (PROBES.md). */
const debianPackageOf: Record<string, string> = {
  "libnss3.so": "libnss3",
  "libnssutil3.so": "libnss3",
  "libsmime3.so": "libnss3",
  "libnspr4.so": "libnspr4",
  "libplc4.so": "libnspr4",
  "libplds4.so": "libnspr4",
  "libexpat.so.1": "libexpat1",
};

export class MissingTool extends Error {
  override readonly name = "MissingTool";
}

/**
 * Chromium's executable: CHROMIUM_PATH if set; else the build inside the npm
 * package @sparticuz/chromium, unpacked once into node_modules/.cache (it
 * unpacks into os.tmpdir() and reuses whatever it finds there, so TMPDIR points
 * at a folder of ours meanwhile); else a system /usr/bin/chromium.
 */
export async function findChromium(): Promise<string> {
  const chosen = process.env.CHROMIUM_PATH;
  if (chosen) {
    if (!existsSync(chosen)) throw new MissingTool(`CHROMIUM_PATH is ${chosen}, which does not exist: unset it to use the Chromium of the npm package @sparticuz/chromium`);
    return chosen;
  }
  let packaged: string;
  try {
    packaged = await unpackChromium();
  } catch (cause) {
    if (existsSync("/usr/bin/chromium")) return "/usr/bin/chromium";
    throw new MissingTool(`no Chromium for the browser tests: @sparticuz/chromium did not unpack (${(cause as Error).message}); run npm install, or install Debian's chromium, or set CHROMIUM_PATH`);
  }
  await ensureStarts(packaged);
  return packaged;
}

async function unpackChromium(): Promise<string> {
  const folder = join(root, "node_modules", ".cache", "gradline-chromium");
  mkdirSync(folder, { recursive: true });
  const before = process.env.TMPDIR;
  process.env.TMPDIR = folder;
  try {
    const { default: chromium } = await import("@sparticuz/chromium");
    return await chromium.executablePath();
  } finally {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
  }
}

/** Runs `chromium --version`; a shared library the machine lacks is installed with apt-get where we can, else named. */
async function ensureStarts(path: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const missing = await missingLibrary(path);
    if (!missing) return;
    const pkg = debianPackageOf[missing];
    const canInstall = pkg && attempt === 0 && process.getuid?.() === 0 && existsSync("/usr/bin/apt-get");
    if (!canInstall) {
      throw new MissingTool(`Chromium (${path}) cannot start: this machine lacks ${missing}; install ${pkg ? `Debian's ${pkg}` : "the package that provides it"}, or set CHROMIUM_PATH to a Chromium that runs here`);
    }
    console.error(`Chromium needs ${missing}: apt-get install ${pkg}`);
    execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
    execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", pkg], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  }
}

async function missingLibrary(path: string): Promise<string | undefined> {
  try {
    await run(path, ["--version"], { timeout: 30_000 });
    return undefined;
  } catch (error) {
    const text = String((error as { stderr?: string }).stderr ?? error);
    const match = /error while loading shared libraries: ([^:\s]+)/.exec(text);
    if (match) return match[1];
    throw new MissingTool(`Chromium (${path}) does not start: ${text.trim().split("\n")[0]}`);
  }
}

/** A runtime from its npm package's binary in node_modules/.bin, checked to run. */
export async function findRuntime(name: "bun" | "deno"): Promise<{ path: string; version: string }> {
  const path = join(root, "node_modules", ".bin", name);
  if (!existsSync(path)) throw new MissingTool(`no ${name} at ${path}: run npm install (${name} is a devDependency)`);
  try {
    const { stdout } = await run(path, ["--version"], { timeout: 30_000 });
    return { path, version: stdout.trim().split("\n")[0]! };
  } catch (error) {
    throw new MissingTool(`${name} (${path}) does not run here: ${String((error as Error).message).split("\n")[0]}`);
  }
}
