/** Saves and loads snapshot files `<term>-<index>.snap` in `<data-dir>/snap/`. */
import type { Snapshot } from "../raft/types.ts";
import { type Logger, silentLogger } from "../raft/logger.ts";
import { assert } from "../wal/assert.ts";
import type { WalSnapshotMarker } from "../wal/codec.ts";
import { isNotFound, joinPath, listDir, parentDir, syncDir } from "../wal/fs_util.ts";
import { SNAPSHOT_FILE_BYTES_MAX, SnapshotFileError } from "./snapshot_file.ts";
import {
  checkSnapshotFile,
  readSnapshotFile,
  readSnapshotHead,
  SNAPSHOT_SLICE_BYTES_DEFAULT,
  SNAPSHOT_SLICE_BYTES_MAX,
  type SnapshotSource,
  writeSnapshotFile,
} from "./snapshot_io.ts";

/** Bytes written between two syncs of a snapshot file (see writeSnapshotFile). */
const SYNC_BYTES = 4 * 1024 * 1024;

/** Snapshot files kept after a save. */
export const SNAPSHOTS_KEEP_DEFAULT = 5;

const NAME_PATTERN = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const TMP_SUFFIX = ".tmp";

interface SnapName {
  name: string;
  term: number;
  index: number;
}

/** `snap`, unless it holds another index or term than its file's name says. */
function checkName(snap: Snapshot, n: SnapName): Snapshot {
  if (snap.metadata.index !== n.index || snap.metadata.term !== n.term) {
    throw new SnapshotFileError(
      `holds term ${snap.metadata.term} index ${snap.metadata.index}, not what its name says`,
    );
  }
  return snap;
}

function hex16(n: number): string {
  return n.toString(16).padStart(16, "0");
}

export function snapshotFileName(term: number, index: number): string {
  return `${hex16(term)}-${hex16(index)}.snap`;
}

export interface SnapshotterOptions {
  logger?: Logger;
  /**
   * How many snapshot files a save keeps (default 5); Infinity keeps them all, for a caller that
   * chooses with `retain()`.
   */
  keep?: number;
  /**
   * Bytes CRC'd and written or read between yields to the event loop (default 1 MiB, 1-3 ms of
   * CRC on a loaded 2-core machine; at most 64 MiB).
   */
  sliceBytes?: number;
}

function checkedSliceBytes(sliceBytes: number): number {
  if (
    !Number.isSafeInteger(sliceBytes) || sliceBytes < 1 || sliceBytes > SNAPSHOT_SLICE_BYTES_MAX
  ) {
    throw new RangeError(
      `sliceBytes must be an integer in [1, ${SNAPSHOT_SLICE_BYTES_MAX}]: ${sliceBytes}`,
    );
  }
  return sliceBytes;
}

export class Snapshotter {
  readonly #dir: string;
  readonly #logger: Logger;
  readonly #keep: number;
  readonly #sliceBytes: number;
  /** Saves run one at a time: a save's pruning must not remove another's temporary file. */
  #tail: Promise<void> = Promise.resolve();

  constructor(dir: string, options: SnapshotterOptions = {}) {
    this.#dir = dir;
    this.#logger = options.logger ?? silentLogger;
    this.#keep = options.keep ?? SNAPSHOTS_KEEP_DEFAULT;
    if (!(Number.isSafeInteger(this.#keep) || this.#keep === Infinity) || this.#keep < 1) {
      throw new RangeError(`keep must be a positive integer: ${this.#keep}`);
    }
    this.#sliceBytes = checkedSliceBytes(options.sliceBytes ?? SNAPSHOT_SLICE_BYTES_DEFAULT);
  }

  /**
   * Writes `snapshot` atomically (temporary file, sync, read back, rename, directory sync), then
   * removes all but the newest `keep` snapshots. An empty snapshot (index 0) is not saved.
   *
   * The data is written from `snapshot.data` itself, in slices with yields to the event loop
   * between them, so a save of hundreds of MB never blocks the loop for more than one slice's CRC;
   * `snapshot.data` must not change until the returned promise settles. A `SnapshotStream` is
   * written chunk by chunk as it produces them (see snapshot_io.ts).
   */
  save(snapshot: SnapshotSource): Promise<void> {
    const p = this.#tail.then(() => this.#save(snapshot));
    this.#tail = p.then(() => {}, () => {});
    return p;
  }

  async #save(snapshot: SnapshotSource): Promise<void> {
    const { index, term } = snapshot.metadata;
    if (index === 0) return;
    assert(term > 0, "a snapshot past index 0 has a term");
    if (await isNotFound(Deno.stat(this.#dir))) {
      await Deno.mkdir(this.#dir, { recursive: true });
      await syncDir(parentDir(this.#dir));
    }
    const path = joinPath(this.#dir, snapshotFileName(term, index));
    const tmp = path + TMP_SUFFIX;
    const sliceBytes = this.#sliceBytes;
    const file = await Deno.open(tmp, { read: true, write: true, create: true, truncate: true });
    let fileBytes: number;
    try {
      const crc = await writeSnapshotFile(file, snapshot, { sliceBytes, syncBytes: SYNC_BYTES });
      await file.sync();
      fileBytes = (await file.stat()).size;
      // Read back before the rename, in slices like the write: the CRC in the header must be that
      // of what is in the file, and the file must load. This costs a second CRC pass over the data
      // (read from the page cache), which is cheap beside how rarely a snapshot is taken; it
      // catches what the write-time CRC cannot: a short write miscounted, the header patched at
      // the wrong offset, or the caller's buffer changed between a slice's CRC and its write.
      await file.seek(0, Deno.SeekMode.Start);
      let back;
      try {
        back = await checkSnapshotFile(file, { fileBytes, sliceBytes });
      } catch (e) {
        if (!(e instanceof SnapshotFileError)) throw e;
        throw new Error(`Cannot save snapshot ${tmp}: it does not read back (${e.message})`);
      }
      assert(back.crc === crc, `snapshot ${tmp} read back with the CRC that was written`);
      assert(back.metadata.index === index && back.metadata.term === term, "read-back metadata");
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
    await syncDir(this.#dir);
    this.#logger.info(`Saved snapshot ${path} (${fileBytes} bytes)`);
    await this.#prune();
  }

  /** The newest snapshot that reads back whole, or undefined. Corrupt files are skipped. */
  async load(): Promise<Snapshot | undefined> {
    return await this.#loadFirst(await this.#names());
  }

  /** The newest valid snapshot the WAL has a marker for (same index and term), or undefined. */
  async loadNewestAvailable(markers: WalSnapshotMarker[]): Promise<Snapshot | undefined> {
    const known = new Set(markers.map((m) => `${m.term}/${m.index}`));
    const names = (await this.#names()).filter((n) => known.has(`${n.term}/${n.index}`));
    return await this.#loadFirst(names);
  }

  /** The snapshots on disk by index and term, newest first (not checked: see `read`). */
  async list(): Promise<{ index: number; term: number }[]> {
    return (await this.#names()).map(({ index, term }) => ({ index, term }));
  }

  /**
   * The snapshot at `index` and `term`. Throws `SnapshotFileError` when it is missing, damaged or
   * holds something else. `sliceBytes` overrides the slice size of this read: a node that is
   * starting has nothing to yield to, and reads faster in larger slices.
   */
  read(
    link: { index: number; term: number },
    options?: { sliceBytes?: number },
  ): Promise<Snapshot> {
    const sliceBytes = checkedSliceBytes(options?.sliceBytes ?? this.#sliceBytes);
    return this.#readNamed(link, (path, n) => this.#read(path, n, sliceBytes));
  }

  /**
   * The metadata and first `dataBytes` bytes of data of the snapshot at `index` and `term`,
   * without a CRC check: what `read` would return, cut short, and unchecked (the CRC covers the
   * whole file). Throws like `read` for a missing file or a damaged header.
   */
  readHead(link: { index: number; term: number }, dataBytes: number): Promise<Snapshot> {
    return this.#readNamed(link, async (path, n) => {
      const file = await Deno.open(path, { read: true });
      try {
        const { size } = await file.stat();
        return checkName(await readSnapshotHead(file, { fileBytes: size, dataBytes }), n);
      } finally {
        file.close();
      }
    });
  }

  async #readNamed(
    link: { index: number; term: number },
    read: (path: string, n: SnapName) => Promise<Snapshot>,
  ): Promise<Snapshot> {
    const name = snapshotFileName(link.term, link.index);
    const path = joinPath(this.#dir, name);
    try {
      return await read(path, { name, ...link });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new SnapshotFileError(`${path} is missing`);
      }
      if (e instanceof SnapshotFileError) {
        throw new SnapshotFileError(`${path}: ${e.message}`);
      }
      throw e;
    }
  }

  /** Removes every snapshot file but those named in `keep`, and leftover temporary files. */
  retain(keep: Iterable<{ index: number; term: number }>): Promise<void> {
    const kept = new Set([...keep].map((link) => snapshotFileName(link.term, link.index)));
    // After any save in progress, whose file is not known here yet.
    const p = this.#tail.then(() =>
      this.#remove((names) => names.filter((n) => !kept.has(n.name)))
    );
    this.#tail = p.then(() => {}, () => {});
    return p;
  }

  /** Snapshot files, newest first. */
  async #names(): Promise<SnapName[]> {
    const out: SnapName[] = [];
    for (const name of await listDir(this.#dir)) {
      const m = NAME_PATTERN.exec(name);
      if (!m) continue;
      const term = parseInt(m[1]!, 16);
      const index = parseInt(m[2]!, 16);
      if (Number.isSafeInteger(term) && Number.isSafeInteger(index)) {
        out.push({ name, term, index });
      }
    }
    return out.sort((a, b) => b.index - a.index || b.term - a.term);
  }

  async #loadFirst(names: SnapName[]): Promise<Snapshot | undefined> {
    for (const n of names) {
      const path = joinPath(this.#dir, n.name);
      try {
        return await this.#read(path, n);
      } catch (e) {
        if (!(e instanceof SnapshotFileError)) throw e;
        this.#logger.warn(`Skipping snapshot ${path}: ${e.message}`);
      }
    }
    return undefined;
  }

  async #read(path: string, n: SnapName, sliceBytes = this.#sliceBytes): Promise<Snapshot> {
    const file = await Deno.open(path, { read: true });
    let snap: Snapshot;
    try {
      const { size } = await file.stat();
      if (size > SNAPSHOT_FILE_BYTES_MAX) {
        throw new SnapshotFileError(`${size} bytes is over the ${SNAPSHOT_FILE_BYTES_MAX} limit`);
      }
      // In slices with yields, like the save: a restart loads hundreds of MB this way.
      snap = await readSnapshotFile(file, { fileBytes: size, sliceBytes });
    } finally {
      file.close();
    }
    return checkName(snap, n);
  }

  /** Removes all but the newest `keep` snapshot files, and leftover temporary files. */
  async #prune(): Promise<void> {
    await this.#remove((names) => names.slice(this.#keep));
  }

  async #remove(choose: (namesNewestFirst: SnapName[]) => SnapName[]): Promise<void> {
    const doomed = choose(await this.#names()).map((n) => n.name);
    for (const name of await listDir(this.#dir)) {
      if (name.endsWith(".snap" + TMP_SUFFIX)) doomed.push(name);
    }
    if (doomed.length === 0) return;
    for (const name of doomed) await isNotFound(Deno.remove(joinPath(this.#dir, name)));
    await syncDir(this.#dir);
  }
}
