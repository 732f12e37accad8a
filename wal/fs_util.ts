/** Small file helpers shared by wal/ and snap/. */
import { assert } from "./assert.ts";

/** Upper bound on write calls for one buffer: each must make progress. */
const WRITE_CALLS_MAX = 1 << 20;

export function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

export function parentDir(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  const i = trimmed.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : trimmed.slice(0, i);
}

/** Writes all of `bytes` at the file's current position. */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  for (let calls = 0; done < bytes.length; calls++) {
    assert(calls < WRITE_CALLS_MAX, "write loop bound");
    const n = await file.write(bytes.subarray(done));
    assert(n > 0, "write made no progress");
    done += n;
  }
}

/**
 * Writes all of `bytes` at the file's current position, blocking. For small appends only: a
 * synchronous write of a few KiB costs less CPU than an async op's hand-off to a worker thread.
 */
export function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let done = 0;
  for (let calls = 0; done < bytes.length; calls++) {
    assert(calls < WRITE_CALLS_MAX, "write loop bound");
    const n = file.writeSync(bytes.subarray(done));
    assert(n > 0, "write made no progress");
    done += n;
  }
}

/**
 * fsyncs a directory, so that files created, renamed or removed in it survive a crash. Linux allows
 * opening a directory read-only and fsyncing it.
 */
export async function syncDir(dir: string): Promise<void> {
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}

export async function isNotFound(p: Promise<unknown>): Promise<boolean> {
  try {
    await p;
    return false;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return true;
    throw e;
  }
}

/** Names in `dir`, or [] if it does not exist. Bounded by the directory's size. */
export async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile) names.push(e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return names.sort();
}
