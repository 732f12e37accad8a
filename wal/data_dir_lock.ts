/**
 * An exclusive lock on a data directory: `LOCK` in it, held with a non-blocking flock
 * (`FsFile.tryLock`) and holding the owner's pid for the error message. The kernel drops the flock
 * when its process dies, even by SIGKILL, so a dead owner's lock is simply taken over.
 */
import { assert } from "./assert.ts";
import { joinPath } from "./fs_util.ts";

export const LOCK_FILE_NAME = "LOCK";
/** The pid text in a lock file is short; read no more than this. */
const LOCK_CONTENT_BYTES_MAX = 64;

export class DataDirLockedError extends Error {
  readonly dataDir: string;
  /** Pid of the process holding the lock, if it could be read. */
  readonly pid: number | undefined;

  constructor(dataDir: string, pid: number | undefined) {
    super(
      pid === undefined
        ? `Cannot lock data directory ${dataDir}: it is in use by another process`
        : `Cannot lock data directory ${dataDir}: it is in use by process ${pid}`,
    );
    this.name = "DataDirLockedError";
    this.dataDir = dataDir;
    this.pid = pid;
  }
}

export interface DataDirLock {
  readonly dataDir: string;
  /** Unlocks and closes the lock file (the file stays). */
  release(): Promise<void>;
}

async function readPid(file: Deno.FsFile): Promise<number | undefined> {
  const buf = new Uint8Array(LOCK_CONTENT_BYTES_MAX);
  await file.seek(0, Deno.SeekMode.Start);
  const n = await file.read(buf);
  if (n === null || n === 0) return undefined;
  const text = new TextDecoder().decode(buf.subarray(0, n)).trim();
  const pid = Number(text);
  return /^[0-9]+$/.test(text) && Number.isSafeInteger(pid) ? pid : undefined;
}

/**
 * Locks `dataDir` (created if missing) for this process, or throws DataDirLockedError if another
 * live process (or another lock in this one) holds it. Never blocks.
 */
export async function acquireDataDirLock(dataDir: string): Promise<DataDirLock> {
  await Deno.mkdir(dataDir, { recursive: true });
  const path = joinPath(dataDir, LOCK_FILE_NAME);
  const file = await Deno.open(path, { read: true, write: true, create: true });
  let released = false;
  try {
    if (!(await file.tryLock(true))) throw new DataDirLockedError(dataDir, await readPid(file));
    const text = new TextEncoder().encode(`${Deno.pid}\n`);
    await file.truncate(0);
    await file.seek(0, Deno.SeekMode.Start);
    const n = await file.write(text);
    assert(n === text.length, "lock file pid written whole");
    await file.syncData();
  } catch (e) {
    file.close();
    throw e;
  }
  return {
    dataDir,
    async release() {
      if (released) return;
      released = true;
      try {
        await file.truncate(0);
        await file.unlock();
      } finally {
        file.close();
      }
    },
  };
}
