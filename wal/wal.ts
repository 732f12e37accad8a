/** The write-ahead log: segment files of framed, CRC-chained records (format in mod.ts). */
import type { Entry, HardState } from "../raft/types.ts";
import { type Logger, silentLogger } from "../raft/logger.ts";
import { assert } from "./assert.ts";
import { encodeBatch } from "./batch.ts";
import {
  decodeEntryAfter,
  decodeHardState,
  decodeMetadata,
  decodeSnapshotMarker,
  PayloadError,
  type WalMetadata,
  type WalSnapshotMarker,
} from "./codec.ts";
import { WalCorruptError } from "./errors.ts";
import {
  isNotFound,
  joinPath,
  listDir,
  parentDir,
  syncDir,
  writeAll,
  writeAllSync,
} from "./fs_util.ts";
import { allZero, RecordScanError, RecordType, scanSegment, type SegmentScan } from "./record.ts";
import { parseSegmentName, type SegmentName, segmentName, TMP_SUFFIX } from "./segment_name.ts";

/** A new segment is started once the current one passes this size. */
export const SEGMENT_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
/** Segments wholly before a released index that are kept anyway. */
export const RELEASE_RETAIN_SEGMENTS_DEFAULT = 2;
/** Size of the buffer kept for encoding batches; larger batches get a buffer of their own. */
export const SCRATCH_BYTES = 1024 * 1024;
/** Appends up to this size are written with a blocking write (see `writeAllSync`). */
const SYNC_WRITE_BYTES_MAX = 256 * 1024;
/** Largest segment file read: a segment is at most segmentBytesMax plus one batch. */
export const SEGMENT_FILE_BYTES_MAX = 1024 * 1024 * 1024;
/**
 * The last segment is read in chunks of this size up to its first all-zero chunk: the rest is
 * the preallocated tail, which open() truncates and re-extends instead of reading 64 MiB of zeros.
 */
const TAIL_READ_CHUNK_BYTES = 1024 * 1024;
/** How far past an append `#fillAhead` writes zeros into the segment's preallocated space. */
const FILL_AHEAD_BYTES = 1024 * 1024;
const ZEROS = new Uint8Array(FILL_AHEAD_BYTES);
/** Calls queued behind the one running; callers normally await each save before the next. */
export const PENDING_CALLS_MAX = 1024;
/** Bound on the number of segment files a WAL directory may hold. */
export const SEGMENTS_MAX = 100_000;

export interface WalOptions {
  logger?: Logger;
  /** Size past which a new segment is started (default 64 MiB; small in tests). */
  segmentBytesMax?: number;
  /** Extend each new segment to `segmentBytesMax` with zeros up front (default true). */
  preallocate?: boolean;
  /** How many segments wholly before the released index `releaseTo` keeps (default 2). */
  releaseRetainSegments?: number;
}

export interface WalCreateOptions extends WalOptions {
  metadata: WalMetadata;
}

export interface WalOpenOptions extends WalOptions {
  /** Open at this snapshot: entries after its index are returned. Default: index 0. */
  snapshot?: WalSnapshotMarker;
}

export interface WalOpenResult {
  wal: Wal;
  metadata: WalMetadata;
  /** The last hard state saved, or all zeros. */
  hardState: HardState;
  /** Every entry after the snapshot, conflicting suffixes resolved. */
  entries: Entry[];
}

interface Settings {
  dir: string;
  logger: Logger;
  segmentBytesMax: number;
  preallocate: boolean;
  releaseRetainSegments: number;
}

function settingsOf(dir: string, o: WalOptions): Settings {
  const segmentBytesMax = o.segmentBytesMax ?? SEGMENT_BYTES_MAX_DEFAULT;
  const releaseRetainSegments = o.releaseRetainSegments ?? RELEASE_RETAIN_SEGMENTS_DEFAULT;
  if (!Number.isSafeInteger(segmentBytesMax) || segmentBytesMax < 1024) {
    throw new RangeError(`segmentBytesMax must be an integer >= 1024: ${segmentBytesMax}`);
  }
  if (!Number.isSafeInteger(releaseRetainSegments) || releaseRetainSegments < 0) {
    throw new RangeError(`releaseRetainSegments must be >= 0: ${releaseRetainSegments}`);
  }
  return {
    dir,
    logger: o.logger ?? silentLogger,
    segmentBytesMax,
    preallocate: o.preallocate ?? true,
    releaseRetainSegments,
  };
}

/** Segment files of `dir` in sequence order; a gap in the sequence is corruption. */
async function listSegments(dir: string): Promise<SegmentName[]> {
  const segs: SegmentName[] = [];
  for (const name of await listDir(dir)) {
    const s = parseSegmentName(name);
    if (s) segs.push(s);
  }
  if (segs.length > SEGMENTS_MAX) {
    throw new RangeError(
      `WAL directory ${dir} holds ${segs.length} segments, over ${SEGMENTS_MAX}`,
    );
  }
  segs.sort((a, b) => a.seq - b.seq);
  for (let i = 1; i < segs.length; i++) {
    const prev = segs[i - 1]!;
    const cur = segs[i]!;
    if (cur.seq !== prev.seq + 1) {
      throw new WalCorruptError(joinPath(dir, cur.name), 0, `segment ${prev.seq + 1} is missing`);
    }
    if (cur.firstIndex < prev.firstIndex) {
      throw new WalCorruptError(joinPath(dir, cur.name), 0, "segment first index goes backwards");
    }
  }
  return segs;
}

interface LogRead {
  metadata: WalMetadata;
  hardState: HardState;
  entries: Entry[];
  markers: WalSnapshotMarker[];
  lastScan: SegmentScan;
  /** The whole last segment was read (else its tail after the first zero chunk was not). */
  lastWhole: boolean;
  /** Highest index the log covers: last entry, or a later snapshot marker. */
  lastIndex: number;
}

/**
 * Reads segments `segs` in order without writing anything; collects entries after `snapshotIndex`
 * only if `entries` (checking markers needs none, and released segments leave a gap before).
 * Throws WalCorruptError for anything but a torn tail of the last segment (`lastIsTail`), which
 * is reported in `lastScan`.
 */
async function readLog(
  dir: string,
  options: { segs: SegmentName[]; snapshotIndex: number; lastIsTail: boolean; entries: boolean },
): Promise<LogRead> {
  const { segs, snapshotIndex } = options;
  assert(segs.length > 0, "readLog needs a segment");
  let metadata: WalMetadata | undefined;
  let hardState: HardState = { term: 0, vote: 0, commit: 0 };
  const entries: Entry[] = [];
  const markers: WalSnapshotMarker[] = [];
  let chainCrc: number | undefined;
  let lastScan: SegmentScan | undefined;
  let lastWhole = true;
  for (let i = 0; i < segs.length; i++) {
    const path = joinPath(dir, segs[i]!.name);
    const { size } = await Deno.stat(path);
    if (size > SEGMENT_FILE_BYTES_MAX) {
      throw new WalCorruptError(path, SEGMENT_FILE_BYTES_MAX, `file of ${size} bytes is too large`);
    }
    const isTail = options.lastIsTail && i === segs.length - 1;
    let read = isTail
      ? await readHead(path, size)
      : { bytes: await Deno.readFile(path), whole: true };
    const scanOrThrow = (bytes: Uint8Array) => {
      try {
        return scanSegment(bytes, isTail);
      } catch (e) {
        if (e instanceof RecordScanError) throw new WalCorruptError(path, e.offset, e.reason);
        throw e;
      }
    };
    let scan = scanOrThrow(read.bytes);
    if (scan.endsShort && !read.whole) {
      // A record runs past the zero chunk (its data holds a MiB of zeros): read it all.
      read = { bytes: await Deno.readFile(path), whole: true };
      scan = scanOrThrow(read.bytes);
    }
    lastWhole = read.whole;
    // Every segment starts with its seed and metadata records; new segments appear whole (rename).
    if (scan.records.length < 2 || scan.records[1]!.type !== RecordType.Metadata) {
      throw new WalCorruptError(path, 0, "segment lacks its CRC seed and metadata records");
    }
    for (const rec of scan.records) {
      try {
        switch (rec.type) {
          case RecordType.CrcSeed: {
            const seed = new DataView(rec.payload.buffer, rec.payload.byteOffset).getUint32(
              0,
              true,
            );
            if (chainCrc !== undefined && seed !== chainCrc) {
              throw new PayloadError("CRC chain broken: seed does not match the previous segment");
            }
            break;
          }
          case RecordType.Metadata: {
            const m = decodeMetadata(rec.payload);
            if (metadata && (m.nodeId !== metadata.nodeId || m.clusterId !== metadata.clusterId)) {
              throw new PayloadError("metadata differs from the previous segment's");
            }
            metadata = m;
            break;
          }
          case RecordType.Entry: {
            // Skipped entries are checked, not copied: most of a segment precedes the snapshot.
            const skipThrough = options.entries ? snapshotIndex : Infinity;
            const e = decodeEntryAfter(rec.payload, skipThrough);
            if (e === undefined) break;
            // A later entry at index i replaces everything from i on (a conflicting suffix).
            const keep = e.index - snapshotIndex - 1;
            if (keep > entries.length) {
              throw new PayloadError(
                `entry ${e.index} leaves a gap after index ${snapshotIndex + entries.length}`,
              );
            }
            entries.length = keep;
            entries.push(e);
            break;
          }
          case RecordType.HardState:
            hardState = decodeHardState(rec.payload);
            break;
          case RecordType.Snapshot:
            markers.push(decodeSnapshotMarker(rec.payload));
            break;
          default: {
            const never: never = rec.type;
            throw new PayloadError(`unknown record type ${never}`);
          }
        }
      } catch (e) {
        if (e instanceof PayloadError) throw new WalCorruptError(path, rec.offset, e.message);
        throw e;
      }
    }
    chainCrc = scan.crc;
    lastScan = scan;
  }
  assert(lastScan !== undefined, "a segment was scanned");
  assert(metadata !== undefined, "every segment has a metadata record");
  let lastIndex = snapshotIndex + entries.length;
  for (const m of markers) lastIndex = Math.max(lastIndex, m.index);
  return { metadata, hardState, entries, markers, lastScan, lastWhole, lastIndex };
}

/** Index of the last segment whose first index is <= index, or -1. */
function searchIndex(segs: SegmentName[], index: number): number {
  for (let i = segs.length - 1; i >= 0; i--) if (segs[i]!.firstIndex <= index) return i;
  return -1;
}

interface WalState {
  settings: Settings;
  segments: SegmentName[];
  file: Deno.FsFile;
  offset: number;
  crc: number;
  lastIndex: number;
  metadata: WalMetadata;
  hardState: HardState | undefined;
}

/**
 * An open write-ahead log, appending to its last segment. Calls are serialized internally; after a
 * failed write the WAL refuses further writes (its file position is no longer known).
 */
export class Wal {
  readonly #s: Settings;
  #segments: SegmentName[];
  #file: Deno.FsFile;
  /** Where the next record goes in the last segment. */
  #offset: number;
  /** CRC of the last record written: the next one chains from it. */
  #crc: number;
  /** Index of the last entry (or snapshot marker) written; names the next segment. */
  #lastIndex: number;
  readonly #metadata: WalMetadata;
  /** Last hard state written; repeated at the start of each segment. */
  #hardState: HardState | undefined;
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;
  #failed: unknown = undefined;
  #closed = false;
  /** Bytes were written since the last fdatasync. */
  #unsynced = false;
  /** The segment's blocks up to here hold data or written zeros (see `#fillAhead`). */
  #filledTo: number;
  /** Reused for encoding saves (they are serialized by #run), so a save allocates nothing big. */
  readonly #scratch = new Uint8Array(SCRATCH_BYTES);

  private constructor(st: WalState) {
    this.#s = st.settings;
    this.#segments = st.segments;
    this.#file = st.file;
    this.#offset = st.offset;
    this.#filledTo = st.offset;
    this.#crc = st.crc;
    this.#lastIndex = st.lastIndex;
    this.#metadata = st.metadata;
    this.#hardState = st.hardState;
  }

  /** True if `dir` holds at least one WAL segment. */
  static async exists(dir: string): Promise<boolean> {
    return (await listDir(dir)).some((n) => parseSegmentName(n) !== undefined);
  }

  /** Creates a WAL with its first segment in `dir` (created if missing; must hold no WAL). */
  static async create(dir: string, options: WalCreateOptions): Promise<Wal> {
    const s = settingsOf(dir, options);
    if (await Wal.exists(dir)) throw new Error(`Cannot create WAL in ${dir}: it already has one`);
    await Deno.mkdir(dir, { recursive: true });
    const seg = segmentName(0, 0);
    const { bytes, crc } = encodeBatch({ seed: 0, metadata: options.metadata }, 0);
    const file = await writeNewSegment(s, seg, bytes);
    await syncDir(parentDir(dir));
    s.logger.info(`WAL created in ${dir}`);
    return new Wal({
      settings: s,
      segments: [seg],
      file,
      offset: bytes.length,
      crc,
      lastIndex: 0,
      metadata: options.metadata,
      hardState: undefined,
    });
  }

  /**
   * Snapshot markers in the WAL whose index is committed by its last hard state, oldest first.
   * With `segmentsMax`, only the newest segments are read: the newest markers, at a fraction of
   * the cost of reading every retained segment (64 MiB each) on a restart.
   */
  static async readSnapshotMarkers(
    dir: string,
    options: { segmentsMax?: number } = {},
  ): Promise<WalSnapshotMarker[]> {
    const all = await listSegments(dir);
    if (all.length === 0) throw new Error(`Cannot read WAL in ${dir}: no segment files`);
    const segmentsMax = options.segmentsMax ?? all.length;
    if (!Number.isSafeInteger(segmentsMax) || segmentsMax < 1) {
      throw new RangeError(`segmentsMax must be a positive integer: ${segmentsMax}`);
    }
    const segs = all.slice(-segmentsMax);
    const log = await readLog(dir, { segs, snapshotIndex: 0, lastIsTail: true, entries: false });
    return log.markers.filter((m) => m.index <= log.hardState.commit);
  }

  /**
   * Opens the WAL at `snapshot`: validates every segment it reads before writing anything, then
   * cuts a torn tail off the last segment and removes leftover temporary files.
   */
  static async open(dir: string, options: WalOpenOptions = {}): Promise<WalOpenResult> {
    const s = settingsOf(dir, options);
    const snap = options.snapshot ?? { index: 0, term: 0 };
    const all = await listSegments(dir);
    if (all.length === 0) throw new Error(`Cannot open WAL in ${dir}: no segment files`);
    const start = searchIndex(all, snap.index);
    if (start < 0) {
      throw new Error(`Cannot open WAL in ${dir} at index ${snap.index}: its segments start later`);
    }
    const segs = all.slice(start);
    const log = await readLog(dir, {
      segs,
      snapshotIndex: snap.index,
      lastIsTail: true,
      entries: true,
    });
    if (snap.index > 0) {
      const m = log.markers.find((x) => x.index === snap.index);
      if (!m) {
        throw new Error(
          `Cannot open WAL in ${dir}: no snapshot marker for index ${snap.index} term ${snap.term}`,
        );
      }
      if (m.term !== snap.term) {
        throw new Error(
          `Cannot open WAL in ${dir}: snapshot ${snap.index} has term ${m.term}, not ${snap.term}`,
        );
      }
    }

    // Validation done; from here on files may change.
    const last = segs[segs.length - 1]!;
    const lastPath = joinPath(dir, last.name);
    const scan = log.lastScan;
    const file = await Deno.open(lastPath, { read: true, write: true });
    try {
      if (scan.tornBytes > 0) {
        s.logger.warn(
          `WAL segment ${lastPath}: cut ${scan.tornBytes} bytes of torn tail at byte ` +
            `${scan.validEnd} (${scan.tornReason})`,
        );
      }
      // Cut a torn tail, and zero the unread tail too: appends must land on zeros only.
      if (scan.tornBytes > 0 || (!log.lastWhole && (await file.stat()).size > scan.validEnd)) {
        await file.truncate(scan.validEnd);
        await file.sync();
      }
      if (s.preallocate && (await file.stat()).size < s.segmentBytesMax) {
        await file.truncate(s.segmentBytesMax);
      }
      await file.seek(scan.validEnd, Deno.SeekMode.Start);
    } catch (e) {
      file.close();
      throw e;
    }
    await removeTmpFiles(dir);
    const wal = new Wal({
      settings: s,
      segments: all,
      file,
      offset: scan.validEnd,
      crc: scan.crc,
      lastIndex: log.lastIndex,
      metadata: log.metadata,
      hardState: log.hardState,
    });
    return { wal, metadata: log.metadata, hardState: log.hardState, entries: log.entries };
  }

  /**
   * Appends `entries` (which may overwrite a conflicting suffix) and then `hardState`, as one write
   * and, unless `sync` is false, one fdatasync.
   */
  save(
    hardState: HardState | undefined,
    entries: Entry[],
    options: { sync?: boolean } = {},
  ): Promise<void> {
    return this.#run(async () => {
      const first = entries[0];
      for (let i = 1; i < entries.length; i++) {
        if (entries[i]!.index !== first!.index + i) {
          throw new RangeError(`Cannot save entries: index ${entries[i]!.index} is out of order`);
        }
      }
      if (first && (first.index < 1 || first.index > this.#lastIndex + 1)) {
        throw new RangeError(
          `Cannot save entry ${first.index}: the WAL ends at index ${this.#lastIndex}`,
        );
      }
      if (!hardState && entries.length === 0) return;
      const input = hardState ? { entries, hardState } : { entries };
      const batch = encodeBatch(input, this.#crc, this.#scratch);
      await this.#append(batch.bytes, options.sync ?? true);
      this.#crc = batch.crc;
      const lastEntry = entries[entries.length - 1];
      if (lastEntry) this.#lastIndex = lastEntry.index;
      if (hardState) this.#hardState = { ...hardState };
      if (this.#offset >= this.#s.segmentBytesMax) await this.#cut();
    });
  }

  /** Records that a snapshot was taken at `marker` (synced). */
  saveSnapshot(marker: WalSnapshotMarker): Promise<void> {
    return this.#run(async () => {
      const batch = encodeBatch({ marker }, this.#crc, this.#scratch);
      await this.#append(batch.bytes, true);
      this.#crc = batch.crc;
      this.#lastIndex = Math.max(this.#lastIndex, marker.index);
      if (this.#offset >= this.#s.segmentBytesMax) await this.#cut();
    });
  }

  /**
   * Removes segments wholly before the one holding `index` (usually the latest snapshot's),
   * keeping `releaseRetainSegments` of them and never the segment being written.
   */
  releaseTo(index: number): Promise<void> {
    return this.#run(async () => {
      const holder = searchIndex(this.#segments, index);
      const removeCount = holder - this.#s.releaseRetainSegments;
      if (removeCount <= 0) return;
      assert(removeCount < this.#segments.length, "the last segment is never released");
      for (let i = 0; i < removeCount; i++) {
        const path = joinPath(this.#s.dir, this.#segments[i]!.name);
        await Deno.remove(path);
        this.#s.logger.info(`WAL segment ${path} released`);
      }
      this.#segments = this.#segments.slice(removeCount);
      await syncDir(this.#s.dir);
    });
  }

  /** Syncs and closes the last segment. Further calls fail, except close. */
  close(): Promise<void> {
    if (this.#closed) return this.#tail;
    return this.#run(async () => {
      this.#closed = true;
      try {
        if (this.#failed === undefined && this.#unsynced) await this.#file.syncData();
      } finally {
        this.#file.close();
      }
    });
  }

  /** Names of the segment files, oldest first (for tests and the status page). */
  segmentFiles(): string[] {
    return this.#segments.map((s) => s.name);
  }

  #run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#pending >= PENDING_CALLS_MAX) {
      return Promise.reject(
        new Error(`WAL in ${this.#s.dir} has ${this.#pending} calls queued (limit reached)`),
      );
    }
    this.#pending++;
    const p = this.#tail.then(() => {
      if (this.#closed) throw new Error(`WAL in ${this.#s.dir} is closed`);
      if (this.#failed !== undefined) {
        throw new Error(`WAL in ${this.#s.dir} failed earlier`, { cause: this.#failed });
      }
      return fn();
    });
    this.#tail = p.then(() => {}, () => {}).finally(() => this.#pending--);
    return p;
  }

  async #append(bytes: Uint8Array, sync: boolean): Promise<void> {
    assert(bytes.length > 0 && bytes.length % 16 === 0, "appends are whole aligned records");
    try {
      if (this.#s.preallocate && this.#offset + bytes.length > this.#filledTo) {
        await this.#fillAhead(this.#offset + bytes.length);
      }
      // The usual append (one Ready) is small: written in place, only the sync goes to a worker.
      if (bytes.length <= SYNC_WRITE_BYTES_MAX) writeAllSync(this.#file, bytes);
      else await writeAll(this.#file, bytes);
      this.#unsynced = true;
      if (sync) {
        await this.#file.syncData();
        this.#unsynced = false;
      }
    } catch (e) {
      this.#failed = e;
      throw e;
    }
    this.#offset += bytes.length;
  }

  /**
   * Writes zeros over the segment's sparse preallocation from `#filledTo` to a MiB past `end`.
   * An fdatasync that must allocate blocks also commits ext4's journal, which waits for every
   * dirty page of the file system (other nodes' WALs, snapshot files); over written blocks it
   * only flushes data. So the allocation is paid here, in the same sync as the append, once per
   * MiB rather than on every sync. Measured with three processes appending 6 KB + fdatasync on
   * this machine: p50 0.54 -> 0.35 ms, p99 4.2 -> 1.4 ms.
   */
  async #fillAhead(end: number): Promise<void> {
    const target = Math.min(this.#s.segmentBytesMax, end + FILL_AHEAD_BYTES);
    if (target <= this.#filledTo) return; // A batch past the segment's size: nothing to fill.
    const start = Math.max(this.#filledTo, this.#offset);
    await this.#file.seek(start, Deno.SeekMode.Start);
    for (let at = start; at < target; at += ZEROS.length) {
      await writeAll(this.#file, ZEROS.subarray(0, Math.min(ZEROS.length, target - at)));
    }
    await this.#file.seek(this.#offset, Deno.SeekMode.Start);
    this.#filledTo = target;
  }

  /** Seals the current segment at its end and starts the next one. */
  async #cut(): Promise<void> {
    const prev = this.#segments[this.#segments.length - 1]!;
    const started = performance.now();
    try {
      // Drop the preallocated zeros: only the last segment may end in zeros.
      await this.#file.truncate(this.#offset);
      await this.#file.sync();
      this.#unsynced = false;
      const seg = segmentName(prev.seq + 1, this.#lastIndex + 1);
      const hardState = this.#hardState;
      const { bytes, crc } = encodeBatch(
        hardState
          ? { seed: this.#crc, metadata: this.#metadata, hardState }
          : { seed: this.#crc, metadata: this.#metadata },
        0,
      );
      const file = await writeNewSegment(this.#s, seg, bytes);
      this.#file.close();
      this.#file = file;
      this.#offset = bytes.length;
      this.#filledTo = bytes.length;
      this.#crc = crc;
      this.#segments.push(seg);
      const ms = (performance.now() - started).toFixed(0);
      this.#s.logger.info(
        `WAL segment ${joinPath(this.#s.dir, seg.name)} started (cut in ${ms} ms)`,
      );
    } catch (e) {
      this.#failed = e;
      throw e;
    }
  }
}

/**
 * Writes a segment as a temporary file, syncs it, renames it into place and syncs the directory.
 * Returns it open for appending after `bytes`.
 */
async function writeNewSegment(s: Settings, seg: SegmentName, bytes: Uint8Array) {
  const path = joinPath(s.dir, seg.name);
  const tmp = path + TMP_SUFFIX;
  const file = await Deno.open(tmp, { read: true, write: true, create: true, truncate: true });
  try {
    await writeAll(file, bytes);
    if (s.preallocate) await file.truncate(Math.max(s.segmentBytesMax, bytes.length));
    await file.sync();
    await Deno.rename(tmp, path);
    await syncDir(s.dir);
  } catch (e) {
    file.close();
    throw e;
  }
  return file;
}

/**
 * Reads `path` (of `size` bytes) in chunks up to and including its first all-zero chunk, or whole.
 */
async function readHead(
  path: string,
  size: number,
): Promise<{ bytes: Uint8Array; whole: boolean }> {
  const file = await Deno.open(path, { read: true });
  try {
    const chunks: Uint8Array[] = [];
    let total = 0;
    const chunksMax = Math.ceil(size / TAIL_READ_CHUNK_BYTES);
    for (let k = 0; k < chunksMax && total < size; k++) {
      const chunk = new Uint8Array(Math.min(TAIL_READ_CHUNK_BYTES, size - total));
      let got = 0;
      // Bounded: each read returns at least one byte or null at the end of the file.
      while (got < chunk.length) {
        const n = await file.read(chunk.subarray(got));
        if (n === null) break;
        got += n;
      }
      chunks.push(chunk.subarray(0, got));
      total += got;
      if (got < chunk.length || allZero(chunk, 0, got)) break;
    }
    assert(total <= size || chunks.length > 0, "read no more than the file");
    const bytes = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      bytes.set(c, off);
      off += c.length;
    }
    return { bytes, whole: total >= size };
  } finally {
    file.close();
  }
}

async function removeTmpFiles(dir: string): Promise<void> {
  let removed = false;
  for (const name of await listDir(dir)) {
    if (name.endsWith(".wal" + TMP_SUFFIX)) {
      if (!(await isNotFound(Deno.remove(joinPath(dir, name))))) removed = true;
    }
  }
  if (removed) await syncDir(dir);
}
