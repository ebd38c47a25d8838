// A static server for pages that run gradline's kernel: it serves the project's
// files under a few allowed folders, cross-origin isolated (COOP/COEP), which a
// page needs to post its shared WebAssembly memory to a worker.
//   node examples/browser/serve.mjs [--port 8090] [--host 127.0.0.1]
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { extname, join, normalize, sep } from "node:path";
import { parseArgs } from "node:util";

const projectRoot = fileURLToPath(new URL("../..", import.meta.url));

/** What a page of this project may load: the example, the built host, the kernel, and two ESM builds from node_modules. */
export const defaultAllow = ["/examples/browser/", "/dist/host/", "/build/gradline.wasm", "/node_modules/msgpackr/", "/node_modules/tinybench/dist/"];

const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".map": "application/json", ".css": "text/css" };

const isolation = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Cache-Control": "no-store",
};

/**
 * Serves `root`'s files whose path starts with one of `allow`, and `pages`
 * (path → HTML) as given. Resolves with the server and its URL once it listens.
 */
export function startStaticServer({ root = projectRoot, allow = defaultAllow, pages = {}, port = 0, host = "127.0.0.1" } = {}) {
  const server = createServer((req, res) => {
    let path;
    try {
      path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)).split(sep).join("/");
    } catch {
      return res.writeHead(400, isolation).end("bad path\n");
    }
    if (req.method !== "GET" && req.method !== "HEAD") return res.writeHead(405, isolation).end();
    if (path in pages) return res.writeHead(200, { ...isolation, "Content-Type": types[".html"] }).end(pages[path]);
    if (path.endsWith("/")) path += "index.html";
    if (path.includes("..") || !allow.some((prefix) => path.startsWith(prefix))) return res.writeHead(404, isolation).end("not found\n");
    readFile(join(root, path)).then(
      (body) => res.writeHead(200, { ...isolation, "Content-Type": types[extname(path)] ?? "application/octet-stream" }).end(body),
      () => res.writeHead(404, isolation).end("not found\n"),
    );
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const { port: bound } = server.address();
      resolve({ server, url: `http://${host.includes(":") ? `[${host}]` : host}:${bound}/` });
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === normalize(process.argv[1])) {
  const { values } = parseArgs({ options: { port: { type: "string", default: "8090" }, host: { type: "string", default: "127.0.0.1" } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port must be an integer from 0 to 65535 (got ${values.port})`);
    process.exit(2);
  }
  const { url } = await startStaticServer({ port, host: values.host }).catch((error) => {
    console.error(`cannot listen on ${values.host}:${port}: ${error.message}`);
    process.exit(1);
  });
  console.log(`the kernel in the browser: open ${url}examples/browser/  (Ctrl-C stops)`);
}
