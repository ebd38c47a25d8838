// Bearer tokens, checked at the WebSocket upgrade and on /metrics. Comparison runs
// over fixed-length digests in constant time, so timing reveals neither a token's
// content nor its length.
import { createHash, timingSafeEqual } from "node:crypto";
import { FULL_GRANT, type ResolvedGrant } from "./options.js";
import { TOKEN_SUBPROTOCOL_PREFIX } from "../protocol/messages.js";

const digest = (token: string): Buffer => createHash("sha256").update(token, "utf8").digest();

export class TokenCheck {
  private readonly known: { digest: Buffer; grant: ResolvedGrant }[];
  constructor(grants: readonly ResolvedGrant[]) {
    this.known = grants.map((grant) => ({ digest: digest(grant.token), grant }));
  }

  /** No token configured: anyone who can reach the (loopback) port may connect. */
  get open(): boolean {
    return this.known.length === 0;
  }

  /** What the presented token may do, or undefined when it is none of the configured ones; every one is compared. */
  grantFor(presented: string | undefined): ResolvedGrant | undefined {
    if (this.open) return FULL_GRANT;
    const candidate = digest(presented ?? "");
    let found: ResolvedGrant | undefined;
    for (const { digest: d, grant } of this.known) if (timingSafeEqual(d, candidate) && presented !== undefined) found ??= grant;
    return found;
  }
}

/** Whether a grant covers a model name. */
export const covers = (grant: ResolvedGrant, model: string): boolean => grant.prefixes.some((prefix) => model.startsWith(prefix));

/** The token of an `Authorization: Bearer …` header, else the one the offered subprotocols carry, else of the `access_token` query parameter. */
export function presentedToken(authorization: string, accessToken: string, offered?: OfferedProtocols): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (match) return match[1];
  if (offered?.token !== undefined) return offered.token;
  return accessToken === "" ? undefined : accessToken;
}


/** What a `Sec-WebSocket-Protocol` header offers: a token, and the entry to echo (never the token's). */
export interface OfferedProtocols {
  token: string | undefined;
  /** The first offered entry that is not a token, or "" (then none is echoed). */
  echo: string;
}

/**
 * Browsers cannot set an Authorization header on a WebSocket, but they can offer
 * subprotocols: a token sent as one stays out of the URL, and so out of access logs
 * and browser history (the way Kubernetes' API server takes one).
 */
export function offeredProtocols(header: string): OfferedProtocols {
  let token: string | undefined;
  let echo = "";
  for (const entry of header.split(",")) {
    const name = entry.trim();
    if (name.startsWith(TOKEN_SUBPROTOCOL_PREFIX)) token ??= Buffer.from(name.slice(TOKEN_SUBPROTOCOL_PREFIX.length), "base64url").toString("utf8");
    else if (name !== "" && echo === "") echo = name;
  }
  return { token, echo };
}

/** A refused token's answer: the `WWW-Authenticate` challenge and the body of the 401. */
export interface Unauthorized {
  challenge: string;
  body: string;
}

/**
 * The 401 for a missing token differs from the 401 for a wrong one (RFC 6750 §3: a
 * request without credentials gets the bare challenge, a bad token error="invalid_token"),
 * so a client can tell its user which of the two to fix.
 */
export function unauthorized(presented: string | undefined): Unauthorized {
  return presented === undefined
    ? { challenge: 'Bearer realm="gradline"', body: "this server needs a bearer token\n" }
    : { challenge: 'Bearer realm="gradline", error="invalid_token"', body: "the bearer token was not accepted\n" };
}
