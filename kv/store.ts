/**
 * `KvStore`: the replicated state machine. It is deterministic: the same entries applied in the
 * same order give the same state on every node. A key's revision is the raft log index of the
 * entry that last wrote it; `appliedIndex` is the index of the last entry applied.
 *
 * Keys are binary strings (see keys.ts). Each key has a numbered slot in a `SlotTable`, which
 * holds keys, values and revisions column by column with a hash index for O(1) point reads and
 * writes (slot_table.ts says why not an object per key in a Map), and a `SortedKeys` chunked
 * sorted list maps keys to slots in byte order, for prefix ranges. Values are bytes in the
 * table's `ValueArena`, off V8's heap (value_arena.ts says why).
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
 *
 * `snapshot()` encodes in one go; `beginSnapshot()` / `snapshotAsync()` encode the same bytes a
 * slice at a time while entries keep being applied, copy-on-write (see snapshot_job.ts).
 */
import { Buffer } from "node:buffer";
import { COMMAND_VALUE_BYTES_MAX, KEY_BYTES_MAX, type KvCommand } from "./command.ts";
import {
  captureChanges,
  decodeChanges,
  encodeChanges,
  encodeChangesAsync,
  KvChangesCorruptError,
} from "./changes.ts";
import { checkFrame } from "./framing.ts";
import { bytesToBinary, writeBinary } from "./keys.ts";
import {
  assert,
  KvSnapshotJob,
  SNAPSHOT_HEADER_BYTES,
  SNAPSHOT_ITEM_HEADER_BYTES,
  SNAPSHOT_MAGIC,
  SNAPSHOT_VERSION,
  TWO_32,
  type Version,
} from "./snapshot_job.ts";
import { KeyTable } from "./key_table.ts";
import { SlotTable } from "./slot_table.ts";
import { ValueArena, type ValueRef } from "./value_arena.ts";
import { SortedKeys } from "./sorted_keys.ts";

export type KvResult =
  | { ok: true; revision: number; deleted?: true }
  | { ok: false; code: "precondition_failed" | "not_found"; currentRevision: number };

export interface StoredValue {
  /** A fresh copy. */
  value: Uint8Array;
  revision: number;
}

export interface RangeItem {
  key: Uint8Array;
  value: Uint8Array;
  revision: number;
}

/** Small values read out are carved from a shared slab: one allocation per many reads. */
const POOL_BYTES = 64 * 1024;
const POOLED_VALUE_BYTES_MAX = 2048;
let pool = new Uint8Array(POOL_BYTES);
let poolUsed = 0;

/** `n` fresh bytes: a view into a pool slab when small (do not use `.buffer`). */
function freshBytes(n: number): Uint8Array {
  if (n > POOLED_VALUE_BYTES_MAX) return new Uint8Array(n);
  if (poolUsed + n > POOL_BYTES) {
    pool = new Uint8Array(POOL_BYTES);
    poolUsed = 0;
  }
  const out = pool.subarray(poolUsed, poolUsed + n);
  // Keep views 8-byte aligned, as Node's Buffer pool does.
  poolUsed += (n + 7) & ~7;
  return out;
}

/** A binary string as fresh bytes (see `freshBytes`). */
function stringToBytes(s: string): Uint8Array {
  const out = freshBytes(s.length);
  writeBinary(out, s, 0);
  return out;
}

/** The value at `ref` as fresh bytes (see `freshBytes`). */
function valueToBytes(values: ValueArena, ref: ValueRef): Uint8Array {
  const out = freshBytes(values.length(ref));
  values.copyTo(ref, out, 0);
  return out;
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

/** Default time `snapshotAsync` encodes for before it yields to the event loop. */
export const SNAPSHOT_SLICE_MS_DEFAULT = 5;
/**
 * Keys `snapshotAsync` encodes between clock reads. Bounds the overshoot of a slice: about
 * 0.1 ms at 256-byte values, more for large ones.
 */
const SNAPSHOT_STEP_ITEMS = 128;
/** Keys `restoreAsync` decodes between clock reads. */
const RESTORE_STEP_ITEMS = 1024;

/**
 * Runs `steps` to their end in slices of about `sliceMs`, with a macrotask turn (`setTimeout(0)`)
 * between slices so that timers and I/O run. After each turn, `goOn` false stops it early.
 */
async function runInSlices(
  steps: Iterator<unknown>,
  sliceMs: number,
  goOn: () => boolean,
): Promise<void> {
  for (;;) {
    const sliceEnd = performance.now() + sliceMs;
    let done = false;
    while (!done && performance.now() < sliceEnd) done = steps.next().done === true;
    if (done) return;
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (!goOn()) return;
  }
}

/**
 * Checks a snapshot image's header and CRC without decoding it (one native CRC pass): throws
 * `KvSnapshotCorruptError`. `restore` checks the rest.
 */
export function verifyKvImage(data: Uint8Array): void {
  const fail = (why: string): never => {
    throw new KvSnapshotCorruptError(`Cannot restore KV snapshot of ${data.length} bytes: ${why}`);
  };
  const frame = {
    magic: SNAPSHOT_MAGIC,
    version: SNAPSHOT_VERSION,
    headerBytes: SNAPSHOT_HEADER_BYTES,
  };
  checkFrame(data, frame, fail);
}

const keyOfChange = (change: Change): string => change.key;

/** A key written since the changes were last taken: its slot now, or -1 once deleted. */
interface Change {
  key: string;
  slot: number;
}

/** A slot's key in `table`, for `SortedKeys` of slot numbers. */
function keyOfSlotIn(table: SlotTable): (slot: number) => string {
  return (slot) => table.keyAt(slot);
}

export class KvStore {
  #table = new SlotTable();
  /** The slots of `#table`, in key order. */
  #sorted = new SortedKeys<number>(keyOfSlotIn(this.#table));
  /** The running `sortKeysAsync`, which later calls join. */
  #sorting: Promise<void> | undefined;
  #appliedIndex = 0;
  /** The size `snapshot()` will have, kept up to date by apply so it needs no sizing pass. */
  #dataBytes = SNAPSHOT_HEADER_BYTES + 4;
  #rangeBytesMax: number;
  /**
   * While a snapshot job runs: where apply saves a slot's old version before it first overwrites
   * it, and the job's index (slots with `revision <= #snapshotIndex` are not saved yet).
   */
  #snapshotOverlay: Map<number, Version> | undefined;
  #snapshotIndex = 0;
  /**
   * Keys written (put or deleted) since `#changesSince`, in order, each with its live slot: what
   * `takeChanges()` encodes, without looking a key up again.
   */
  #changed: Change[] = [];
  /** The same changes, to find one by key. */
  #changedTable = new KeyTable<Change>(keyOfChange);
  #changesSince = 0;

  constructor(options?: { rangeBytesMax?: number }) {
    this.#rangeBytesMax = options?.rangeBytesMax ?? RANGE_BYTES_MAX_DEFAULT;
    if (!(this.#rangeBytesMax >= 1)) throw new RangeError("rangeBytesMax must be >= 1");
  }

  /** The raft index of the last entry applied (or restored from a snapshot). */
  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** The bytes an image of the store would hold now. */
  get imageBytes(): number {
    return this.#dataBytes;
  }

  /** The number of keys. */
  get size(): number {
    return this.#table.size;
  }

  /**
   * Applies the KV command of entry `index` (which must be above `appliedIndex`). The store keeps
   * copies of the key and value. A failed condition or a delete of an absent key changes nothing
   * but `appliedIndex`.
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
    const table = this.#table;
    const slot = table.find(key);
    const present = slot !== -1;
    const currentRevision = present ? table.revisionAt(slot) : 0;
    const c = cmd.condition;
    if (c !== undefined) {
      let holds: boolean;
      if ("ifNoneMatch" in c) holds = !present;
      else if (!present) holds = false;
      else if (c.ifMatch === "*") holds = true;
      else if (typeof c.ifMatch === "number") holds = c.ifMatch === currentRevision;
      else holds = c.ifMatch.includes(currentRevision);
      if (!holds) {
        // If-None-Match on deleting an absent key: report "not found" like a plain delete.
        if (cmd.op === "delete" && !present && "ifNoneMatch" in c) {
          return { ok: false, code: "not_found", currentRevision: 0 };
        }
        return { ok: false, code: "precondition_failed", currentRevision };
      }
    }
    if (cmd.op === "put") {
      const value = cmd.value;
      assert(value !== undefined, "put without a value");
      if (!present) {
        const added = table.insert(key, value, index);
        this.#sorted.add(added);
        this.#dataBytes += SNAPSHOT_ITEM_HEADER_BYTES + key.length + value.length;
        this.#markChanged(key, added);
      } else {
        // A running snapshot job's frozen runs may hold this slot: save the version the job
        // must encode before it is overwritten in place.
        const overlay = this.#snapshotOverlay;
        if (overlay !== undefined && currentRevision <= this.#snapshotIndex) {
          assert(!overlay.has(slot), "a slot saved for the snapshot job twice");
          overlay.set(slot, { ref: table.valueRefAt(slot), revision: currentRevision });
        }
        this.#dataBytes += value.length - table.valueLengthAt(slot);
        table.setVersion(slot, value, index);
        this.#markChanged(key, slot);
      }
      return { ok: true, revision: index };
    }
    assert(cmd.op === "delete", `unknown op ${String(cmd.op)}`);
    if (!present) return { ok: false, code: "not_found", currentRevision: 0 };
    this.#dataBytes -= SNAPSHOT_ITEM_HEADER_BYTES + key.length + table.valueLengthAt(slot);
    this.#remove(key);
    this.#markChanged(key, -1);
    return { ok: true, revision: index, deleted: true };
  }

  /** Removes a key that is present from the sorted index, then from the table. */
  #remove(key: string): void {
    // In this order: the sorted index finds a pending slot by the key the table still holds.
    const unsorted = this.#sorted.delete(key);
    assert(unsorted, "a key in the table was missing from the sorted index");
    const removed = this.#table.remove(key);
    assert(removed !== -1, "a key in the sorted index was missing from the table");
  }

  #markChanged(key: string, slot: number): void {
    const fresh: Change = { key, slot };
    const change = this.#changedTable.getOrSet(fresh);
    if (change === fresh) this.#changed.push(change);
    else change.slot = slot;
  }

  /** The applied index the tracked changes start from (see `takeChanges`). */
  get changesSince(): number {
    return this.#changesSince;
  }

  /** The number of keys written since `changesSince`. */
  get changedKeys(): number {
    return this.#changed.length;
  }

  /** Forgets the tracked changes: tracking starts again at `appliedIndex`. */
  resetChanges(): void {
    this.#changed = [];
    this.#changedTable = new KeyTable<Change>(keyOfChange);
    this.#changesSince = this.#appliedIndex;
  }

  /**
   * The keys written since `changesSince`, as a change set (format in changes.ts) from
   * `changesSince` to `appliedIndex`, then `resetChanges()`. Synchronous: it costs what was
   * written, not the size of the store.
   */
  takeChanges(): Uint8Array {
    return encodeChanges(this.#captureChanges());
  }

  /**
   * `takeChanges()` without blocking: the changes are captured when this is called (refs to
   * values no write overwrites until they are encoded), then encoded in slices while entries go
   * on being applied. With `headroom`, the change
   * set starts that many bytes into the returned buffer (room for the caller's header, no copy).
   */
  takeChangesAsync(options?: { headroom?: number }): Promise<Uint8Array> {
    return encodeChangesAsync(this.#captureChanges(), options);
  }

  #captureChanges() {
    const table = this.#table;
    const changes = this.#changed.map(({ key, slot }) => ({
      key,
      version: slot === -1
        ? undefined
        : { ref: table.valueRefAt(slot), revision: table.revisionAt(slot) },
    }));
    const held = { values: table.values, release: table.values.hold() };
    const captured = captureChanges(this.#changesSince, this.#appliedIndex, changes, held);
    this.resetChanges();
    return captured;
  }

  /**
   * Replays a change set from `takeChanges()` over this state, which must be the one as of its
   * `fromIndex`; afterwards the state is as of its `toIndex`, and changes are tracked from there.
   * Throws `KvChangesCorruptError` (and changes nothing) when `data` is malformed or starts at
   * another index. Not while a snapshot job runs.
   */
  applyChanges(data: Uint8Array): void {
    const decoded = decodeChanges(data);
    if (decoded.fromIndex !== this.#appliedIndex) {
      throw new KvChangesCorruptError(
        `Cannot apply KV changes from index ${decoded.fromIndex}: the store is at ${this.#appliedIndex}`,
      );
    }
    assert(this.#snapshotOverlay === undefined, "changes applied while a snapshot job runs");
    const table = this.#table;
    for (const { key, version } of decoded.changes) {
      const slot = table.find(key);
      if (version === undefined) {
        // Written and then deleted in the interval: it may have been absent before, too.
        if (slot === -1) continue;
        this.#dataBytes -= SNAPSHOT_ITEM_HEADER_BYTES + key.length + table.valueLengthAt(slot);
        this.#remove(key);
      } else if (slot === -1) {
        this.#sorted.add(table.insert(key, version.value, version.revision));
        this.#dataBytes += SNAPSHOT_ITEM_HEADER_BYTES + key.length + version.value.length;
      } else {
        this.#dataBytes += version.value.length - table.valueLengthAt(slot);
        table.setVersion(slot, version.value, version.revision);
      }
    }
    this.#appliedIndex = decoded.toIndex;
    this.resetChanges();
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
    const table = this.#table;
    const slot = table.find(bytesToBinary(key));
    if (slot === -1) return undefined;
    return {
      value: valueToBytes(table.values, table.valueRefAt(slot)),
      revision: table.revisionAt(slot),
    };
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
    const table = this.#table;
    this.#sorted.scanFrom(p, (key, slot) => {
      if (!key.startsWith(p)) return false;
      if (items.length >= limit || (items.length > 0 && bytes >= bytesMax)) {
        more = true;
        return false;
      }
      const value = valueToBytes(table.values, table.valueRefAt(slot));
      items.push({ key: stringToBytes(key), value, revision: table.revisionAt(slot) });
      bytes += value.length;
      return true;
    });
    return { items, more };
  }

  /**
   * The whole state as bytes (format above), encoded in one go: it blocks for about as long as
   * `snapshotAsync` works in total (seconds at a million keys), so it suits small stores and
   * tests. It may run while a snapshot job is active.
   */
  snapshot(): Uint8Array {
    const runs = this.#sorted.runs();
    // Nothing changes the runs or the slots before this returns: no copy, no overlay.
    const job = new KvSnapshotJob({
      index: this.#appliedIndex,
      keys: runs.keys,
      slots: runs.values,
      versions: this.#table,
      count: this.#table.size,
      totalBytes: this.#dataBytes,
      overlay: new Map(),
      detach: () => {},
    });
    const done = job.step(Infinity);
    assert(done, "a snapshot in one step did not complete");
    return job.result();
  }

  /** True while a job from `beginSnapshot()` is neither complete nor aborted. */
  get snapshotActive(): boolean {
    return this.#snapshotOverlay !== undefined;
  }

  /**
   * Starts a snapshot of the state as of `appliedIndex`, to be encoded by `job.step()` while
   * entries keep being applied (see snapshot_job.ts). Costs a merge of keys added since the last
   * range and a copy of the sorted index's list of chunks, which the job borrows copy-on-write.
   * At most one job runs at a time: this throws while one is active (complete or `abort()` it
   * first). `restore()` lets a running job go on by itself: it still produces the snapshot as of
   * its index.
   */
  beginSnapshot(options?: { resetChanges?: boolean; headroom?: number }): KvSnapshotJob {
    if (this.#snapshotOverlay !== undefined) {
      throw new Error(
        `Cannot begin a KV snapshot at index ${this.#appliedIndex}: the one begun at index ` +
          `${this.#snapshotIndex} is still running`,
      );
    }
    // Lent copy-on-write: a delete meanwhile copies the one chunk it changes (sorted_keys.ts).
    const sorted = this.#sorted;
    const runs = sorted.lend();
    const overlay = new Map<number, Version>();
    const table = this.#table;
    // The slots of keys deleted from now on keep their versions for the job.
    table.hold();
    const job = new KvSnapshotJob({
      index: this.#appliedIndex,
      keys: runs.keys,
      slots: runs.values,
      versions: table,
      count: table.size,
      totalBytes: this.#dataBytes,
      headroom: options?.headroom ?? 0,
      overlay,
      detach: () => {
        table.release();
        sorted.giveBack();
        // After a restore, a newer job may own the hook: leave that one alone.
        if (this.#snapshotOverlay === overlay) this.#snapshotOverlay = undefined;
      },
    });
    this.#snapshotOverlay = overlay;
    this.#snapshotIndex = this.#appliedIndex;
    if (options?.resetChanges) this.resetChanges();
    return job;
  }

  /**
   * Merges the keys added since the last scan into the sorted index, in slices of about
   * `sliceMs` (default 5 ms) with a macrotask turn between them, so that the next scan (an image,
   * a range) does not stop the loop to do it: 380,000 keys took 417 ms in one go. The store may
   * be used meanwhile; keys added meanwhile wait for the scan. A call while one runs joins it.
   */
  sortKeysAsync(options?: { sliceMs?: number }): Promise<void> {
    this.#sorting ??= this.#sortKeys(options?.sliceMs ?? SNAPSHOT_SLICE_MS_DEFAULT)
      .finally(() => this.#sorting = undefined);
    return this.#sorting;
  }

  async #sortKeys(sliceMs: number): Promise<void> {
    const sorted = this.#sorted;
    const steps = sorted.flushSteps();
    try {
      // A restore may replace the index meanwhile: the new one has nothing pending.
      await runInSlices(steps, sliceMs, () => this.#sorted === sorted);
    } finally {
      steps.return();
    }
  }

  /**
   * `snapshot()` without blocking: a job from `beginSnapshot()` encoded in slices of about
   * `sliceMs` (default 5 ms), with a macrotask turn (`setTimeout(0)`) between slices so that
   * timers and I/O run. Entries may be applied meanwhile; the data is the state as of `index`,
   * the applied index when this was called. Throws, like `beginSnapshot()`, if a job is active.
   * With `headroom`, the image starts that many bytes into `data`, which is the whole buffer:
   * room for the caller's header, so that an image of hundreds of MB is never copied.
   */
  async snapshotAsync(
    options?: { sliceMs?: number; resetChanges?: boolean; headroom?: number },
  ): Promise<{ index: number; data: Uint8Array }> {
    const sliceMs = options?.sliceMs ?? SNAPSHOT_SLICE_MS_DEFAULT;
    if (!(sliceMs > 0 && sliceMs <= 1000)) {
      throw new RangeError(`Snapshot slice of ${sliceMs} ms is not in (0, 1000]`);
    }
    const job = this.beginSnapshot({
      resetChanges: options?.resetChanges ?? false,
      headroom: options?.headroom ?? 0,
    });
    try {
      // Bounded: each step encodes at least one key, so there are at most `size` + 1 steps.
      for (;;) {
        const sliceEnd = performance.now() + sliceMs;
        let done = job.step(SNAPSHOT_STEP_ITEMS);
        while (!done && performance.now() < sliceEnd) done = job.step(SNAPSHOT_STEP_ITEMS);
        if (done) break;
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      return { index: job.index, data: job.framed() };
    } finally {
      job.abort(); // Frees the job's state if a step threw; does nothing once it is done.
    }
  }

  /**
   * Replaces the whole state with a snapshot's. Throws `KvSnapshotCorruptError` (and changes
   * nothing) when `data` is malformed. Nothing refers to `data` afterwards.
   */
  restore(data: Uint8Array): void {
    const steps = this.#restoreSteps(data);
    while (!steps.next().done);
  }

  /**
   * `restore()` in slices of about `sliceMs` (default 5 ms) with a macrotask turn between them,
   * so that a follower installing a snapshot of a million keys keeps answering meanwhile. The
   * store is unchanged (and readable) until the last slice swaps the new state in; the caller
   * must not apply entries before this settles.
   */
  async restoreAsync(data: Uint8Array, options?: { sliceMs?: number }): Promise<void> {
    const sliceMs = options?.sliceMs ?? SNAPSHOT_SLICE_MS_DEFAULT;
    const steps = this.#restoreSteps(data);
    const appliedIndex = this.#appliedIndex;
    await runInSlices(steps, sliceMs, () => {
      assert(this.#appliedIndex === appliedIndex, "entries applied during restoreAsync");
      return true;
    });
  }

  /** The work of `restore`, yielding every RESTORE_STEP_ITEMS keys; the last step swaps. */
  *#restoreSteps(data: Uint8Array): Generator<void, void, void> {
    const fail = (why: string): never => {
      throw new KvSnapshotCorruptError(
        `Cannot restore KV snapshot of ${data.length} bytes: ${why}`,
      );
    };
    verifyKvImage(data);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const end = data.length - 4;
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
    const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const keys: string[] = new Array(count);
    // The new state's values: garbage, like the rest, if the restore fails.
    const values = new ValueArena();
    const valueRefs: number[] = new Array(count);
    const revisions: number[] = new Array(count);
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
      const key = buffer.toString("latin1", at, at + keyBytes);
      at += keyBytes;
      if (n > 0 && !(previous < key)) fail(`key ${n} is not above the key before it`);
      previous = key;
      keys[n] = key;
      valueRefs[n] = values.store(data, at, at + valueBytes);
      revisions[n] = revision;
      at += valueBytes;
      if (n % RESTORE_STEP_ITEMS === RESTORE_STEP_ITEMS - 1) yield;
    }
    if (at !== end) fail(`${end - at} bytes follow the last key`);
    const table = yield* SlotTable.fromColumns(
      { keys, values, valueRefs, revisions },
      RESTORE_STEP_ITEMS,
    );
    assert(table.size === count, `restore indexed ${table.size} keys of ${count}`);
    const slots: number[] = new Array(count);
    for (let n = 0; n < count; n++) slots[n] = n;
    const sorted = SortedKeys.fromSorted(keys, slots, { keyOf: keyOfSlotIn(table), checked: true });
    yield;
    // Nothing changed the store before this point: the new state goes in at once. A running
    // snapshot job keeps its frozen runs of the old slots, which nothing mutates any more: it
    // needs no overlay from now on.
    this.#snapshotOverlay = undefined;
    this.#sorted = sorted;
    this.#table = table;
    this.#appliedIndex = appliedIndex;
    // Every byte was accounted for above, so a snapshot of this state has exactly this size.
    this.#dataBytes = data.length;
    this.resetChanges();
  }
}
