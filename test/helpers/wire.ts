// A bare protocol client for tests: sends frames as given and collects every reply,
// so a test can send what the real client never would and see exactly what came back.
import WebSocket from "ws";
import { decode, encode } from "../../host/protocol/codec.js";

export type Reply = Record<string, unknown>;

export class WireClient {
  /** Replies not yet taken by next(). */
  readonly replies: Reply[] = [];
  /** Every reply, in arrival order; next() takes nothing from here. */
  readonly log: Reply[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: { match: (r: Reply) => boolean; resolve: (r: Reply) => void }[] = [];
  private closeWaiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer) => {
      const reply = decode(data) as Reply;
      this.replies.push(reply);
      this.log.push(reply);
      for (const waiter of [...this.waiters]) {
        if (waiter.match(reply)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(reply);
        }
      }
    });
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const w of this.closeWaiters.splice(0)) w();
    });
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<WireClient> {
    const ws = new WebSocket(url, { headers });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return new WireClient(ws);
  }

  /** Sends a message encoded by the protocol codec. */
  send(message: object): void {
    this.ws.send(encode(message));
  }

  /** Sends raw bytes (binary) or a string (text frame). */
  sendRaw(data: Uint8Array | string): void {
    this.ws.send(data);
  }

  /** The first reply (already received or coming) that matches. */
  next(match: (r: Reply) => boolean, timeoutMs = 10_000): Promise<Reply> {
    const seen = this.replies.find(match);
    if (seen) {
      this.replies.splice(this.replies.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching reply within ${timeoutMs} ms; got ${JSON.stringify(this.replies.map((r) => r.type))}`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (r) => {
          clearTimeout(timer);
          this.replies.splice(this.replies.indexOf(r), 1);
          resolve(r);
        },
      });
    });
  }

  /** The reply to a request. */
  reply(seq: number): Promise<Reply> {
    return this.next((r) => r.seq === seq);
  }

  /** Sends a request and waits for its reply. */
  async call(message: { seq: number } & Record<string, unknown>): Promise<Reply> {
    this.send(message);
    return this.reply(message.seq);
  }

  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  close(): void {
    this.ws.close();
  }
}
