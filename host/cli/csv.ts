// Reads a CSV file as numeric rows, streaming: csv-parse under the async iterator's
// backpressure, so the file is never held whole, whatever its size. The header names
// the columns; every row that cannot be used is reported with its line number.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { parse, type CsvError } from "csv-parse";
import { CommandFailure, UsageError } from "./args.js";

/** A row that cannot be used: where, and why. Lines count from 1, the header's included; a quoted field may span lines: the record's last. */
export interface BadRow { line: number; reason: string }

/** A row's values are in a buffer reused for the next row: copy them out before asking for it. */
export type CsvItem =
  | { kind: "row"; line: number; values: Float64Array }
  | { kind: "bad"; line: number; reason: string };

export interface CsvSource {
  /** The file's bytes, for the progress bar's ETA. */
  size: number;
  /** Bytes the parser has taken so far. */
  readonly bytes: number;
  /** The rows in file order, each with the asked columns' values in the asked order. */
  items(): AsyncGenerator<CsvItem>;
}

/**
 * Opens `file` and maps `columns` to its header. With `skipMalformed` a record csv-parse
 * cannot read (an unclosed quote) is reported as a bad row; without it, it ends the read.
 * `columns` undefined takes every column of the header, in its order. `onHeader` hears
 * the header before any row (and may refuse it by throwing).
 */
export async function openCsv(file: string, columns: readonly string[] | undefined, skipMalformed: boolean, onHeader?: (names: string[]) => void): Promise<CsvSource> {
  const size = await stat(file).then((s) => s.size, (error: NodeJS.ErrnoException) => {
    throw new CommandFailure(`cannot read ${file}: ${error.code === "ENOENT" ? "no such file" : error.message}`);
  });
  const parser = parse({ bom: true, info: true, relax_column_count: true, skip_empty_lines: true, trim: true, skip_records_with_error: skipMalformed });
  // malformed records are reported through an event, not the iterator: kept until the next row goes out
  const skipped: CsvItem[] = [];
  parser.on("skip", (error: CsvError) => skipped.push({ kind: "bad", line: Number(error.lines), reason: firstSentence(error.message) }));
  async function* items(): AsyncGenerator<CsvItem> {
    const stream = createReadStream(file);
    stream.on("error", (error) => parser.destroy(new CommandFailure(`cannot read ${file}: ${error.message}`)));
    stream.pipe(parser);
    let index: number[] | undefined;
    let names: string[] = [];
    let values = new Float64Array(0);
    try {
      for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
        yield* skipped.splice(0);
        if (index === undefined) {
          index = indexOf(record, columns, file);
          names = record;
          values = new Float64Array(index.length);
          onHeader?.(record);
          continue;
        }
        const line = info.lines;
        if (record.length !== names.length) {
          yield { kind: "bad", line, reason: `${record.length} fields where the header has ${names.length}` };
          continue;
        }
        let reason: string | undefined;
        for (let i = 0; i < index.length; i++) {
          const text = record[index[i]!]!;
          const name = names[index[i]!]!;
          if (text === "") reason ??= `no value in column ${JSON.stringify(name)}`;
          const v = Number(text);
          if (text !== "" && !Number.isFinite(v)) reason ??= `column ${JSON.stringify(name)} holds ${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)}, not a finite number`;
          values[i] = v;
        }
        yield reason === undefined ? { kind: "row", line, values } : { kind: "bad", line, reason };
      }
    } catch (error) {
      if (error instanceof CommandFailure || error instanceof UsageError) throw error;
      const e = error as CsvError;
      throw new CommandFailure(`${file}${e.lines !== undefined ? `, line ${e.lines}` : ""}: ${firstSentence(e.message)}`);
    } finally {
      stream.destroy();
    }
    yield* skipped.splice(0);
    if (index === undefined) throw new CommandFailure(`${file} is empty: it needs a header line naming its columns`);
  }
  return { size, get bytes() { return parser.info.bytes; }, items };
}

/**
 * The usable rows of `source`, their values in a reused buffer; each bad row goes to
 * `bad`, and with `stop` the first one ends the reading (it is then `bad`'s last).
 */
export async function* usableRows(source: CsvSource, bad: BadRow[], stop: boolean): AsyncGenerator<Float64Array> {
  for await (const item of source.items()) {
    if (item.kind === "row") {
      yield item.values;
      continue;
    }
    bad.push(item);
    if (stop) return;
  }
}

/** How many bad rows a summary names. */
export const LISTED_BAD_ROWS = 5;

/** The first LISTED_BAD_ROWS bad rows, for a summary: "line 3 (why); line 7 (why)". */
export const listBadRows = (bad: readonly BadRow[]): string =>
  bad.slice(0, LISTED_BAD_ROWS).map((row) => `line ${row.line} (${row.reason})`).join("; ");

/** Where each asked column is in the header (names compared as written, after trimming). */
function indexOf(header: string[], columns: readonly string[] | undefined, file: string): number[] {
  if (columns === undefined) return header.map((_, i) => i);
  return columns.map((name) => {
    const at = header.indexOf(name);
    if (at < 0) throw new UsageError(`column ${JSON.stringify(name)} is not in the header of ${file} (its columns: ${header.join(", ")})`);
    return at;
  });
}

/** csv-parse's messages go on, after what went wrong, with a list of its options' names. */
const firstSentence = (message: string): string => message.replace(/ instead of .*$/, "");
