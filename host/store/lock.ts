// One server per data folder. The lock is a listening local socket whose name is
// derived from the folder's identity (device and inode, so every path to the
// folder meets the same lock) and a secret kept in the folder (.gradline.lockname,
// readable by its owner only, so another user cannot take the name first): binding
// it is exclusive, and the kernel releases it when the process ends in any way,
// kill -9 included, so a restart after a crash takes it at once. The holder answers
// a connection with who it is, which the refused server quotes.
//   Linux: an abstract socket (no file; scoped to the network namespace, so two
//   containers that share the folder but not the network do not see each other).
//   Windows: a named pipe. Elsewhere: a socket file in the folder, taken over when
//   nobody answers on it (left behind by a crash).
import { createHash } from "node:crypto";
import { randomBytes } from "node:crypto";
import { link, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";

/** What the holder says of itself. */
export interface LockOwner {
  pid: number;
  /** When it took the lock (ISO 8601). */
  since: string;
  /** Where it serves, once it listens. */
  url?: string;
}

export class FolderLocked extends Error {
  override readonly name = "FolderLocked";
  constructor(readonly folder: string, readonly owner: LockOwner | undefined) {
    super(
      `the data folder ${folder} is in use by another gradline server` +
        (owner ? ` (pid ${owner.pid}${owner.url ? `, serving ${owner.url}` : ""}, since ${owner.since})` : " (it did not say which)") +
        ": stop that server first, or give this one another data folder",
    );
  }
}

export interface FolderLock {
  /** Says where the holder serves, for a refused server to quote. */
  describe(url: string): void;
  release(): Promise<void>;
}

const ANSWER_MS = 2000;

export const SECRET_FILE = ".gradline.lockname";

/** The folder's lock secret, made by the first server that needs it (linked into place whole, so no reader sees half of it). */
async function secretOf(folder: string): Promise<string> {
  const path = join(folder, SECRET_FILE);
  const read = () => readFile(path, "utf8").then((text) => text.trim());
  try {
    return await read();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const draft = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
  await writeFile(draft, `${randomBytes(16).toString("hex")}\n`, { mode: 0o600 });
  try {
    await link(draft, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    await rm(draft, { force: true });
  }
  return read();
}

/** @internal Where the lock of `folder` listens (tests squat on it). */
export async function lockAddress(folder: string): Promise<{ address: string; file?: string }> {
  const { dev, ino } = await stat(folder, { bigint: true });
  const id = createHash("sha256").update(`${dev}:${ino}:${await secretOf(folder)}`).digest("hex").slice(0, 32);
  if (process.platform === "linux") return { address: `\0gradline-data-${id}` };
  if (process.platform === "win32") return { address: `\\\\?\\pipe\\gradline-data-${id}` };
  const file = join(folder, ".gradline.lock");
  return { address: file, file };
}

/** Takes the folder's lock, or rejects with FolderLocked naming its holder. */
export async function lockFolder(folder: string): Promise<FolderLock> {
  const { address, file } = await lockAddress(folder);
  const owner: LockOwner = { pid: process.pid, since: new Date().toISOString() };
  const connections = new Set<Socket>();
  const server = createServer((socket) => {
    // answer and hang up: a peer that keeps its end open must not hold the lock's close (and the server's shutdown)
    connections.add(socket);
    socket.on("close", () => connections.delete(socket));
    socket.on("error", () => {});
    socket.setTimeout(ANSWER_MS, () => socket.destroy());
    socket.end(`${JSON.stringify(owner)}\n`, () => socket.destroy());
  });
  server.on("error", () => {});
  for (let attempt = 0; ; attempt++) {
    const error = await listen(server, address);
    if (!error) break;
    if (error.code !== "EADDRINUSE") throw error;
    const holder = await ask(address);
    // a socket file nobody answers on was left by a crash (the abstract and pipe names vanish with their process)
    if (holder === "nobody" && file && attempt === 0) {
      await rm(file, { force: true });
      continue;
    }
    throw new FolderLocked(folder, holder === "nobody" ? undefined : holder);
  }
  // the lock must not keep a process alive that has nothing else to do
  server.unref();
  return {
    describe: (url) => void (owner.url = url),
    release: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of connections) socket.destroy();
    }),
  };
}

function listen(server: Server, address: string): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const failed = (error: NodeJS.ErrnoException) => resolve(error);
    server.once("error", failed);
    server.listen(address, () => {
      server.off("error", failed);
      resolve(undefined);
    });
  });
}

/**
 * What the holder said, kept only as far as it has the form a gradline server gives
 * it: the refused server prints it, and an impostor's text must not forge log lines.
 */
function ownerFrom(text: string): LockOwner | undefined {
  let said: Partial<LockOwner>;
  try {
    said = JSON.parse(text) as Partial<LockOwner>;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(said.pid) || (said.pid as number) <= 0) return undefined;
  const owner: LockOwner = { pid: said.pid as number, since: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(String(said.since)) ? String(said.since) : "an unknown time" };
  if (typeof said.url === "string" && /^wss?:\/\/[A-Za-z0-9.:[\]-]+\/$/.test(said.url)) owner.url = said.url;
  return owner;
}

/** The holder's description; "nobody" when nothing answers at the address. */
function ask(address: string): Promise<LockOwner | "nobody" | undefined> {
  return new Promise((resolve) => {
    let text = "";
    const socket = createConnection(address);
    const timer = setTimeout(() => socket.destroy(), ANSWER_MS);
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => (text += chunk));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(error.code === "ECONNREFUSED" || error.code === "ENOENT" ? "nobody" : undefined);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(ownerFrom(text));
    });
  });
}
