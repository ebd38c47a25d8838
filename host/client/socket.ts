// The WebSocket a client talks through: in Node the `ws` package (which has the
// browser-style API and can send the token as an Authorization header); elsewhere
// (browsers, Deno, Bun) the runtime's own, where the token travels as ?access_token=
// because browsers cannot set headers.

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
  const inNode = typeof process !== "undefined" && typeof process.versions?.node === "string";
  let socket: SocketLike;
  if (native && !inNode) {
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
