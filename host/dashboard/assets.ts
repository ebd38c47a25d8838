// The dashboard's files, read once into memory when the server starts: the page
// (dashboard/), the built browser layers of host/ (dist/host/{base,protocol,client,ui})
// and the two npm packages the page imports (uPlot, msgpackr's ESM build). Only the
// paths of this table are served: nothing from a request ever reaches the file system.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface Asset {
  readonly type: string;
  readonly body: Buffer;
  /** Extra response headers (the page's Content-Security-Policy). */
  readonly headers: Readonly<Record<string, string>>;
}

/** The files by URL path, and what the page lacks (unbuilt TypeScript, a missing folder); undefined when whole. */
export interface Assets {
  readonly files: ReadonlyMap<string, Asset>;
  readonly missing: string | undefined;
}

/** The browser layers the page loads, as built by `npm run build:ts`. */
const BROWSER_LAYERS = ["base", "protocol", "client", "ui"] as const;
/** msgpackr's ESM build: index.js and the modules it imports. */
const MSGPACKR_FILES = ["index.js", "pack.js", "unpack.js", "iterators.js", "scan.js"] as const;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
};

const typeOf = (file: string): string => TYPES[file.slice(file.lastIndexOf("."))] ?? "application/octet-stream";

/** The folder holding the package.json named `name`, walking up from `file`. */
function packageRoot(file: string, name: string): string {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === name) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json of ${name} above ${file}`);
  }
}

/**
 * The page's policy: scripts and styles from this server only (the import map inline,
 * allowed by its hash), WebSocket and fetch to this origin, no framing.
 */
function pagePolicy(html: string): string {
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? "";
  const hash = createHash("sha256").update(importMap, "utf8").digest("base64");
  return [
    "default-src 'none'", `script-src 'self' 'sha256-${hash}'`, "style-src 'self'", "img-src 'self' data:",
    "connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
  ].join("; ");
}

/** `tokenRequired` is written into the page, so it asks for a token before trying without one. */
export function loadAssets(tokenRequired: boolean): Assets {
  const here = fileURLToPath(import.meta.url);
  const root = packageRoot(here, "gradline");
  const require = createRequire(here);
  const files = new Map<string, Asset>();
  const add = (path: string, file: string): void => {
    files.set(path, { type: typeOf(file), body: readFileSync(file), headers: {} });
  };

  const page = join(root, "dashboard");
  // a server without its page still serves the protocol: GET / then says what is missing
  if (!existsSync(join(page, "index.html"))) return { files: new Map([["/", { type: typeOf(".txt"), body: Buffer.alloc(0), headers: {} }]]), missing: "dashboard/index.html" };
  const html = readFileSync(join(page, "index.html"), "utf8").replace('<meta name="gradline-auth" content="none">', `<meta name="gradline-auth" content="${tokenRequired ? "token" : "none"}">`);
  files.set("/", { type: typeOf(".html"), body: Buffer.from(html), headers: { "Content-Security-Policy": pagePolicy(html) } });
  for (const name of readdirSync(page)) if (/\.(css|js|png)$/.test(name)) add(`/dashboard/${name}`, join(page, name));

  let missing: string | undefined;
  for (const layer of BROWSER_LAYERS) {
    const built = join(root, "dist", "host", layer);
    if (!existsSync(built)) {
      missing ??= `dist/host/${layer}`;
      continue;
    }
    for (const name of readdirSync(built)) if (name.endsWith(".js")) add(`/dashboard/host/${layer}/${name}`, join(built, name));
  }

  const uplot = packageRoot(require.resolve("uplot"), "uplot");
  add("/dashboard/lib/uplot.js", join(uplot, "dist", "uPlot.esm.js"));
  add("/dashboard/lib/uplot.css", join(uplot, "dist", "uPlot.min.css"));
  const msgpackr = packageRoot(require.resolve("msgpackr"), "msgpackr");
  for (const name of MSGPACKR_FILES) add(`/dashboard/lib/msgpackr/${name}`, join(msgpackr, name));
  return { files, missing };
}
