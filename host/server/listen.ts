// Why a listen failed: uWS says only that it could not, so the same address is
// bound once more with Node's net, whose error code tells in use from not ours.
import { createServer as createNetServer } from "node:net";
import { GradlineError } from "../base/errors.js";

/** Why uWS could not listen (it says only that it could not): a plain bind of the same address tells in use from not ours. */
export async function listenFailure(host: string, port: number, reusePort: boolean): Promise<GradlineError> {
  const code = await new Promise<string | undefined>((resolve) => {
    const probe = createNetServer();
    probe.once("error", (error: NodeJS.ErrnoException) => resolve(error.code));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
  const where = `${host}:${port}`;
  if (code === "EADDRINUSE") {
    return new GradlineError("E_CONFIG", reusePort
      ? `cannot listen on ${where}: the port is in use by a program that does not share it`
      : `cannot listen on ${where}: the port is in use (by another gradline server, or another program); stop it, choose another port, or start every server of a group with --reuse-port to share it on purpose`, { host, port });
  }
  if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return new GradlineError("E_CONFIG", `cannot listen on ${where}: ${host} is not an address of this machine`, { host, port });
  }
  if (code === "EACCES") return new GradlineError("E_CONFIG", `cannot listen on ${where}: not allowed (ports below 1024 need privileges)`, { host, port });
  return new GradlineError("E_CONFIG", `cannot listen on ${where}${code ? ` (${code})` : ""}`, { host, port });
}
