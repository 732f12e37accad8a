/**
 * Encodes a batch of records into one buffer, so that a `save` is one write loop and one sync.
 */
import type { Entry, HardState } from "../raft/types.ts";
import { assert } from "./assert.ts";
import {
  CRC_SEED_BYTES,
  encodeMetadata,
  ENTRY_DATA_BYTES_MAX,
  ENTRY_FIXED_BYTES,
  HARD_STATE_BYTES,
  SNAPSHOT_MARKER_BYTES,
  type WalMetadata,
  type WalSnapshotMarker,
  writeEntry,
  writeHardState,
  writeSnapshotMarker,
} from "./codec.ts";
import { frameRecord, HEADER_BYTES, recordBytes, RecordType } from "./record.ts";

/** Largest batch one `save` may encode: 512 MiB. */
export const BATCH_BYTES_MAX = 512 * 1024 * 1024;

/** Records in the order they are written: seed, metadata, entries, hard state, snapshot marker. */
export interface BatchInput {
  /** Starts a segment: the CRC the previous segment ended with. */
  seed?: number;
  metadata?: WalMetadata;
  entries?: readonly Entry[];
  hardState?: HardState;
  marker?: WalSnapshotMarker;
}

export interface EncodedBatch {
  bytes: Uint8Array;
  /** CRC of the batch's last record. */
  crc: number;
}

/**
 * Encodes `input` chaining from `prevCrc`. With `scratch` large enough, the result is a view of it
 * (every byte rewritten), valid until the next call with the same scratch buffer.
 */
export function encodeBatch(
  input: BatchInput,
  prevCrc: number,
  scratch?: Uint8Array,
): EncodedBatch {
  const entries = input.entries ?? [];
  const meta = input.metadata ? encodeMetadata(input.metadata) : undefined;
  let size = 0;
  if (input.seed !== undefined) size += recordBytes(CRC_SEED_BYTES);
  if (meta) size += recordBytes(meta.length);
  for (const e of entries) {
    if (e.data.length > ENTRY_DATA_BYTES_MAX) {
      throw new RangeError(
        `Cannot save entry ${e.index}: ${e.data.length} bytes is over the ${ENTRY_DATA_BYTES_MAX} limit`,
      );
    }
    size += recordBytes(ENTRY_FIXED_BYTES + e.data.length);
  }
  if (input.hardState) size += recordBytes(HARD_STATE_BYTES);
  if (input.marker) size += recordBytes(SNAPSHOT_MARKER_BYTES);
  if (size > BATCH_BYTES_MAX) {
    throw new RangeError(`Cannot save a batch of ${size} bytes: over the ${BATCH_BYTES_MAX} limit`);
  }

  const bytes = scratch && scratch.length >= size
    ? scratch.subarray(0, size)
    : new Uint8Array(size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  let crc = prevCrc;
  const frame = (type: RecordType, payloadBytes: number) => {
    crc = frameRecord(bytes, view, off, { type, payloadBytes, prevCrc: crc });
    off += recordBytes(payloadBytes);
  };
  if (input.seed !== undefined) {
    view.setUint32(off + HEADER_BYTES, input.seed, true);
    // A seed record's own CRC starts from 0; the chain continues from its value.
    frameRecord(bytes, view, off, {
      type: RecordType.CrcSeed,
      payloadBytes: CRC_SEED_BYTES,
      prevCrc: 0,
    });
    crc = input.seed;
    off += recordBytes(CRC_SEED_BYTES);
  }
  if (meta) {
    bytes.set(meta, off + HEADER_BYTES);
    frame(RecordType.Metadata, meta.length);
  }
  for (const e of entries) {
    frame(RecordType.Entry, writeEntry(view, bytes, off + HEADER_BYTES, e));
  }
  if (input.hardState) {
    frame(RecordType.HardState, writeHardState(view, off + HEADER_BYTES, input.hardState));
  }
  if (input.marker) {
    frame(RecordType.Snapshot, writeSnapshotMarker(view, off + HEADER_BYTES, input.marker));
  }
  assert(off === size, "batch filled exactly");
  return { bytes, crc };
}
