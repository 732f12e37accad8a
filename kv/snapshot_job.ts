/**
 * `KvSnapshotJob`: encodes a `KvStore` snapshot (format in store.ts) a bounded number of items at
 * a time, so that a large store can be snapshotted without blocking the event loop for longer
 * than one step.
 *
 * Consistency, copy-on-write: `KvStore.beginSnapshot()` borrows the sorted index's runs of keys
 * and slot numbers as of its `appliedIndex` (`SortedKeys.lend()`: a run that changes meanwhile is
 * copied first), and the job encodes those frozen runs, reading each slot's value and revision
 * from the store's columns (slot_table.ts). A key deleted or added later changes only the store's
 * own runs, not the lent ones. The slot of a deleted key is not reused until the job ends
 * (`SlotTable.hold`), nor is the record of any value replaced meanwhile. A slot that is
 * overwritten later changes in place, so the store first saves its old value's ref and revision
 * in the job's overlay. The revision tells which slots need it:
 *
 *   Invariant: a slot in the frozen runs has `revision <= index` until it is first overwritten,
 *   and `revision > index` after (every write sets the revision to its entry's index, which is
 *   above `index`). So the store saves a slot exactly when it is about to overwrite one with
 *   `revision <= index` (first overwrite only), and the job looks a slot up in the overlay
 *   exactly when its `revision > index`.
 *
 * The overlay holds at most one entry per key of the frozen runs; it is dropped, and the runs
 * given back, when the job completes or is aborted.
 *
 * Output: one buffer of the whole snapshot (`step`, then `result()`), or a sequence of chunks
 * encoded into one reused buffer (`chunks()`), which a writer streams to a file: an image of a
 * million keys is hundreds of MB that would otherwise be held at once.
 */
import { crc32 } from "node:zlib";
import { writeBinary } from "./keys.ts";
import type { SlotVersions } from "./slot_table.ts";
import type { ValueRef } from "./value_arena.ts";

/**
 * A key's value, as its place in the store's `ValueArena`, with its revision: a version saved
 * for a job, or captured for a change set, while the arena is held.
 */
export interface Version {
  ref: ValueRef;
  revision: number;
}

export const SNAPSHOT_MAGIC = 0x524b5653; // "RKVS"
export const SNAPSHOT_VERSION = 1;
export const SNAPSHOT_HEADER_BYTES = 24;
export const SNAPSHOT_ITEM_HEADER_BYTES = 14;
export const TWO_32 = 2 ** 32;

export function assert(cond: boolean, message: string): asserts cond {
  if (!cond) throw new Error(`Invariant violated: ${message}`);
}

/** Writes a safe integer as a big-endian u64. */
export function setU64(view: DataView, at: number, n: number): void {
  view.setUint32(at, Math.floor(n / TWO_32));
  view.setUint32(at + 4, n % TWO_32);
}

/** How a store hands its frozen state to a job (internal: made by `KvStore` only). */
export interface SnapshotJobInit {
  /** The applied index the state is as of. */
  index: number;
  /** Sorted runs of keys and their slot numbers, which nothing changes while the job runs. */
  keys: readonly (readonly string[])[];
  slots: readonly (readonly number[])[];
  /** The store's columns, by slot number: what each slot holds now. */
  versions: SlotVersions;
  /** The number of keys in the runs. */
  count: number;
  /** The encoded size, CRC included. */
  totalBytes: number;
  /** Bytes left free before the snapshot in its buffer, for the caller's header (default 0). */
  headroom?: number;
  /** Old {ref, revision} of slots overwritten since `index`, filled by the store. */
  overlay: Map<number, Version>;
  /** Called once when the job completes or is aborted: the store stops filling the overlay. */
  detach: () => void;
}

type JobState = "running" | "done" | "aborted";

/**
 * A snapshot in progress. `step()` until it returns true, then `result()`; or `abort()`.
 * Made by `KvStore.beginSnapshot()`.
 */
export class KvSnapshotJob {
  /** The store's applied index at begin: the snapshot is the state as of this index. */
  readonly index: number;
  #keys: readonly (readonly string[])[];
  #slots: readonly (readonly number[])[];
  #versions: SlotVersions | undefined;
  #count: number;
  #totalBytes: number;
  #headroom: number;
  #overlay: Map<number, Version>;
  #detach: (() => void) | undefined;
  #state: JobState = "running";
  /** Where bytes are encoded: the whole snapshot, or the current chunk (`chunks()`). */
  #out: Uint8Array | undefined;
  #view: DataView | undefined;
  /** In `chunks()`: the buffer reused for every chunk. */
  #chunk: Uint8Array | undefined;
  /** Snapshot bytes before `#out[0]`: those of the chunks already handed out. */
  #emitted = 0;
  /** Next item to encode: run `#run`, position `#item` in it. */
  #run = 0;
  #item = 0;
  #written = 0;
  #at = SNAPSHOT_HEADER_BYTES;
  /** CRC of the snapshot's bytes up to `#out[#crcAt]`. */
  #crc = 0;
  #crcAt = 0;

  /** Internal: use `KvStore.beginSnapshot()`. */
  constructor(init: SnapshotJobInit) {
    assert(init.keys.length === init.slots.length, "runs of keys and slots differ in number");
    assert(init.totalBytes >= SNAPSHOT_HEADER_BYTES + 4, `snapshot of ${init.totalBytes} bytes`);
    this.index = init.index;
    this.#keys = init.keys;
    this.#slots = init.slots;
    this.#versions = init.versions;
    this.#count = init.count;
    this.#totalBytes = init.totalBytes;
    this.#headroom = init.headroom ?? 0;
    assert(Number.isSafeInteger(this.#headroom) && this.#headroom >= 0, "headroom is a count");
    this.#overlay = init.overlay;
    this.#detach = init.detach;
  }

  /** The snapshot's size in bytes, CRC included (without the headroom). */
  get totalBytes(): number {
    return this.#totalBytes;
  }

  /** True once every item is encoded (`result()` is ready). */
  get done(): boolean {
    return this.#state === "done";
  }

  /** The number of old slot versions saved for this job (0 once it completes or is aborted). */
  get overlaySize(): number {
    return this.#overlay.size;
  }

  /**
   * Encodes up to `itemsMax` more keys; returns true when the snapshot is complete (and keeps
   * returning true). Throws after `abort()`.
   */
  step(itemsMax: number): boolean {
    if (!(itemsMax >= 1) || !(Number.isSafeInteger(itemsMax) || itemsMax === Infinity)) {
      throw new RangeError(`Snapshot step of ${itemsMax} items: expected an integer >= 1`);
    }
    if (this.#state === "done") return true;
    if (this.#state === "aborted") {
      throw new Error(`Cannot step KV snapshot at index ${this.index}: it was aborted`);
    }
    if (this.#out === undefined) this.#writeHeader();
    let out = this.#out!;
    let view = this.#view!;
    const index = this.index;
    const overlay = this.#overlay;
    const versions = this.#versions!;
    const values = versions.values;
    const runs = this.#keys.length;
    // Items end 4 bytes before the buffer's end, which keeps room for the CRC.
    let itemsEnd = out.length - 4;
    let left = itemsMax;
    let at = this.#at;
    let r = this.#run;
    let i = this.#item;
    let written = this.#written;
    let full = false;
    for (; r < runs && left > 0; r++, i = 0) {
      const keys = this.#keys[r]!;
      const slots = this.#slots[r]!;
      const start = i;
      const end = Math.min(keys.length, start + left);
      for (; i < end; i++) {
        const key = keys[i]!;
        const slot = slots[i]!;
        let revision = versions.revisionAt(slot);
        let ref = versions.valueRefAt(slot);
        if (revision > index) {
          // Overwritten since begin: encode the version saved before the first overwrite.
          const saved = overlay.get(slot);
          assert(saved !== undefined, `slot at revision ${revision} > ${index} not saved`);
          revision = saved.revision;
          ref = saved.ref;
        }
        const valueBytes = values.length(ref);
        const itemBytes = SNAPSHOT_ITEM_HEADER_BYTES + key.length + valueBytes;
        if (at + itemBytes > itemsEnd) {
          // Only a chunk fills up: the whole snapshot's buffer has room for every item.
          assert(this.#chunk !== undefined, `snapshot item past ${this.#totalBytes - 4} bytes`);
          if (at > 0) {
            full = true;
            break;
          }
          // An item larger than a chunk (values go up to 64 MiB) is a chunk of its own.
          out = new Uint8Array(itemBytes + 4);
          view = new DataView(out.buffer);
          itemsEnd = itemBytes;
          this.#out = out;
          this.#view = view;
        }
        view.setUint16(at, key.length);
        view.setUint32(at + 2, Math.floor(revision / TWO_32));
        view.setUint32(at + 6, revision % TWO_32);
        view.setUint32(at + 10, valueBytes);
        at += SNAPSHOT_ITEM_HEADER_BYTES;
        at += writeBinary(out, key, at);
        at += values.copyTo(ref, out, at);
      }
      written += i - start;
      left -= i - start;
      // Budget spent or chunk full inside this run: resume here.
      if (full || i < keys.length) break;
    }
    this.#run = r;
    this.#item = i;
    this.#written = written;
    this.#at = at;
    assert(
      this.#emitted + at <= this.#totalBytes - 4,
      `snapshot wrote past ${this.#totalBytes - 4} bytes`,
    );
    this.#crc = crc32(out.subarray(this.#crcAt, at), this.#crc);
    this.#crcAt = at;
    if (r < runs) return false;
    return this.#finish();
  }

  /**
   * Encodes the snapshot as a sequence of chunks, each at most `chunkBytes` (but for an item
   * larger than that, which is a chunk of its own), that add up to `totalBytes`. Every chunk but
   * such an item is a view of one buffer, valid until the next is asked for: the caller writes it
   * out first. Entries may be applied between chunks. Returning early or throwing aborts the job.
   * Use instead of `step`, never with it.
   */
  *chunks(chunkBytes: number): Generator<Uint8Array, void, undefined> {
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes < SNAPSHOT_HEADER_BYTES + 4) {
      throw new RangeError(
        `Snapshot chunks of ${chunkBytes} bytes: expected an integer >= ${
          SNAPSHOT_HEADER_BYTES + 4
        }`,
      );
    }
    assert(this.#out === undefined, "a job encodes into chunks or into one buffer, not both");
    this.#chunk = new Uint8Array(chunkBytes);
    try {
      for (;;) {
        const done = this.step(Infinity);
        // `#finish` dropped the view: take the chunk's bytes before resetting.
        const chunk = this.#out!.subarray(0, this.#at);
        yield chunk;
        if (done) return;
        this.#emitted += this.#at;
        this.#out = this.#chunk;
        this.#view = new DataView(this.#chunk.buffer);
        this.#at = 0;
        this.#crcAt = 0;
      }
    } finally {
      this.#chunk = undefined;
      this.#out = undefined;
      this.abort(); // Does nothing once done.
    }
  }

  /**
   * The snapshot bytes, once `step()` has returned true. With `headroom`, a view that starts
   * `headroom` bytes into its buffer (see `framed()`).
   */
  result(): Uint8Array {
    if (this.#state !== "done") {
      throw new Error(`Cannot take KV snapshot at index ${this.index}: it is ${this.#state}`);
    }
    assert(this.#out !== undefined, "a chunked snapshot has no single buffer");
    return this.#out;
  }

  /** `result()` with the `headroom` bytes before it: the whole buffer. */
  framed(): Uint8Array {
    const out = this.result();
    return new Uint8Array(out.buffer, out.byteOffset - this.#headroom, this.#headroom + out.length);
  }

  /** Stops the job and drops its frozen state and overlay. Does nothing once done or aborted. */
  abort(): void {
    if (this.#state !== "running") return;
    this.#state = "aborted";
    this.#out = undefined;
    this.#view = undefined;
    this.#release();
  }

  #writeHeader(): void {
    // One buffer for the caller's header and the snapshot: a snapshot can be hundreds of MB, and
    // the caller need not copy it to put a header in front.
    const out = this.#chunk ??
      new Uint8Array(this.#headroom + this.#totalBytes).subarray(this.#headroom);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    view.setUint32(0, SNAPSHOT_MAGIC);
    out[4] = SNAPSHOT_VERSION;
    setU64(view, 8, this.index);
    setU64(view, 16, this.#count);
    this.#out = out;
    this.#view = view;
  }

  #finish(): true {
    const at = this.#at;
    assert(this.#written === this.#count, `snapshot wrote ${this.#written} keys of ${this.#count}`);
    const bytes = this.#emitted + at;
    assert(
      bytes === this.#totalBytes - 4,
      `snapshot wrote ${bytes} bytes of ${this.#totalBytes - 4}`,
    );
    assert(this.#crcAt === at, "CRC does not cover every byte");
    this.#view!.setUint32(at, this.#crc);
    this.#at = at + 4;
    this.#state = "done";
    this.#view = undefined;
    this.#release();
    return true;
  }

  #release(): void {
    this.#keys = [];
    this.#slots = [];
    this.#versions = undefined;
    this.#overlay = new Map();
    const detach = this.#detach;
    this.#detach = undefined;
    detach?.();
  }
}
