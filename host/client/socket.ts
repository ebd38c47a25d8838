// The WebSocket a client talks through: the runtime's own (browsers, Deno, Bun,
// Node 22+) or, in Node 20, the `ws` package, which has the same browser-style API.
// Browsers cannot set headers, so there the token travels as ?access_token=.

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

type NativeSocket = new (url: string) => SocketLike;
type WsSocket = new (url: string, options: { headers: Record<string, string>; maxPayload: number }) => SocketLike;

export async function openSocket(url: string, token: string | undefined): Promise<SocketLike> {
  const native = (globalThis as { WebSocket?: NativeSocket }).WebSocket;
  let socket: SocketLike;
  if (native) {
    const withToken = new URL(url);
    if (token !== undefined) withToken.searchParams.set("access_token", token);
    socket = new native(withToken.toString());
  } else {
    const { default: WebSocket } = (await import("ws")) as unknown as { default: WsSocket };
    const headers: Record<string, string> = token === undefined ? {} : { Authorization: `Bearer ${token}` };
    socket = new WebSocket(url, { headers, maxPayload: 1 << 30 });
  }
  socket.binaryType = "arraybuffer";
  return socket;
}
