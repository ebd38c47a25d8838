// Bearer tokens, checked at the WebSocket upgrade and on /metrics. Comparison runs
// over fixed-length digests in constant time, so timing reveals neither a token's
// content nor its length.
import { createHash, timingSafeEqual } from "node:crypto";

const digest = (token: string): Buffer => createHash("sha256").update(token, "utf8").digest();

export class TokenCheck {
  private readonly digests: Buffer[];
  constructor(tokens: readonly string[]) {
    this.digests = tokens.map(digest);
  }

  /** No token configured: anyone who can reach the (loopback) port may connect. */
  get open(): boolean {
    return this.digests.length === 0;
  }

  /** Whether the presented token is one of the configured ones; every configured one is compared. */
  accepts(presented: string | undefined): boolean {
    if (this.open) return true;
    const candidate = digest(presented ?? "");
    let match = false;
    for (const known of this.digests) match = timingSafeEqual(known, candidate) || match;
    return match && presented !== undefined;
  }
}

/** The token of an `Authorization: Bearer …` header, else of the `access_token` query parameter (browsers cannot set headers). */
export function presentedToken(authorization: string, accessToken: string): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (match) return match[1];
  return accessToken === "" ? undefined : accessToken;
}
