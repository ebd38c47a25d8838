// The transport's own ceiling for bench/server.bench.ts: the same native
// uWebSockets.js, on the same kind of socket, answering every binary frame with
// one fixed binary frame the size of a gradline ack, and doing nothing else (no
// decode, no validation, no engine). Run as a child process; prints
// "PORT <n>" on stdout once it listens on 127.0.0.1, and exits when its
// stdin closes or on SIGTERM.
import { encode } from "../host/protocol/codec.js";
import type { AckReply } from "../host/protocol/messages.js";
import { loadUws } from "../host/server/uws.js";
import { serverDefaults } from "../host/server/options.js";

/**
 * What gradline answers a train frame of connection 0 with, with seq and
 * step counts of the size they reach in a run: the same bytes every time.
 */
export const ECHO_REPLY: Uint8Array = encode({
  type: "ack",
  seq: 1_000_000,
  model: "bench-0",
  loss: 0.0123,
  step: 1_000_000,
  version: 1_000_000,
} satisfies AckReply);

function main(): void {
  // refuses the package's pure-JS fallback, as the gradline server does
  const uws = loadUws(false);
  const app = uws.App();
  app.ws("/", {
    maxPayloadLength: serverDefaults.maxPayload,
    idleTimeout: serverDefaults.idleTimeout,
    maxBackpressure: serverDefaults.maxBackpressure,
    compression: uws.DISABLED,
    // uWS corks inside this callback: a run of frames read together is answered in one write
    message: (ws, _data, isBinary) => {
      if (isBinary) ws.send(ECHO_REPLY, true, false);
    },
  });
  app.listen("127.0.0.1", 0, (socket) => {
    if (!socket) {
      console.error("echo-server: cannot listen on 127.0.0.1");
      process.exit(1);
    }
    const port = uws.us_socket_local_port(socket as unknown as Parameters<typeof uws.us_socket_local_port>[0]);
    process.stdout.write(`PORT ${port}\n`);
    const stop = () => {
      uws.us_listen_socket_close(socket);
      process.exit(0);
    };
    process.on("SIGTERM", stop);
    process.stdin.on("end", stop);
    process.stdin.resume();
  });
}

main();
