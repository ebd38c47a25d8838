// `gradline serve`: the server, until SIGINT or SIGTERM.
import { parseArgs } from "node:util";
import { createLogger, startServer } from "../server/index.js";
import { serverOptionsFrom, settingsFlags, settingsUsage } from "../server/settings.js";
import { messageOf } from "../base/errors.js";

export const serveUsage = `usage: gradline serve [options]

Runs the server until SIGINT or SIGTERM: WebSocket protocol on /, GET /healthz,
GET /metrics. Every option is also an environment variable and a key of the config
file (--config); a flag wins over its variable, a variable over the file.

${settingsUsage()}`;

/** Runs the server until SIGINT or SIGTERM, then shuts it down gracefully. */
export async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: settingsFlags(), strict: true });
  const { options, explain } = await serverOptionsFrom({ flags: values, env: process.env });
  // listen for the signals before starting: one that arrives while the server starts (a long
  // replay, or just after "listening" is printed) must shut it down gracefully, not kill it
  let signalled: string | undefined;
  let stop = (signal: string) => {
    // a second one while the start is still under way (a long replay, a hang): give up at once
    if (signalled) {
      console.error(`gradline: ${signal} again while starting: exiting without a clean shutdown`);
      process.exit(1);
    }
    signalled = signal;
  };
  const onSignal = (signal: string) => stop(signal);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // the server's logger, and the command's own lines through it
  const logger = createLogger(options.logLevel, options.logFormat);
  const server = await startServer({ ...options, logger }).catch((error: unknown) => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    return Promise.reject(explain(error));
  });
  await new Promise<void>((resolve) => {
    stop = (signal: string) => {
      logger.info({ event: "stopping", signal }, `${signal}: finishing accepted work, then closing`);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      server.close().then(resolve, (error: unknown) => {
        // e.g. the data folder became unwritable: the last checkpoints were not written
        logger.error({ event: "shutdown-failed" }, `shutdown failed: ${messageOf(error)}`);
        process.exitCode = 1;
        resolve();
      });
    };
    if (signalled) stop(signalled);
  });
  logger.info({ event: "closed" }, "closed");
  // an idle HTTP keep-alive connection (a health checker's) would hold the process for uWS's idle timeout
  setTimeout(() => process.exit(), 1000).unref();
  return process.exitCode === 1 ? 1 : 0;
}
