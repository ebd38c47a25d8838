// The server's plain HTTP routes on its WebSocket port: GET /healthz for load
// balancers and supervisors (no token), GET /metrics for Prometheus (a token when the
// server has tokens). Their bodies come from the server; this module only answers.
import type { HttpResponse, TemplatedApp } from "uWebSockets.js";
import { presentedToken, unauthorized } from "./auth.js";

export interface HttpRoutes {
  health(): { state: string; models: number; connections: number; durability: string; failure: Error | undefined };
  /** What a presented token (or none) may read of /metrics: undefined for nothing, else whether it covers a model. */
  metricsGrant(token: string | undefined): ((model: string) => boolean) | undefined;
  metrics(): string;
  /** The server is closing: answers close their keep-alive connection. */
  closing(): boolean;
  refuse(res: HttpResponse, status: string, answer: { challenge?: string; body: string }): void;
}

export function routeHttp(app: TemplatedApp, routes: HttpRoutes): void {
  app.get("/healthz", (res) => {
    const { state, models, connections, durability, failure } = routes.health();
    const status = state === "ok" ? "200 OK" : "503 Service Unavailable";
    const body = JSON.stringify({
      status: state, models, connections, durability,
      // the error's code only: the path and the system's words are for the log, not for anyone who asks
      ...(failure ? { storage: `writes to the data folder fail (${(failure as NodeJS.ErrnoException).code ?? "error"}); see the server log` } : {}),
    });
    res.cork(() => res.writeStatus(status).writeHeader("Content-Type", "application/json").end(body, routes.closing()));
  });
  app.get("/metrics", (res, req) => {
    const token = presentedToken(req.getHeader("authorization"), "");
    const covers = routes.metricsGrant(token);
    if (!covers) return routes.refuse(res, "401 Unauthorized", unauthorized(token));
    const body = visibleMetrics(routes.metrics(), covers);
    res.cork(() => res.writeStatus("200 OK").writeHeader("Content-Type", "text/plain; version=0.0.4").end(body, routes.closing()));
  });
}

/**
 * The metrics a token may see: a series labelled with a model its prefixes do not cover
 * is left out (as list leaves the model out), so a line's token learns nothing of other
 * lines' names, losses or anomalies. Model names hold no quotes (base/names.ts).
 */
export function visibleMetrics(text: string, covers: (model: string) => boolean): string {
  return text
    .split("\n")
    .filter((line) => {
      const model = /[{,]model="([^"]*)"/.exec(line)?.[1];
      return model === undefined || covers(model);
    })
    .join("\n");
}
