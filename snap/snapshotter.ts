/** Saves and loads snapshot files `<term>-<index>.snap` in `<data-dir>/snap/`. */
import type { Snapshot } from "../raft/types.ts";
import { type Logger, silentLogger } from "../raft/logger.ts";
import { assert } from "../wal/assert.ts";
import type { WalSnapshotMarker } from "../wal/codec.ts";
import { isNotFound, joinPath, listDir, parentDir, syncDir, writeAll } from "../wal/fs_util.ts";
import {
  checksumMatches,
  decodeSnapshotFile,
  encodeSnapshotFile,
  SNAPSHOT_FILE_BYTES_MAX,
  SnapshotFileError,
} from "./snapshot_file.ts";

/** Snapshot files kept after a save. */
export const SNAPSHOTS_KEEP_DEFAULT = 5;

const NAME_PATTERN = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const TMP_SUFFIX = ".tmp";

interface SnapName {
  name: string;
  term: number;
  index: number;
}

function hex16(n: number): string {
  return n.toString(16).padStart(16, "0");
}

export function snapshotFileName(term: number, index: number): string {
  return `${hex16(term)}-${hex16(index)}.snap`;
}

export interface SnapshotterOptions {
  logger?: Logger;
  /** How many snapshot files to keep (default 5). */
  keep?: number;
}

export class Snapshotter {
  readonly #dir: string;
  readonly #logger: Logger;
  readonly #keep: number;
  /** Saves run one at a time: a save's pruning must not remove another's temporary file. */
  #tail: Promise<void> = Promise.resolve();

  constructor(dir: string, options: SnapshotterOptions = {}) {
    this.#dir = dir;
    this.#logger = options.logger ?? silentLogger;
    this.#keep = options.keep ?? SNAPSHOTS_KEEP_DEFAULT;
    if (!Number.isSafeInteger(this.#keep) || this.#keep < 1) {
      throw new RangeError(`keep must be a positive integer: ${this.#keep}`);
    }
  }

  /**
   * Writes `snapshot` atomically (temporary file, sync, rename, directory sync), then removes all
   * but the newest `keep` snapshots. An empty snapshot (index 0) is not saved.
   */
  save(snapshot: Snapshot): Promise<void> {
    const p = this.#tail.then(() => this.#save(snapshot));
    this.#tail = p.then(() => {}, () => {});
    return p;
  }

  async #save(snapshot: Snapshot): Promise<void> {
    const { index, term } = snapshot.metadata;
    if (index === 0) return;
    assert(term > 0, "a snapshot past index 0 has a term");
    const bytes = encodeSnapshotFile(snapshot);
    // Checked right before writing: a bad buffer must not become a "valid" file.
    assert(checksumMatches(bytes), "encoded snapshot checksum");
    if (await isNotFound(Deno.stat(this.#dir))) {
      await Deno.mkdir(this.#dir, { recursive: true });
      await syncDir(parentDir(this.#dir));
    }
    const path = joinPath(this.#dir, snapshotFileName(term, index));
    const tmp = path + TMP_SUFFIX;
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      await writeAll(file, bytes);
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
    await syncDir(this.#dir);
    this.#logger.info(`Saved snapshot ${path} (${bytes.length} bytes)`);
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

  async #read(path: string, n: SnapName): Promise<Snapshot> {
    const { size } = await Deno.stat(path);
    if (size > SNAPSHOT_FILE_BYTES_MAX) {
      throw new SnapshotFileError(`${size} bytes is over the ${SNAPSHOT_FILE_BYTES_MAX} limit`);
    }
    const snap = decodeSnapshotFile(await Deno.readFile(path));
    if (snap.metadata.index !== n.index || snap.metadata.term !== n.term) {
      throw new SnapshotFileError(
        `holds term ${snap.metadata.term} index ${snap.metadata.index}, not what its name says`,
      );
    }
    return snap;
  }

  /** Removes all but the newest `keep` snapshot files, and leftover temporary files. */
  async #prune(): Promise<void> {
    const names = await this.#names();
    const doomed = names.slice(this.#keep).map((n) => n.name);
    for (const name of await listDir(this.#dir)) {
      if (name.endsWith(".snap" + TMP_SUFFIX)) doomed.push(name);
    }
    if (doomed.length === 0) return;
    for (const name of doomed) await isNotFound(Deno.remove(joinPath(this.#dir, name)));
    await syncDir(this.#dir);
  }
}
