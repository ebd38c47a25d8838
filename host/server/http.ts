// The server's plain HTTP routes on its WebSocket port: GET /healthz for load
// balancers and supervisors (no token), GET /metrics for Prometheus (a token when the
// server has tokens). Their bodies come from the server; this module only answers.
import type { HttpResponse, TemplatedApp } from "uWebSockets.js";
import { presentedToken, unauthorized } from "./auth.js";

export interface HttpRoutes {
  health(): { state: string; models: number; connections: number; durability: string; failure: Error | undefined };
  /** Whether a presented token (or none) may read /metrics. */
  authorized(token: string | undefined): boolean;
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
    if (!routes.authorized(token)) return routes.refuse(res, "401 Unauthorized", unauthorized(token));
    const body = routes.metrics();
    res.cork(() => res.writeStatus("200 OK").writeHeader("Content-Type", "text/plain; version=0.0.4").end(body, routes.closing()));
  });
}
