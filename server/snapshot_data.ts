/**
 * What a raftkv snapshot holds: the member table and the key-value store at one applied index,
 * either as a whole image of the store, or as the store's changes since an earlier snapshot (its
 * `previous`, named by index and term; see snapshot_chain.ts).
 *
 * Layout, version 2 (big-endian):
 *   "RKVN" | version u8 (2) | kind u8 (0 image, 1 changes) | previous index u64 | previous term u64
 *   | members length u32 | members (UTF-8 JSON, small) | store bytes (an image or a change set)
 * Version 1, still read: "RKVN" | 1 | members length u32 | members | store image.
 *
 * The snapshot file around it carries its own CRC (snap/); the store validates its own bytes.
 */
import { verifyKvImage } from "../kv/mod.ts";
import { Members } from "./members.ts";

const MAGIC = [0x52, 0x4b, 0x56, 0x4e]; // "RKVN"
const VERSION = 2;
const HEADER_BYTES = 26;
const V1_HEADER_BYTES = 9;
const KIND_IMAGE = 0;
const KIND_CHANGES = 1;

/** A snapshot named by its index and term, like its file and its WAL marker. */
export interface SnapshotLink {
  index: number;
  term: number;
}

export interface SnapshotData {
  members: Members;
  /** A store image, or a change set when `previous` is set. */
  store: Uint8Array;
  /** For a change set: the snapshot it applies over. */
  previous: SnapshotLink | undefined;
}

export class SnapshotDataError extends Error {
  override name = "SnapshotDataError";
}

/**
 * The bytes before the store's in a snapshot's data: header and member table. A caller asks the
 * store for an image or change set with this much `headroom` and writes these bytes into it, so
 * that a store of hundreds of MB is not copied to put a header in front.
 */
export function snapshotDataPrefix(
  members: Members,
  options?: { previous?: SnapshotLink | undefined },
): Uint8Array {
  const membersBytes = new TextEncoder().encode(JSON.stringify(members.toJSON()));
  const out = new Uint8Array(HEADER_BYTES + membersBytes.length);
  const view = new DataView(out.buffer);
  const previous = options?.previous;
  out.set(MAGIC, 0);
  out[4] = VERSION;
  out[5] = previous === undefined ? KIND_IMAGE : KIND_CHANGES;
  view.setBigUint64(6, BigInt(previous?.index ?? 0));
  view.setBigUint64(14, BigInt(previous?.term ?? 0));
  view.setUint32(22, membersBytes.length);
  out.set(membersBytes, HEADER_BYTES);
  return out;
}

/** Lays out a snapshot from its parts (a copy of `store`; the server uses the prefix instead). */
export function encodeSnapshotData(
  members: Members,
  store: Uint8Array,
  options?: { previous?: SnapshotLink },
): Uint8Array {
  const prefix = snapshotDataPrefix(members, options);
  const out = new Uint8Array(prefix.length + store.length);
  out.set(prefix, 0);
  out.set(store, prefix.length);
  return out;
}

/** Bytes at the start of a snapshot's data that hold its kind and the snapshot it follows. */
export const SNAPSHOT_DATA_HEAD_BYTES = HEADER_BYTES;

/**
 * The snapshot a change set follows, or undefined for an image, from the first
 * `SNAPSHOT_DATA_HEAD_BYTES` of a snapshot's data (or all of it, when shorter).
 */
export function decodeSnapshotPrevious(head: Uint8Array): SnapshotLink | undefined {
  return decodeHeader(head).previous;
}

export function decodeSnapshotData(data: Uint8Array): SnapshotData {
  const { headerBytes, membersLength, previous } = decodeHeader(data);
  if (headerBytes + membersLength > data.length) fail("member table runs past the end");
  const membersBytes = data.subarray(headerBytes, headerBytes + membersLength);
  let members: Members;
  try {
    members = Members.fromJSON(JSON.parse(new TextDecoder().decode(membersBytes)));
  } catch (error) {
    throw new SnapshotDataError(`Cannot read snapshot data: ${(error as Error).message}`);
  }
  return { members, store: data.subarray(headerBytes + membersLength), previous };
}

function fail(why: string): never {
  throw new SnapshotDataError(`Cannot read snapshot data: ${why}`);
}

function decodeHeader(
  data: Uint8Array,
): { headerBytes: number; membersLength: number; previous: SnapshotLink | undefined } {
  if (data.length < V1_HEADER_BYTES || MAGIC.some((byte, i) => data[i] !== byte)) {
    fail("not a raftkv snapshot");
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data[4] === 1) {
    return { headerBytes: V1_HEADER_BYTES, membersLength: view.getUint32(5), previous: undefined };
  }
  if (data[4] !== VERSION) fail(`unknown version ${data[4]}`);
  if (data.length < HEADER_BYTES) fail("shorter than its header");
  const index = Number(view.getBigUint64(6));
  const term = Number(view.getBigUint64(14));
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(term)) {
    fail("previous snapshot index or term is not a safe integer");
  }
  let previous: SnapshotLink | undefined;
  if (data[5] === KIND_CHANGES) {
    if (index < 1 || term < 1) fail("a change set without the snapshot it follows");
    previous = { index, term };
  } else if (data[5] !== KIND_IMAGE) {
    fail(`unknown kind ${data[5]}`);
  }
  return { headerBytes: HEADER_BYTES, membersLength: view.getUint32(22), previous };
}

/**
 * Throws `SnapshotDataError` unless `data` is a whole image (not a change set) whose store bytes
 * pass their CRC: what a follower checks before raft accepts a snapshot from the leader.
 */
export function checkSnapshotImage(data: Uint8Array | undefined): void {
  if (data === undefined) throw new SnapshotDataError("Cannot read snapshot data: none");
  const decoded = decodeSnapshotData(data);
  if (decoded.previous !== undefined) {
    throw new SnapshotDataError("Cannot install snapshot data: a change set, not an image");
  }
  try {
    verifyKvImage(decoded.store);
  } catch (error) {
    throw new SnapshotDataError(`Cannot install snapshot data: ${(error as Error).message}`);
  }
}

/**
 * Frees the memory behind `bytes` now: detaches its ArrayBuffer, which V8 otherwise frees only at
 * a full garbage collection, so a node that just wrote or loaded a snapshot of hundreds of MB
 * kept it resident until then. Every view of that ArrayBuffer becomes empty: only for buffers the
 * caller allocated and nothing else holds.
 */
export function releaseSnapshotBytes(bytes: Uint8Array): void {
  if (bytes.buffer instanceof ArrayBuffer && !bytes.buffer.detached) bytes.buffer.transfer(0);
}
