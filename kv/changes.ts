/**
 * A change set: the keys written between two applied indexes, each with its value as of the later
 * one, or a tombstone. `KvStore.takeChanges()` (or `takeChangesAsync()`) encodes one,
 * `KvStore.applyChanges()` replays it over the state as of the earlier index. A snapshot of a
 * large store is then a full image taken now and then plus the change sets since it (see
 * server/snapshot_chain.ts): each costs what was written since the last one, not the size of the
 * store.
 *
 * Format (big-endian):
 *
 *   0   4  magic "RKVC"
 *   4   1  version (1)
 *   5   3  zero
 *   8   8  fromIndex (u64, safe integer): the applied index the changes start from
 *   16  8  toIndex (u64, safe integer, >= fromIndex): the applied index after them
 *   24  8  count of keys (u64, safe integer)
 *   32  .. count x { u16 key length (1..4096), u8 kind (0 put, 1 delete), u64 revision,
 *                    u32 value length, key, value }
 *   end-4  CRC-32 (zlib) of every byte before it
 *
 * A put's revision lies in (fromIndex, toIndex]; a delete has revision 0 and no value. Each key
 * appears once.
 */
import { Buffer } from "node:buffer";
import { crc32 } from "node:zlib";
import { COMMAND_VALUE_BYTES_MAX, KEY_BYTES_MAX } from "./command.ts";
import { checkFrame } from "./framing.ts";
import { KeyTable } from "./key_table.ts";
import { writeBinary } from "./keys.ts";
import { assert, setU64, TWO_32, type Version } from "./snapshot_job.ts";
import type { ValueArena } from "./value_arena.ts";

const MAGIC = 0x524b5643; // "RKVC"
const VERSION = 1;
const HEADER_BYTES = 32;
const ITEM_HEADER_BYTES = 15;
const KIND_PUT = 0;
const KIND_DELETE = 1;

/** A change set given to `applyChanges` is malformed or does not follow the store's state. */
export class KvChangesCorruptError extends Error {
  override name = "KvChangesCorruptError";
}

/** One change of a store: `version` undefined for a delete. */
export interface KeyChange {
  key: string;
  version: Version | undefined;
}

/** Changes captured from a store, to encode: the refs name records of `values`. */
export interface CapturedChanges {
  fromIndex: number;
  toIndex: number;
  changes: KeyChange[];
  values: ValueArena;
  /** Ends the hold on `values` that keeps the records; called once they are encoded. */
  release: () => void;
}

/** One change read from a change set: `version` undefined for a delete. */
export interface DecodedChange {
  key: string;
  /** The value is a view into the change set's bytes. */
  version: { value: Uint8Array; revision: number } | undefined;
}

export interface DecodedChanges {
  fromIndex: number;
  toIndex: number;
  changes: DecodedChange[];
}

/**
 * The changes from `fromIndex` to `toIndex`: each key with its version as of `toIndex`, as refs
 * into `values`, which the caller has held (`ValueArena.hold`, ended by `release`) so that the
 * store may go on changing before they are encoded.
 */
export function captureChanges(
  fromIndex: number,
  toIndex: number,
  changes: KeyChange[],
  held: { values: ValueArena; release: () => void },
): CapturedChanges {
  assert(fromIndex <= toIndex, `changes from ${fromIndex} to ${toIndex}`);
  for (const { version } of changes) {
    assert(
      version === undefined || (version.revision > fromIndex && version.revision <= toIndex),
      `change at revision ${version?.revision} outside (${fromIndex}, ${toIndex}]`,
    );
  }
  return { fromIndex, toIndex, changes, values: held.values, release: held.release };
}

/** Keys encoded between yields to the event loop by `encodeChangesAsync`: about a millisecond. */
const ENCODE_SLICE_ITEMS = 1000;

/** Encodes captured changes (format above) in one go, then releases them. */
export function encodeChanges(captured: CapturedChanges): Uint8Array {
  try {
    const encoding = startEncoding(captured, 0);
    encoding.step(Infinity);
    return encoding.framed;
  } finally {
    captured.release();
  }
}

/**
 * `encodeChanges` in slices, yielding to the event loop between them. With `headroom`, the
 * change set starts that many (zero) bytes into the returned buffer, for the caller's header.
 */
export async function encodeChangesAsync(
  captured: CapturedChanges,
  options?: { headroom?: number | undefined },
): Promise<Uint8Array> {
  try {
    const encoding = startEncoding(captured, options?.headroom ?? 0);
    while (!encoding.step(ENCODE_SLICE_ITEMS)) {
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return encoding.framed;
  } finally {
    captured.release();
  }
}

function startEncoding(
  captured: CapturedChanges,
  headroom: number,
): { framed: Uint8Array; step: (itemsMax: number) => boolean } {
  assert(Number.isSafeInteger(headroom) && headroom >= 0, `headroom ${headroom}`);
  const { fromIndex, toIndex, changes: items, values } = captured;
  let bytes = HEADER_BYTES + 4;
  for (const { key, version } of items) {
    bytes += ITEM_HEADER_BYTES + key.length +
      (version === undefined ? 0 : values.length(version.ref));
  }
  const framed = new Uint8Array(headroom + bytes);
  const out = framed.subarray(headroom);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(0, MAGIC);
  out[4] = VERSION;
  setU64(view, 8, fromIndex);
  setU64(view, 16, toIndex);
  setU64(view, 24, items.length);
  let at = HEADER_BYTES;
  let next = 0;
  const step = (itemsMax: number): boolean => {
    const end = Math.min(items.length, next + itemsMax);
    for (; next < end; next++) {
      const { key, version } = items[next]!;
      view.setUint16(at, key.length);
      out[at + 2] = version === undefined ? KIND_DELETE : KIND_PUT;
      setU64(view, at + 3, version?.revision ?? 0);
      const valueAt = at + 11;
      at += ITEM_HEADER_BYTES;
      at += writeBinary(out, key, at);
      const valueBytes = version === undefined ? 0 : values.copyTo(version.ref, out, at);
      view.setUint32(valueAt, valueBytes);
      at += valueBytes;
    }
    if (next < items.length) return false;
    assert(at === bytes - 4, `change set wrote ${at} bytes of ${bytes - 4}`);
    view.setUint32(at, crc32(out.subarray(0, at)));
    return true;
  };
  return { framed, step };
}

/** Decodes and checks a whole change set; throws `KvChangesCorruptError` naming what is wrong. */
export function decodeChanges(data: Uint8Array): DecodedChanges {
  const fail = (why: string): never => {
    throw new KvChangesCorruptError(`Cannot read KV change set of ${data.length} bytes: ${why}`);
  };
  const { view, end } = checkFrame(
    data,
    { magic: MAGIC, version: VERSION, headerBytes: HEADER_BYTES },
    fail,
  );
  const getU64 = (at: number): number => {
    const hi = view.getUint32(at);
    if (hi >= 2 ** 21) fail(`u64 at byte ${at} is not a safe integer`);
    return hi * TWO_32 + view.getUint32(at + 4);
  };
  const fromIndex = getU64(8);
  const toIndex = getU64(16);
  const count = getU64(24);
  if (toIndex < fromIndex) fail(`toIndex ${toIndex} is below fromIndex ${fromIndex}`);
  if (count > (end - HEADER_BYTES) / (ITEM_HEADER_BYTES + 1)) fail(`count ${count} cannot fit`);
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  // Not a Set of the keys: see key_table.ts.
  const seen = new KeyTable<string>((key) => key);
  const changes: DecodedChange[] = new Array(count);
  let at = HEADER_BYTES;
  for (let n = 0; n < count; n++) {
    if (at + ITEM_HEADER_BYTES > end) fail(`truncated at change ${n} (byte ${at})`);
    const keyBytes = view.getUint16(at);
    const kind = data[at + 2];
    const revision = getU64(at + 3);
    const valueBytes = view.getUint32(at + 11);
    if (keyBytes < 1 || keyBytes > KEY_BYTES_MAX) fail(`key ${n} has length ${keyBytes}`);
    if (valueBytes > COMMAND_VALUE_BYTES_MAX) fail(`value ${n} has length ${valueBytes}`);
    if (kind === KIND_PUT) {
      if (revision <= fromIndex || revision > toIndex) {
        fail(`key ${n} has revision ${revision} outside ${fromIndex + 1}..${toIndex}`);
      }
    } else if (kind === KIND_DELETE) {
      if (revision !== 0 || valueBytes !== 0) fail(`delete ${n} carries a revision or value`);
    } else {
      fail(`change ${n} has unknown kind ${kind}`);
    }
    at += ITEM_HEADER_BYTES;
    if (at + keyBytes + valueBytes > end) fail(`truncated at change ${n} (byte ${at})`);
    const key = buffer.toString("latin1", at, at + keyBytes);
    at += keyBytes;
    if (!seen.set(key)) fail(`key ${n} appears twice`);
    const version = kind === KIND_PUT
      ? { value: data.subarray(at, at + valueBytes), revision }
      : undefined;
    at += valueBytes;
    changes[n] = { key, version };
  }
  if (at !== end) fail(`${end - at} bytes follow the last change`);
  return { fromIndex, toIndex, changes };
}
