// What every command shares in reading its arguments: the usage error (printed under the
// command's usage line, exit 2), number and list flags, and where the server is.
export class UsageError extends Error {}

export function integer(value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min} (got ${JSON.stringify(value)})`);
  return n;
}

/** A finite number, or undefined when the flag is absent. */
export function numberOf(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = value.trim() === "" ? NaN : Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number (got ${JSON.stringify(value)})`);
  return n;
}

/** A comma-separated list of names: "a,b,c". */
export function namesOf(value: string | undefined, name: string): string[] | undefined {
  if (value === undefined) return undefined;
  const names = value.split(",").map((s) => s.trim());
  if (names.some((s) => s === "")) throw new UsageError(`--${name} must be comma-separated column names, such as a,b,c (got ${JSON.stringify(value)})`);
  const twice = names.find((s, i) => names.indexOf(s) !== i);
  if (twice !== undefined) throw new UsageError(`--${name} names column ${JSON.stringify(twice)} twice`);
  return names;
}

/** A comma-separated list of numbers, "1,2.5,-3"; an empty entry is null where `holes` allows it ("1,,3"). */
export function vectorOf(value: string | undefined, name: string, length: number, holes = false): (number | null)[] | undefined {
  if (value === undefined) return undefined;
  const parts = value.split(",");
  if (parts.length !== length) throw new UsageError(`--${name} must have ${length} comma-separated values, one per ${name === "target" || name === "weights" ? "output" : "input"} (got ${parts.length})`);
  return parts.map((part) => {
    if (holes && part.trim() === "") return null;
    const n = part.trim() === "" ? NaN : Number(part);
    if (Number.isNaN(n)) throw new UsageError(`--${name} must be numbers separated by commas (got ${JSON.stringify(value)})`);
    return n;
  });
}

/** The server a command talks to: --server, else GRADLINE_URL, else the default port on this machine. */
export const defaultServer = "ws://127.0.0.1:8080/";
export function serverOf(flag: string | undefined): string {
  const url = flag ?? (process.env.GRADLINE_URL || defaultServer);
  if (!/^wss?:\/\/[^/\s]+/.test(url)) {
    throw new UsageError(`--server must be a ws:// or wss:// URL, such as ${defaultServer} (got ${JSON.stringify(url)}${flag === undefined ? " from GRADLINE_URL" : ""})`);
  }
  return url;
}

/** The flags of every command that talks to a server. */
export const connectionFlags = { server: { type: "string" }, token: { type: "string" } } as const;
export const connectionUsage = `  --server URL     the server (default ${defaultServer}; env GRADLINE_URL)
  --token T        bearer token (env GRADLINE_TOKEN)`;

/** The work failed (a bad row under --on-bad-row stop, a file that cannot be read): exit 1, the message last. */
export class CommandFailure extends Error {}
