/**
 * Writing and reading one snapshot file in slices, so that a large snapshot (about 285 MB at a
 * million keys) never holds the event loop for longer than one slice's CRC: 1-3 ms per MiB on a
 * loaded 2-core machine, where heartbeats are every 100 ms. Between slices each function yields
 * to the event loop with a zero-delay timer, so timers (heartbeats, ticks) and I/O run.
 *
 * The data is written from the snapshot's own buffer (no copy); the CRC of each slice is computed
 * right before its write call and right after its read call.
 */
import type { Snapshot, SnapshotMetadata } from "../raft/types.ts";
import { assert } from "../wal/assert.ts";
import { writeAll } from "../wal/fs_util.ts";
import {
  decodeSnapshotHeader,
  decodeSnapshotMetadata,
  encodeSnapshotHead,
  headerCrc,
  setHeaderCrc,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOT_HEADER_BYTES,
  snapshotChecksum,
  SnapshotFileError,
} from "./snapshot_file.ts";

/** Bytes CRC'd and written (or read and CRC'd) between yields to the event loop. */
export const SNAPSHOT_SLICE_BYTES_DEFAULT = 1024 * 1024;
export const SNAPSHOT_SLICE_BYTES_MAX = 64 * 1024 * 1024;

/** Upper bound on read calls to fill one buffer (a read may return 0 bytes without EOF). */
const READ_CALLS_MAX = 1 << 20;

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Fills `buf` from the file's position; false if the file ends first. */
async function readFull(file: Deno.FsFile, buf: Uint8Array): Promise<boolean> {
  let done = 0;
  for (let calls = 0; done < buf.length; calls++) {
    assert(calls < READ_CALLS_MAX, "read loop bound");
    const n = await file.read(buf.subarray(done));
    if (n === null) return false;
    done += n;
  }
  assert(done === buf.length, "read exactly the buffer");
  return true;
}

function checkSliceBytes(sliceBytes: number): void {
  assert(
    Number.isSafeInteger(sliceBytes) && sliceBytes > 0 && sliceBytes <= SNAPSHOT_SLICE_BYTES_MAX,
    `slice of ${sliceBytes} bytes`,
  );
}

/**
 * A snapshot whose data is produced while it is written: `chunks` yields the data in order, and
 * each chunk is written before the next is asked for, so a producer may reuse one buffer. An image
 * of a large store is never held whole in memory this way.
 */
export interface SnapshotStream {
  metadata: SnapshotMetadata;
  /** The data's size in bytes, which the chunks must add up to: it goes in the header first. */
  dataBytes: number;
  chunks: Iterable<Uint8Array>;
}

/** The data of a snapshot: a whole buffer, or a stream. */
export type SnapshotSource = Snapshot | SnapshotStream;

function* slicesOf(data: Uint8Array, sliceBytes: number): Generator<Uint8Array> {
  for (let off = 0; off < data.length; off += sliceBytes) {
    yield data.subarray(off, Math.min(off + sliceBytes, data.length));
  }
}

/**
 * Writes `snapshot` as a whole file at the start of `file` (opened empty), and returns the CRC it
 * stored. The header goes first with a zero CRC, then the metadata and the data in slices (or the
 * stream's chunks), each CRC'd right before it is written, with a yield to the event loop before
 * each; last the header again, with the CRC of what was written. Until then the file does not
 * load (CRC mismatch). The caller syncs and renames.
 *
 * A `Snapshot`'s data is written from the caller's buffer: it must not change until this settles.
 * A stream whose chunks do not add up to `dataBytes` throws a `RangeError`, and the file is then
 * unusable.
 */
export async function writeSnapshotFile(
  file: Deno.FsFile,
  snapshot: SnapshotSource,
  options: { sliceBytes: number; syncBytes?: number },
): Promise<number> {
  const { sliceBytes } = options;
  const syncBytes = options.syncBytes ?? Infinity;
  assert(syncBytes > 0, `sync every ${syncBytes} bytes`);
  let unsynced = 0;
  checkSliceBytes(sliceBytes);
  const { metadata } = snapshot;
  const [dataBytes, chunks] = "data" in snapshot
    ? [snapshot.data.length, slicesOf(snapshot.data, sliceBytes)]
    : [snapshot.dataBytes, snapshot.chunks];
  const head = encodeSnapshotHead(metadata, dataBytes);
  assert(await file.seek(0, Deno.SeekMode.Current) === 0, "snapshot written from offset 0");
  const checksum = snapshotChecksum(SNAPSHOT_FORMAT_VERSION);
  let crc = checksum(head.subarray(SNAPSHOT_HEADER_BYTES), headerCrc(head));
  await writeAll(file, head);
  let written = 0;
  // The loop is bounded by the producer; the byte count bounds what it may write.
  for (const chunk of chunks) {
    if (written + chunk.length > dataBytes) {
      throw new RangeError(`Snapshot data runs past the ${dataBytes} bytes its header says`);
    }
    await yieldToLoop();
    crc = checksum(chunk, crc); // Right before writing: the stored CRC is that of these bytes.
    await writeAll(file, chunk);
    written += chunk.length;
    unsynced += chunk.length;
    if (unsynced >= syncBytes) {
      // On ext4 (data=ordered) a WAL fsync that commits the journal first flushes every dirty
      // page of the file system: flushed a few MB at a time, the snapshot never puts a long
      // flush in front of one.
      await file.syncData();
      unsynced = 0;
    }
  }
  if (written !== dataBytes) {
    throw new RangeError(`Snapshot data is ${written} bytes, not the ${dataBytes} its header says`);
  }
  const end = await file.seek(0, Deno.SeekMode.Current);
  assert(end === head.length + dataBytes, `snapshot file ends at ${end}`);
  setHeaderCrc(head, crc);
  await file.seek(0, Deno.SeekMode.Start);
  await writeAll(file, head.subarray(0, SNAPSHOT_HEADER_BYTES));
  return crc;
}

export interface ReadOptions {
  /** The file's size (from stat), which the header's lengths must add up to. */
  fileBytes: number;
  sliceBytes: number;
}

/** Reads a file's header, checked against its size (`fileBytes`), and its metadata bytes. */
async function readHeaderAndMetadata(file: Deno.FsFile, fileBytes: number) {
  if (fileBytes < SNAPSHOT_HEADER_BYTES) throw new SnapshotFileError("file shorter than header");
  const header = new Uint8Array(SNAPSHOT_HEADER_BYTES);
  if (!await readFull(file, header)) throw new SnapshotFileError("file shorter than header");
  const h = decodeSnapshotHeader(header, fileBytes);
  const meta = new Uint8Array(h.metaBytes);
  if (!await readFull(file, meta)) throw new SnapshotFileError("file ends in its metadata");
  return { header, h, meta };
}

/**
 * Reads a snapshot file of `fileBytes` bytes from the start of `file`, checking header, lengths
 * and CRC, handing each data slice to `sliceAt(offset, length)` for a buffer to read it into.
 * Throws SnapshotFileError for a file that cannot be used.
 */
async function scanSnapshotFile(
  file: Deno.FsFile,
  options: ReadOptions & {
    dataBuffer: (dataBytes: number) => (offset: number, length: number) => Uint8Array;
  },
): Promise<{ metadata: SnapshotMetadata; crc: number }> {
  const { fileBytes, sliceBytes } = options;
  checkSliceBytes(sliceBytes);
  const { header, h, meta } = await readHeaderAndMetadata(file, fileBytes);
  const checksum = snapshotChecksum(h.version);
  let crc = checksum(meta, headerCrc(header));
  const sliceAt = options.dataBuffer(h.dataBytes);
  const slices = Math.ceil(h.dataBytes / sliceBytes);
  for (let k = 0; k < slices; k++) {
    const off = k * sliceBytes;
    const slice = sliceAt(off, Math.min(sliceBytes, h.dataBytes - off));
    if (!await readFull(file, slice)) {
      throw new SnapshotFileError(`file ends before its ${h.dataBytes} bytes of data`);
    }
    crc = checksum(slice, crc); // Right after reading.
    await yieldToLoop();
  }
  const extra = await file.read(new Uint8Array(1));
  if (extra !== null && extra > 0) {
    throw new SnapshotFileError("file is longer than its header says");
  }
  if (crc !== h.crc) throw new SnapshotFileError("CRC mismatch");
  return { metadata: decodeSnapshotMetadata(meta), crc };
}

/**
 * Reads a snapshot file's metadata and the first `dataBytes` bytes of its data (fewer if it holds
 * fewer), checking its header against `fileBytes` but not its CRC, which covers the whole file:
 * a cheap look at what a snapshot is (a chain's links, snapshot_chain.ts), to be trusted only
 * once a whole read checked it.
 */
export async function readSnapshotHead(
  file: Deno.FsFile,
  options: { fileBytes: number; dataBytes: number },
): Promise<Snapshot> {
  assert(Number.isSafeInteger(options.dataBytes) && options.dataBytes >= 0, "a byte count");
  const { h, meta } = await readHeaderAndMetadata(file, options.fileBytes);
  const data = new Uint8Array(Math.min(options.dataBytes, h.dataBytes));
  if (!await readFull(file, data)) throw new SnapshotFileError("file ends in its data");
  return { metadata: decodeSnapshotMetadata(meta), data };
}

/** Reads and checks a whole snapshot file, keeping its data. */
export async function readSnapshotFile(
  file: Deno.FsFile,
  options: ReadOptions,
): Promise<Snapshot> {
  let data = new Uint8Array(0);
  const { metadata } = await scanSnapshotFile(file, {
    ...options,
    dataBuffer: (dataBytes) => {
      data = new Uint8Array(dataBytes);
      return (offset, length) => data.subarray(offset, offset + length);
    },
  });
  return { data, metadata };
}

/**
 * Reads and checks a whole snapshot file through one slice-sized buffer, keeping nothing: the
 * read-back of a save. Returns the metadata and CRC it found.
 */
export async function checkSnapshotFile(
  file: Deno.FsFile,
  options: ReadOptions,
): Promise<{ metadata: SnapshotMetadata; crc: number }> {
  return await scanSnapshotFile(file, {
    ...options,
    dataBuffer: (dataBytes) => {
      const scratch = new Uint8Array(Math.min(options.sliceBytes, dataBytes));
      return (_offset, length) => scratch.subarray(0, length);
    },
  });
}
