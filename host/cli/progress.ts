// How far a long command is: a cli-progress bar on a terminal (rows/s, ETA from the
// file's size, running loss), plain lines at every tenth of the file elsewhere (a log,
// a pipe), so a captured run reads the same whatever the machine's speed.
import { SingleBar } from "cli-progress";

export interface Progress {
  /** `bytes` of `total` read, `rows` trained, the running loss. */
  update(bytes: number, rows: number, loss: number | undefined): void;
  stop(): void;
}

export function progressOn(stream: NodeJS.WriteStream, total: number, label: string): Progress {
  const started = Date.now();
  const rate = (rows: number) => Math.round(rows / Math.max((Date.now() - started) / 1000, 1e-3));
  const lossText = (loss: number | undefined) => (loss === undefined ? "-" : loss.toPrecision(4));
  if (!stream.isTTY) {
    let tenth = 0;
    return {
      update(bytes, rows, loss) {
        const now = Math.floor((10 * bytes) / Math.max(total, 1));
        if (now <= tenth) return;
        tenth = now;
        stream.write(`${label}: ${Math.min(now * 10, 100)}% of the file, ${rows} rows, ${rate(rows)} rows/s, loss ${lossText(loss)}\n`);
      },
      stop() {},
    };
  }
  const bar = new SingleBar({
    stream, format: `${label} {bar} {percentage}% | {rows} rows | {rate} rows/s | ETA {eta_formatted} | loss {loss}`,
    barsize: 24, hideCursor: true, clearOnComplete: false, etaBuffer: 50,
  });
  bar.start(Math.max(total, 1), 0, { rows: 0, rate: 0, loss: "-" });
  return {
    update(bytes, rows, loss) {
      bar.update(bytes, { rows, rate: rate(rows), loss: lossText(loss) });
    },
    stop() {
      bar.stop();
    },
  };
}
