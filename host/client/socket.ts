// The WebSocket a client talks through: in Node the `ws` package (which has the
// browser-style API and can send the token as an Authorization header); elsewhere
// (browsers, Deno, Bun) the runtime's own, which cannot set headers: the token then
// travels as an offered subprotocol, out of the URL and so out of logs and history. In Node it also keeps what `ws` tells of a
// failed opening (the HTTP answer to the upgrade, or the network error), so that the
// client can say which failure it was; a browser's WebSocket tells neither.

import type { ConnectFailure } from "../base/errors.js";
import { SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX } from "../protocol/messages.js";

/** The part of the WHATWG WebSocket API the client uses. */
export interface SocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export const OPEN = 1;

/** What the runtime told of an opening that failed. */
export type OpenFailure =
  | { kind: "http"; status: number; challenge: string | undefined }
  | { kind: "network"; code: string }
  /** Closed after opening, before anything else went wrong. */
  | { kind: "closed" }
  /** The runtime's own WebSocket (browsers): a close code is all it tells. */
  | { kind: "hidden" };

export interface OpenedSocket {
  socket: SocketLike;
  /** Why the opening failed, once its close came. */
  failure(): OpenFailure;
}

type NativeSocket = new (url: string, protocols?: string[]) => SocketLike;

/** base64url without padding: every character of it may stand in a subprotocol name, whatever the token holds. */
function base64url(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
interface WsEvents {
  on(event: "unexpected-response", listener: (request: unknown, response: { statusCode?: number; headers: Record<string, string | string[] | undefined> }) => void): void;
  on(event: "error", listener: (error: Error & { code?: string; errors?: { code?: string }[] }) => void): void;
  terminate(): void;
}
type WsSocket = new (url: string, options: { headers: Record<string, string>; maxPayload: number }) => SocketLike & WsEvents;

export async function openSocket(url: string, token: string | undefined): Promise<OpenedSocket> {
  const native = (globalThis as { WebSocket?: NativeSocket }).WebSocket;
  const inNode = typeof process !== "undefined" && typeof process.versions?.node === "string";
  let socket: SocketLike;
  let failure: OpenFailure = { kind: "hidden" };
  if (native && !inNode) {
    socket = new native(url, token === undefined ? [SUBPROTOCOL] : [SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX + base64url(token)]);
  } else {
    const { default: WebSocket } = (await import("ws")) as unknown as { default: WsSocket };
    const headers: Record<string, string> = token === undefined ? {} : { Authorization: `Bearer ${token}` };
    const ws = new WebSocket(url, { headers, maxPayload: 1 << 30 });
    failure = { kind: "closed" };
    ws.on("unexpected-response", (_request, response) => {
      const challenge = response.headers["www-authenticate"];
      failure = { kind: "http", status: response.statusCode ?? 0, challenge: Array.isArray(challenge) ? challenge.join(", ") : challenge };
      ws.terminate(); // listening to this event makes ending the handshake ours; the close event follows
    });
    ws.on("error", (error) => {
      // connecting to "localhost" tries each address: the AggregateError's parts hold the codes
      const code = error.code ?? error.errors?.[0]?.code;
      if (failure.kind === "closed" && code !== undefined) failure = { kind: "network", code };
    });
    socket = ws;
  }
  socket.binaryType = "arraybuffer";
  return { socket, failure: () => failure };
}

/**
 * Which connection failure it was. A 401 says which by its challenge (a gradline server
 * adds error="invalid_token" for a wrong token, docs/PROTOCOL.md §2); without one, by
 * whether a token was sent.
 */
export function failureReason(failure: OpenFailure, tokenSent: boolean): ConnectFailure {
  switch (failure.kind) {
    case "http":
      if (failure.status !== 401) return "rejected";
      if (failure.challenge === undefined) return tokenSent ? "token-refused" : "token-required";
      return /error="invalid_token"/.test(failure.challenge) ? "token-refused" : "token-required";
    case "network":
      return failure.code === "ECONNREFUSED" ? "refused" : "unreachable";
    case "closed":
      return "closed";
    case "hidden":
      return "unknown";
  }
}

/** The detail that goes with it: the HTTP status, the network error code, else the close code. */
export function failureDetail(failure: OpenFailure, closed: string): string {
  return failure.kind === "http" ? String(failure.status) : failure.kind === "network" ? failure.code : closed;
}
