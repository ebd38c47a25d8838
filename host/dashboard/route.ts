// GET / (a request without a WebSocket upgrade) and GET /dashboard/…: the dashboard's
// files from memory. The page asks for its token itself and presents it on /metrics
// and the WebSocket like any client, so these files need none: they hold no data.
import type { HttpResponse, TemplatedApp } from "uWebSockets.js";
import { loadAssets, type Asset } from "./assets.js";

const COMMON = { "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer" } as const;

/** Registers the dashboard's routes; `closing` says whether replies should close their keep-alive connection. */
export function routeDashboard(app: TemplatedApp, tokenRequired: boolean, closing: () => boolean): void {
  const { files, missing } = loadAssets(tokenRequired);
  const send = (res: HttpResponse, status: string, type: string, body: Buffer | string, headers: Readonly<Record<string, string>>): void => {
    res.cork(() => {
      res.writeStatus(status).writeHeader("Content-Type", type);
      for (const [name, value] of Object.entries({ ...COMMON, ...headers })) res.writeHeader(name, value);
      res.end(body, closing());
    });
  };
  const serve = (asset: Asset) => (res: HttpResponse) => {
    if (missing !== undefined) return send(res, "503 Service Unavailable", "text/plain; charset=utf-8", `the dashboard is not built (${missing} is missing): run npm run build\n`, {});
    send(res, "200 OK", asset.type, asset.body, asset.headers);
  };
  for (const [path, asset] of files) app.get(path, serve(asset));
}
