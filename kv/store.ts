/**
 * `KvStore`: the replicated state machine. It is deterministic: the same entries applied in the
 * same order give the same state on every node. A key's revision is the raft log index of the
 * entry that last wrote it; `appliedIndex` is the index of the last entry applied.
 *
 * Keys live in a Map keyed by binary strings (see keys.ts) for O(1) point reads and writes, and in
 * a `SortedKeys` chunked sorted list for byte-ordered prefix ranges.
 *
 * Snapshot format (big-endian), written in key order:
 *
 *   0   4  magic "RKVS"
 *   4   1  version (1)
 *   5   3  zero
 *   8   8  appliedIndex (u64, safe integer)
 *   16  8  count of keys (u64, safe integer)
 *   24  .. count x { u16 key length (1..4096), u64 revision, u32 value length, key, value }
 *   end-4  CRC-32 (zlib) of every byte before it
 *
 * Restore checks the magic, version, CRC, every length, that keys ascend strictly and that no
 * revision exceeds appliedIndex, and changes nothing unless all of it holds.
 */
import { crc32 } from "node:zlib";
import { COMMAND_VALUE_BYTES_MAX, KEY_BYTES_MAX, type KvCommand } from "./command.ts";
import { binaryToBytes, bytesToBinary } from "./keys.ts";
import { SortedKeys } from "./sorted_keys.ts";

export type KvResult =
  | { ok: true; revision: number; deleted?: true }
  | { ok: false; code: "precondition_failed" | "not_found"; currentRevision: number };

export interface StoredValue {
  /** Shared with the store: do not modify. */
  value: Uint8Array;
  revision: number;
}

export interface RangeItem {
  key: Uint8Array;
  /** Shared with the store: do not modify. */
  value: Uint8Array;
  revision: number;
}

export interface RangeResult {
  items: RangeItem[];
  more: boolean;
}

/** A snapshot given to `restore` is malformed; the store is unchanged. */
export class KvSnapshotCorruptError extends Error {
  override name = "KvSnapshotCorruptError";
}

export const RANGE_LIMIT_MAX = 100_000;
/** Default bound on the value bytes one range returns (at least one item is always returned). */
export const RANGE_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;

const SNAPSHOT_MAGIC = 0x524b5653; // "RKVS"
const SNAPSHOT_VERSION = 1;
const SNAPSHOT_HEADER_BYTES = 24;
const SNAPSHOT_ITEM_HEADER_BYTES = 14;
const TWO_32 = 2 ** 32;

function assert(cond: boolean, message: string): asserts cond {
  if (!cond) throw new Error(`Invariant violated: ${message}`);
}

function setU64(view: DataView, at: number, n: number): void {
  view.setUint32(at, Math.floor(n / TWO_32));
  view.setUint32(at + 4, n % TWO_32);
}

export class KvStore {
  #map = new Map<string, StoredValue>();
  #sorted = new SortedKeys();
  #appliedIndex = 0;
  #rangeBytesMax: number;

  constructor(options?: { rangeBytesMax?: number }) {
    this.#rangeBytesMax = options?.rangeBytesMax ?? RANGE_BYTES_MAX_DEFAULT;
    if (!(this.#rangeBytesMax >= 1)) throw new RangeError("rangeBytesMax must be >= 1");
  }

  /** The raft index of the last entry applied (or restored from a snapshot). */
  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** The number of keys. */
  get size(): number {
    return this.#map.size;
  }

  /**
   * Applies the KV command of entry `index` (which must be above `appliedIndex`). Takes ownership
   * of `cmd.key` and `cmd.value` (decodeCommand returns fresh copies). A failed condition or a
   * delete of an absent key changes nothing but `appliedIndex`.
   */
  apply(index: number, cmd: KvCommand): KvResult {
    assert(
      Number.isSafeInteger(index) && index > this.#appliedIndex,
      `apply(${index}) after appliedIndex ${this.#appliedIndex}`,
    );
    assert(
      cmd.key.length >= 1 && cmd.key.length <= KEY_BYTES_MAX,
      `key of ${cmd.key.length} bytes`,
    );
    this.#appliedIndex = index;
    const key = bytesToBinary(cmd.key);
    const current = this.#map.get(key);
    const currentRevision = current?.revision ?? 0;
    const c = cmd.condition;
    if (c !== undefined) {
      let holds: boolean;
      if ("ifNoneMatch" in c) holds = current === undefined;
      else if (current === undefined) holds = false;
      else if (c.ifMatch === "*") holds = true;
      else if (typeof c.ifMatch === "number") holds = c.ifMatch === currentRevision;
      else holds = c.ifMatch.includes(currentRevision);
      if (!holds) {
        // A delete of an absent key is "not found", whatever its condition.
        if (cmd.op === "delete" && current === undefined && "ifNoneMatch" in c) {
          return { ok: false, code: "not_found", currentRevision: 0 };
        }
        return { ok: false, code: "precondition_failed", currentRevision };
      }
    }
    if (cmd.op === "put") {
      assert(cmd.value !== undefined, "put without a value");
      this.#map.set(key, { value: cmd.value, revision: index });
      if (current === undefined) this.#sorted.add(key);
      return { ok: true, revision: index };
    }
    assert(cmd.op === "delete", `unknown op ${String(cmd.op)}`);
    if (current === undefined) return { ok: false, code: "not_found", currentRevision: 0 };
    this.#map.delete(key);
    const removed = this.#sorted.delete(key);
    assert(removed, "a key in the map was missing from the sorted index");
    return { ok: true, revision: index, deleted: true };
  }

  /** Records that entry `index` carried no KV command (empty entry, conf change). */
  advanceTo(index: number): void {
    assert(
      Number.isSafeInteger(index) && index > this.#appliedIndex,
      `advanceTo(${index}) after appliedIndex ${this.#appliedIndex}`,
    );
    this.#appliedIndex = index;
  }

  get(key: Uint8Array): StoredValue | undefined {
    return this.#map.get(bytesToBinary(key));
  }

  /**
   * Up to `limit` keys that start with `prefix`, in byte order, stopping early once the values
   * returned reach `bytesMax` (at least one item is returned). `more` says whether keys with the
   * prefix follow the last item.
   */
  range(prefix: Uint8Array, limit: number, options?: { bytesMax?: number }): RangeResult {
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > RANGE_LIMIT_MAX) {
      throw new RangeError(`Range limit ${limit} is not an integer in 1..${RANGE_LIMIT_MAX}`);
    }
    const bytesMax = options?.bytesMax ?? this.#rangeBytesMax;
    const p = bytesToBinary(prefix);
    const items: RangeItem[] = [];
    let bytes = 0;
    let more = false;
    for (const key of this.#sorted.from(p)) {
      if (!key.startsWith(p)) break;
      if (items.length >= limit || (items.length > 0 && bytes >= bytesMax)) {
        more = true;
        break;
      }
      const stored = this.#map.get(key);
      assert(stored !== undefined, "a key in the sorted index was missing from the map");
      items.push({ key: binaryToBytes(key), value: stored.value, revision: stored.revision });
      bytes += stored.value.length;
    }
    return { items, more };
  }

  /** The whole state as bytes (format above). */
  snapshot(): Uint8Array {
    const chunks = this.#sorted.chunks();
    let total = SNAPSHOT_HEADER_BYTES + 4;
    for (const chunk of chunks) {
      for (const key of chunk) {
        total += SNAPSHOT_ITEM_HEADER_BYTES + key.length + this.#map.get(key)!.value.length;
      }
    }
    const out = new Uint8Array(total);
    const view = new DataView(out.buffer);
    view.setUint32(0, SNAPSHOT_MAGIC);
    out[4] = SNAPSHOT_VERSION;
    setU64(view, 8, this.#appliedIndex);
    setU64(view, 16, this.#map.size);
    let at = SNAPSHOT_HEADER_BYTES;
    let count = 0;
    for (const chunk of chunks) {
      for (const key of chunk) {
        const stored = this.#map.get(key)!;
        view.setUint16(at, key.length);
        setU64(view, at + 2, stored.revision);
        view.setUint32(at + 10, stored.value.length);
        at += SNAPSHOT_ITEM_HEADER_BYTES;
        for (let i = 0; i < key.length; i++) out[at + i] = key.charCodeAt(i);
        at += key.length;
        out.set(stored.value, at);
        at += stored.value.length;
        count++;
      }
    }
    assert(count === this.#map.size, `snapshot wrote ${count} keys of ${this.#map.size}`);
    assert(at === total - 4, `snapshot wrote ${at} bytes of ${total - 4}`);
    view.setUint32(at, crc32(out.subarray(0, at)));
    return out;
  }

  /**
   * Replaces the whole state with a snapshot's. Throws `KvSnapshotCorruptError` (and changes
   * nothing) when `data` is malformed. Values are copied out of `data`.
   */
  restore(data: Uint8Array): void {
    const fail = (why: string): never => {
      throw new KvSnapshotCorruptError(
        `Cannot restore KV snapshot of ${data.length} bytes: ${why}`,
      );
    };
    if (data.length < SNAPSHOT_HEADER_BYTES + 4) fail("shorter than its header");
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (view.getUint32(0) !== SNAPSHOT_MAGIC) fail("bad magic");
    if (data[4] !== SNAPSHOT_VERSION) fail(`unknown version ${data[4]}`);
    const end = data.length - 4;
    const stored = view.getUint32(end);
    const actual = crc32(data.subarray(0, end));
    if (stored !== actual) fail(`CRC mismatch (stored ${stored}, computed ${actual})`);
    const getU64 = (at: number): number => {
      const hi = view.getUint32(at);
      if (hi >= 2 ** 21) fail(`u64 at byte ${at} is not a safe integer`);
      return hi * TWO_32 + view.getUint32(at + 4);
    };
    const appliedIndex = getU64(8);
    const count = getU64(16);
    if (count > (end - SNAPSHOT_HEADER_BYTES) / (SNAPSHOT_ITEM_HEADER_BYTES + 1)) {
      fail(`count ${count} cannot fit`);
    }
    const map = new Map<string, StoredValue>();
    const keys: string[] = new Array(count);
    let at = SNAPSHOT_HEADER_BYTES;
    let previous = "";
    for (let n = 0; n < count; n++) {
      if (at + SNAPSHOT_ITEM_HEADER_BYTES > end) fail(`truncated at key ${n} (byte ${at})`);
      const keyBytes = view.getUint16(at);
      const revision = getU64(at + 2);
      const valueBytes = view.getUint32(at + 10);
      if (keyBytes < 1 || keyBytes > KEY_BYTES_MAX) fail(`key ${n} has length ${keyBytes}`);
      if (valueBytes > COMMAND_VALUE_BYTES_MAX) fail(`value ${n} has length ${valueBytes}`);
      if (revision < 1 || revision > appliedIndex) {
        fail(`key ${n} has revision ${revision} outside 1..${appliedIndex}`);
      }
      at += SNAPSHOT_ITEM_HEADER_BYTES;
      if (at + keyBytes + valueBytes > end) fail(`truncated at key ${n} (byte ${at})`);
      const key = bytesToBinary(data.subarray(at, at + keyBytes));
      at += keyBytes;
      if (n > 0 && !(previous < key)) fail(`key ${n} is not above the key before it`);
      previous = key;
      keys[n] = key;
      map.set(key, { value: data.slice(at, at + valueBytes), revision });
      at += valueBytes;
    }
    if (at !== end) fail(`${end - at} bytes follow the last key`);
    this.#sorted = SortedKeys.fromSorted(keys);
    this.#map = map;
    this.#appliedIndex = appliedIndex;
  }
}
