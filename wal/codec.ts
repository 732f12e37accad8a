/**
 * Payload encodings of the WAL record types. Integers are little-endian; 64-bit fields hold safe
 * integers (below 2^53) as two 32-bit halves.
 */
import type { Entry, EntryType, HardState } from "../raft/types.ts";
import { assert } from "./assert.ts";
import { RECORD_PAYLOAD_BYTES_MAX } from "./record.ts";

export interface WalMetadata {
  nodeId: number;
  clusterId: string;
}

export interface WalSnapshotMarker {
  index: number;
  term: number;
}

/** Longest cluster id, in UTF-8 bytes. */
export const CLUSTER_ID_BYTES_MAX = 1024;
/** Fixed part of an entry payload: term, index, type. */
export const ENTRY_FIXED_BYTES = 17;
export const ENTRY_DATA_BYTES_MAX = RECORD_PAYLOAD_BYTES_MAX - ENTRY_FIXED_BYTES;
export const HARD_STATE_BYTES = 24;
export const SNAPSHOT_MARKER_BYTES = 16;
export const CRC_SEED_BYTES = 4;

const TWO_32 = 2 ** 32;

/** Thrown by the decoders for a payload that passed its CRC but cannot be right. */
export class PayloadError extends Error {}

export function putU64(view: DataView, offset: number, n: number): void {
  assert(Number.isSafeInteger(n) && n >= 0, `u64 field must be a non-negative safe integer: ${n}`);
  view.setUint32(offset, n >>> 0, true);
  view.setUint32(offset + 4, Math.floor(n / TWO_32), true);
}

export function getU64(view: DataView, offset: number): number {
  const lo = view.getUint32(offset, true);
  const hi = view.getUint32(offset + 4, true);
  if (hi > 0x1fffff) throw new PayloadError("64-bit field beyond the safe integer range");
  return hi * TWO_32 + lo;
}

function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeMetadata(m: WalMetadata): Uint8Array {
  const id = encoder.encode(m.clusterId);
  if (id.length > CLUSTER_ID_BYTES_MAX) {
    throw new RangeError(`Cluster id is ${id.length} bytes, over ${CLUSTER_ID_BYTES_MAX}`);
  }
  const out = new Uint8Array(8 + id.length);
  putU64(viewOf(out), 0, m.nodeId);
  out.set(id, 8);
  return out;
}

export function decodeMetadata(p: Uint8Array): WalMetadata {
  if (p.length < 8 || p.length > 8 + CLUSTER_ID_BYTES_MAX) {
    throw new PayloadError("metadata record of impossible size");
  }
  const nodeId = getU64(viewOf(p), 0);
  let clusterId: string;
  try {
    clusterId = decoder.decode(p.subarray(8));
  } catch {
    throw new PayloadError("metadata cluster id is not UTF-8");
  }
  return { nodeId, clusterId };
}

/** Writes the payload of an entry record at `offset` of `view`; returns its size. */
export function writeEntry(view: DataView, buf: Uint8Array, offset: number, e: Entry): number {
  putU64(view, offset, e.term);
  putU64(view, offset + 8, e.index);
  view.setUint8(offset + 16, e.type);
  buf.set(e.data, offset + ENTRY_FIXED_BYTES);
  return ENTRY_FIXED_BYTES + e.data.length;
}

/**
 * Checks an entry's fixed fields and decodes it, copying `data` so the segment's buffer can be
 * dropped; or, when its index is at or before `skipThrough`, returns undefined without copying
 * anything: a reader checks the entries it skips (before the snapshot, or all of them when it only
 * looks for markers) at the cost of the header alone.
 */
export function decodeEntryAfter(p: Uint8Array, skipThrough: number): Entry | undefined {
  if (p.length < ENTRY_FIXED_BYTES) throw new PayloadError("entry record too short");
  const view = viewOf(p);
  const term = getU64(view, 0);
  const index = getU64(view, 8);
  const type = view.getUint8(16);
  if (type !== 0 && type !== 1) throw new PayloadError(`unknown entry type ${type}`);
  if (index === 0) throw new PayloadError("entry with index 0");
  if (index <= skipThrough) return undefined;
  return { term, index, type: type as EntryType, data: p.slice(ENTRY_FIXED_BYTES) };
}

/** Decodes an entry; `data` is copied so the segment's buffer can be dropped. */
export function decodeEntry(p: Uint8Array): Entry {
  return decodeEntryAfter(p, 0)!; // Index 0 is refused above, so never undefined.
}

export function writeHardState(view: DataView, offset: number, hs: HardState): number {
  putU64(view, offset, hs.term);
  putU64(view, offset + 8, hs.vote);
  putU64(view, offset + 16, hs.commit);
  return HARD_STATE_BYTES;
}

export function decodeHardState(p: Uint8Array): HardState {
  if (p.length !== HARD_STATE_BYTES) throw new PayloadError("hard state record of wrong size");
  const view = viewOf(p);
  return { term: getU64(view, 0), vote: getU64(view, 8), commit: getU64(view, 16) };
}

export function writeSnapshotMarker(view: DataView, offset: number, s: WalSnapshotMarker): number {
  putU64(view, offset, s.index);
  putU64(view, offset + 8, s.term);
  return SNAPSHOT_MARKER_BYTES;
}

export function decodeSnapshotMarker(p: Uint8Array): WalSnapshotMarker {
  if (p.length !== SNAPSHOT_MARKER_BYTES) throw new PayloadError("snapshot record of wrong size");
  const view = viewOf(p);
  return { index: getU64(view, 0), term: getU64(view, 8) };
}
