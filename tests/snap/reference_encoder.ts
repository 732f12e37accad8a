/**
 * The one-shot snapshot encoder as it was before saves were streamed in slices (snap/ at commit
 * e1bf8ae, its limit checks and assertions left out), for format version 1 (CRC-32C) and version 2
 * (the same layout with zlib's CRC-32). A streamed save must write the same bytes as this.
 */
import type { ConfState, Snapshot } from "../../raft/types.ts";
import { putU64 } from "../../wal/codec.ts";
import { crc32c } from "../../wal/crc32c.ts";
import { crc32 } from "node:zlib";

const MAGIC = new TextEncoder().encode("RKVSNAP\0");
const SNAPSHOT_HEADER_BYTES = 32;

function confStateBytes(cs: ConfState): number {
  let n = 1;
  for (const l of [cs.voters, cs.learners, cs.votersOutgoing, cs.learnersNext]) {
    n += 4 + 8 * l.length;
  }
  return n;
}

export function encodeSnapshotFileReference(snap: Snapshot, version: 1 | 2 = 2): Uint8Array {
  const { metadata, data } = snap;
  const cs = metadata.confState;
  const metaBytes = 16 + confStateBytes(cs);
  const total = SNAPSHOT_HEADER_BYTES + metaBytes + data.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint32(8, version, true);
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
  out.set(data, off);
  const crc = version === 1
    ? crc32c(out.subarray(SNAPSHOT_HEADER_BYTES), crc32c(out.subarray(0, 24)))
    : crc32(out.subarray(SNAPSHOT_HEADER_BYTES), crc32(out.subarray(0, 24)));
  view.setUint32(24, crc, true);
  return out;
}
