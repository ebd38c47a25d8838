// The layers of host/ (docs/ARCHITECTURE.md) and who may import whom, read from the
// sources: a runtime import across a layer boundary the table does not allow fails.
// Type-only imports are erased at build time and are not held to it. The layers a
// browser loads (base, kernel, protocol, client) import no Node built-in at all.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const host = fileURLToPath(new URL("../host", import.meta.url));

/** Each layer and the layers below it that it may import from. */
const allowed: Record<string, string[]> = {
  base: [],
  kernel: ["base"],
  protocol: ["base"],
  client: ["base", "protocol"],
  store: ["base"],
  engine: ["base", "kernel"],
  pool: ["base", "kernel", "engine"],
  server: ["base", "kernel", "engine", "pool", "protocol", "store", "dashboard"],
  // the dashboard's files, served by the server; the page itself is ui
  dashboard: [],
  ui: ["base", "protocol", "client"],
  demo: ["base", "engine", "client", "server"],
  cli: ["base", "engine", "pool", "client", "protocol", "server", "demo"],
  // the package's entry points and the command line gather everything
  "index.ts": ["*"],
  "cli.ts": ["*"],
};
const browser = new Set(["base", "kernel", "protocol", "client", "ui"]);

function sources(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(folder, e.name)) : e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [join(folder, e.name)] : []);
}

/** Runtime imports of a file: static `import … from`, `export … from` (not `import type` / `export type`), and `import("…")`. */
function imports(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(?!type\b)[^;]*?from\s+"([^"]+)"/gms)) out.push(m[2]!);
  for (const m of text.matchAll(/^\s*import\s+"([^"]+)"/gm)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)) out.push(m[1]!);
  return out;
}

const layerOf = (file: string): string => relative(host, file).split("/")[0]!;

describe("host/'s layers", () => {
  it("import only from the layers below them", () => {
    const wrong: string[] = [];
    for (const file of sources(host)) {
      const layer = layerOf(file);
      const may = allowed[layer];
      expect(may, `${relative(host, file)}: a layer the table does not know`).toBeDefined();
      for (const spec of imports(readFileSync(file, "utf8"))) {
        if (!spec.startsWith(".")) {
          if (browser.has(layer) && spec.startsWith("node:")) wrong.push(`${relative(host, file)} imports ${spec} (a browser loads this layer)`);
          continue;
        }
        const target = layerOf(join(file, "..", spec));
        if (target !== layer && !may!.includes("*") && !may!.includes(target)) wrong.push(`${relative(host, file)} imports ${spec} (${layer} → ${target})`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
