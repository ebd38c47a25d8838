// The programs the tests and benchmarks start besides Node: Chromium, Bun and
// Deno, each from an npm package (the README's `npm install` is the whole set-up),
// and python3 for the protocol's Python example. What only the system's package
// manager can add (a shared library Chromium lacks, Python's msgpack and
// websocket-client) is installed here when this is a Debian machine and we are
// root, and otherwise named in one line.
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

/**
 * Checks that Chromium starts. Shared libraries the machine lacks (ldd lists them
 * all at once) are installed with one apt-get where we are root on Debian, and
 * otherwise named in one line.
 */
async function ensureStarts(path: string): Promise<void> {
  const missing = await missingLibraries(path);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((lib) => debianPackageOf[lib] ?? "?"))];
    const known = !packages.includes("?");
    const lacks = `Chromium (${path}) cannot start: this machine lacks ${missing.join(", ")}`;
    const fix = known ? `install Debian's ${packages.join(" ")}` : "install the packages that provide them";
    if (!known || !canApt()) {
      throw new MissingTool(`${lacks}; ${fix}, or set CHROMIUM_PATH to a Chromium that runs here`);
    }
    console.error(`Chromium needs ${missing.join(", ")}: apt-get install ${packages.join(" ")}`);
    if (!aptInstall(packages)) throw new MissingTool(`${lacks}, and apt-get install ${packages.join(" ")} failed (its output is above); ${fix} by hand, or set CHROMIUM_PATH`);
    const still = await missingLibraries(path);
    if (still.length > 0) throw new MissingTool(`Chromium (${path}) still lacks ${still.join(", ")} after apt-get install ${packages.join(" ")}; set CHROMIUM_PATH to a Chromium that runs here`);
  }
  try {
    await run(path, ["--version"], { timeout: 30_000 });
  } catch (error) {
    const text = String((error as { stderr?: string }).stderr || error);
    throw new MissingTool(`Chromium (${path}) does not start: ${text.trim().split("\n")[0]}`);
  }
}

/** Whether this is a Debian machine where we may install packages (root). */
const canApt = (): boolean => process.getuid?.() === 0 && existsSync("/usr/bin/apt-get");

/** apt-get installs the packages (--reinstall: also where one is registered but its files are gone); false if it failed. */
function aptInstall(packages: string[]): boolean {
  try {
    execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
    execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "--reinstall", ...packages], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    return true;
  } catch {
    return false;
  }
}

/**
 * python3 with msgpack and websocket-client, for the protocol's Python example: from
 * Debian's packages where we are root there and it is missing, else named in one line.
 */
export async function findPython(): Promise<string> {
  // the python3 on PATH first; then Debian's, where apt-get installs the modules (PATH may lead to another, pyenv's say)
  const works = async () => {
    for (const python of ["python3", "/usr/bin/python3"]) {
      const ok = await run(python, ["-c", "import msgpack, websocket; websocket.create_connection"], { timeout: 30_000 }).then(() => true, () => false);
      if (ok) return python;
    }
    return undefined;
  };
  const found = await works();
  if (found) return found;
  const packages = ["python3", "python3-msgpack", "python3-websocket"];
  const fix = `install ${packages.join(" ")} (Debian), or pip install msgpack websocket-client`;
  if (!canApt()) throw new MissingTool(`the protocol's Python example needs python3 with msgpack and websocket-client: ${fix}`);
  console.error(`the Python example needs msgpack and websocket-client: apt-get install ${packages.join(" ")}`);
  const installed = aptInstall(packages) ? await works() : undefined;
  if (!installed) throw new MissingTool(`apt-get install ${packages.join(" ")} did not give a python3 with msgpack and websocket-client (its output is above): ${fix}`);
  return installed;
}

/** The shared libraries `path` needs and the machine lacks, as ldd reports them (none where there is no ldd: --version then tells). */
async function missingLibraries(path: string): Promise<string[]> {
  try {
    const { stdout } = await run("ldd", [path], { timeout: 30_000 });
    return [...stdout.matchAll(/^\s*(\S+) => not found/gm)].map((match) => match[1]!);
  } catch {
    return [];
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
