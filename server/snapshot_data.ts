/**
 * What a raftkv snapshot holds: the member table and the key-value store, at one applied index.
 *
 * Layout: "RKVN" | version u8 | members length u32 BE | members (UTF-8 JSON, small) | store bytes.
 * The snapshot file around it carries its own CRC (snap/); the store validates its own bytes.
 */
import { Members } from "./members.ts";

const MAGIC = [0x52, 0x4b, 0x56, 0x4e]; // "RKVN"
const VERSION = 1;
const HEADER_BYTES = 9;

export class SnapshotDataError extends Error {
  override name = "SnapshotDataError";
}

/** Bytes copied between two yields to the event loop: a few milliseconds of work. */
const COPY_SLICE_BYTES = 8 * 1024 * 1024;

/**
 * Lays out a snapshot. The store's bytes can be hundreds of megabytes, so they are copied a slice
 * at a time, letting heartbeats and requests run in between.
 */
export async function encodeSnapshotData(members: Members, store: Uint8Array): Promise<Uint8Array> {
  const membersBytes = new TextEncoder().encode(JSON.stringify(members.toJSON()));
  const out = new Uint8Array(HEADER_BYTES + membersBytes.length + store.length);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  new DataView(out.buffer).setUint32(5, membersBytes.length);
  out.set(membersBytes, HEADER_BYTES);
  const base = HEADER_BYTES + membersBytes.length;
  for (let at = 0; at < store.length; at += COPY_SLICE_BYTES) {
    if (at > 0) await new Promise((resolve) => setTimeout(resolve, 0));
    out.set(store.subarray(at, at + COPY_SLICE_BYTES), base + at);
  }
  return out;
}

export function decodeSnapshotData(data: Uint8Array): { members: Members; store: Uint8Array } {
  if (data.length < HEADER_BYTES || MAGIC.some((byte, i) => data[i] !== byte)) {
    throw new SnapshotDataError("Cannot read snapshot data: not a raftkv snapshot");
  }
  if (data[4] !== VERSION) {
    throw new SnapshotDataError(`Cannot read snapshot data: unknown version ${data[4]}`);
  }
  const membersLength = new DataView(data.buffer, data.byteOffset).getUint32(5);
  if (HEADER_BYTES + membersLength > data.length) {
    throw new SnapshotDataError("Cannot read snapshot data: member table runs past the end");
  }
  const membersBytes = data.subarray(HEADER_BYTES, HEADER_BYTES + membersLength);
  let members: Members;
  try {
    members = Members.fromJSON(JSON.parse(new TextDecoder().decode(membersBytes)));
  } catch (error) {
    throw new SnapshotDataError(`Cannot read snapshot data: ${(error as Error).message}`);
  }
  return { members, store: data.subarray(HEADER_BYTES + membersLength) };
}
