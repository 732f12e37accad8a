/**
 * The snapshot file format:
 *
 * ```
 * offset  0: magic "RKVSNAP\0" (8 bytes)
 * offset  8: u32 LE format version (1)
 * offset 12: u32 LE metadata length M
 * offset 16: u64 LE data length D (below 2^53)
 * offset 24: u32 LE CRC-32C of bytes 0..23, then of the M + D bytes after the header
 * offset 28: u32 zero
 * offset 32: metadata: u64 index, u64 term, then the ConfState: voters, learners,
 *            votersOutgoing, learnersNext, each a u32 count and that many u64 ids,
 *            then u8 autoLeave
 * offset 32 + M: the state machine's data (D bytes)
 * ```
 */
import type { ConfState, Snapshot } from "../raft/types.ts";
import { assert } from "../wal/assert.ts";
import { getU64, putU64 } from "../wal/codec.ts";
import { crc32c } from "../wal/crc32c.ts";

const MAGIC = new TextEncoder().encode("RKVSNAP\0");
export const SNAPSHOT_FORMAT_VERSION = 1;
export const SNAPSHOT_HEADER_BYTES = 32;
/** Members listed in one ConfState list. */
export const CONF_STATE_IDS_MAX = 65_536;
/** Largest snapshot file written or read: 1 GiB. */
export const SNAPSHOT_FILE_BYTES_MAX = 1024 * 1024 * 1024;

/** A snapshot file that cannot be used; the Snapshotter skips it with a warning. */
export class SnapshotFileError extends Error {}

function confStateBytes(cs: ConfState): number {
  const lists = [cs.voters, cs.learners, cs.votersOutgoing, cs.learnersNext];
  let n = 1;
  for (const l of lists) {
    if (l.length > CONF_STATE_IDS_MAX) {
      throw new RangeError(`ConfState list of ${l.length} ids is over ${CONF_STATE_IDS_MAX}`);
    }
    n += 4 + 8 * l.length;
  }
  return n;
}

export function encodeSnapshotFile(snap: Snapshot): Uint8Array {
  const { metadata, data } = snap;
  const cs = metadata.confState;
  const metaBytes = 16 + confStateBytes(cs);
  const total = SNAPSHOT_HEADER_BYTES + metaBytes + data.length;
  if (total > SNAPSHOT_FILE_BYTES_MAX) {
    throw new RangeError(`Snapshot of ${total} bytes is over the ${SNAPSHOT_FILE_BYTES_MAX} limit`);
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint32(8, SNAPSHOT_FORMAT_VERSION, true);
  view.setUint32(12, metaBytes, true);
  putU64(view, 16, data.length);
  let off = SNAPSHOT_HEADER_BYTES;
  putU64(view, off, metadata.index);
  putU64(view, off + 8, metadata.term);
  off += 16;
  for (const l of [cs.voters, cs.learners, cs.votersOutgoing, cs.learnersNext]) {
    view.setUint32(off, l.length, true);
    off += 4;
    for (const id of l) {
      putU64(view, off, id);
      off += 8;
    }
  }
  view.setUint8(off, cs.autoLeave ? 1 : 0);
  off += 1;
  assert(off === SNAPSHOT_HEADER_BYTES + metaBytes, "snapshot metadata size");
  out.set(data, off);
  view.setUint32(24, checksum(out), true);
  return out;
}

function checksum(file: Uint8Array): number {
  return crc32c(file.subarray(SNAPSHOT_HEADER_BYTES), crc32c(file.subarray(0, 24)));
}

/** True if the CRC stored in an encoded snapshot file matches its bytes. */
export function checksumMatches(file: Uint8Array): boolean {
  if (file.length < SNAPSHOT_HEADER_BYTES) return false;
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  return checksum(file) === view.getUint32(24, true);
}

export function decodeSnapshotFile(file: Uint8Array): Snapshot {
  if (file.length < SNAPSHOT_HEADER_BYTES) throw new SnapshotFileError("file shorter than header");
  for (let i = 0; i < MAGIC.length; i++) {
    if (file[i] !== MAGIC[i]) throw new SnapshotFileError("not a raftkv snapshot (bad magic)");
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const version = view.getUint32(8, true);
  if (version !== SNAPSHOT_FORMAT_VERSION) {
    throw new SnapshotFileError(`unknown format version ${version}`);
  }
  if (view.getUint32(28, true) !== 0) throw new SnapshotFileError("non-zero reserved header bytes");
  const metaBytes = view.getUint32(12, true);
  let dataBytes: number;
  try {
    dataBytes = getU64(view, 16);
  } catch {
    throw new SnapshotFileError("impossible data length");
  }
  if (SNAPSHOT_HEADER_BYTES + metaBytes + dataBytes !== file.length) {
    throw new SnapshotFileError(
      `file is ${file.length} bytes, header says ${SNAPSHOT_HEADER_BYTES + metaBytes + dataBytes}`,
    );
  }
  if (checksum(file) !== view.getUint32(24, true)) throw new SnapshotFileError("CRC mismatch");
  try {
    let off = SNAPSHOT_HEADER_BYTES;
    const index = getU64(view, off);
    const term = getU64(view, off + 8);
    off += 16;
    const lists: number[][] = [];
    for (let k = 0; k < 4; k++) {
      const count = view.getUint32(off, true);
      off += 4;
      if (count > CONF_STATE_IDS_MAX) throw new SnapshotFileError("ConfState list too long");
      const ids: number[] = [];
      for (let i = 0; i < count; i++) {
        ids.push(getU64(view, off));
        off += 8;
      }
      lists.push(ids);
    }
    const autoLeave = view.getUint8(off) === 1;
    off += 1;
    if (off !== SNAPSHOT_HEADER_BYTES + metaBytes) {
      throw new SnapshotFileError("metadata length mismatch");
    }
    const [voters, learners, votersOutgoing, learnersNext] = lists as [
      number[],
      number[],
      number[],
      number[],
    ];
    return {
      data: file.slice(off),
      metadata: {
        index,
        term,
        confState: { voters, learners, votersOutgoing, learnersNext, autoLeave },
      },
    };
  } catch (e) {
    if (e instanceof SnapshotFileError) throw e;
    // A DataView read past the metadata, or an out-of-range u64.
    throw new SnapshotFileError(`impossible metadata (${e instanceof Error ? e.message : e})`);
  }
}
