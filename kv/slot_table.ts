/**
 * `SlotTable`: the store's keys, values and revisions, one numbered slot per key, held column by
 * column, with a hash index from a key to its slot.
 *
 * Why columns and numbers, not an object per key in a `Map`: at a million keys every byte per key
 * is a megabyte on each node, and the garbage collector lets the heap grow by a share of what is
 * live. An object `{ key, value, revision }` costs 48 bytes on V8's heap and a `Map` entry about
 * 29 more; three array cells, a 4-byte hash and the index's 4-byte cells cost about 36. Measured
 * with Deno 2.9.6, a `KvStore` of 1,000,000 keys of 256-byte values: 352 bytes per key in all,
 * against 398 with `KeyTable` and slot objects (344 against 414 when restored from an image),
 * values as strings then. With values in the arena: 57 bytes per key on V8's heap and 294 off
 * it, against 338 and 21 with strings (2026-11-28).
 *
 * The index is open addressing with linear probing over an `Int32Array` of slot numbers (plus one;
 * 0 is empty), at most 3/4 full, with backward-shift deletion (no tombstones). Each slot's hash is
 * kept, so a probe compares strings only when the hashes match and growing never rehashes a key.
 * When it doubles, its keys move to the new index a few slots per insert or remove, so no single
 * write pays for the whole move.
 * The hash is the seeded FNV-1a of key_table.ts, with the same caveat: not a keyed hash.
 *
 * Each column is held in pages of `2^pageBits` slots (65,536 by default) and grows a page at a
 * time. A single array per column grew by copying itself whole, half again each time: inserting
 * 1.1 million keys in a loop, the insert that grew them took 8-49 ms at 386,408, 579,629 and
 * 869,461 keys, a stop that every node of a cluster met at the same log index. A page is filled by
 * `push` (its copies are bounded by the page) and is never copied once full.
 *
 * Values are bytes in a `ValueArena` (value_arena.ts says why not strings); a column holds each
 * slot's `ValueRef`.
 *
 * Slot numbers are reused after a key is removed, except while `hold()` is in force: a snapshot
 * job reads the values and revisions of the slots it froze, so those must not change meaning
 * until it ends, and the values they name must not be overwritten.
 */
import { hashKey } from "./key_table.ts";
import { ValueArena, type ValueRef } from "./value_arena.ts";

/** The index is grown (doubled) before it is fuller than this. */
const INDEX_LOAD_MAX = 0.75;
const INDEX_CAPACITY_MIN = 16;
/** Slots moved from the old index to the new one per insert or remove while the index grows. */
const MIGRATE_STEP_SLOTS = 8;
const PAGE_BITS_DEFAULT = 16;

/** What a snapshot job reads of the slots it froze (`KvSnapshotJob`). */
export interface SlotVersions {
  /** Where the values are. */
  readonly values: ValueArena;
  valueRefAt(slot: number): ValueRef;
  revisionAt(slot: number): number;
}

export class SlotTable implements SlotVersions {
  readonly #pageBits: number;
  readonly #pageMask: number;
  /** `#keys[page][i]`: the key in slot `page * 2^pageBits + i` ("" while the slot is free). */
  readonly #keys: string[][] = [];
  /** The value of each slot, as its place in `values`. */
  readonly #valueRefs: Float64Array[] = [];
  /** The raft index of the entry that last wrote each slot's key. */
  readonly #revisions: Float64Array[] = [];
  /** The hash of each slot's key. */
  readonly #hashes: Int32Array[] = [];
  /** Slots handed out so far: 0 .. `#slotCount - 1`. */
  #slotCount = 0;
  readonly #seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
  readonly #hashMask: number;
  /** Slot + 1 per cell; 0 is an empty cell. */
  #index = new Int32Array(INDEX_CAPACITY_MIN);
  #mask = INDEX_CAPACITY_MIN - 1;
  /**
   * While the index grows: the one before, which still finds the keys not moved yet. Slots below
   * `#migrateEnd` are moved in order from `#migrateNext`, a few per insert or remove.
   */
  #oldIndex: Int32Array | undefined;
  #oldMask = 0;
  #migrateNext = 0;
  #migrateEnd = 0;
  #size = 0;
  /** Slots free to reuse. */
  #free: number[] = [];
  /** Slots removed while held: freed by `release()`. */
  #held: number[] | undefined;
  /** Ends the hold on `values` that `hold()` took. */
  #releaseValues: (() => void) | undefined;
  /** The bytes of every slot's value. */
  readonly values: ValueArena;

  /**
   * An empty table. `hashBits` (1 to 32, default 32) narrows the hash, and `pageBits` (1 to 24,
   * default 16) the pages, so that tests meet collisions and page ends.
   */
  constructor(options?: { hashBits?: number; pageBits?: number; values?: ValueArena }) {
    this.values = options?.values ?? new ValueArena();
    const bits = options?.hashBits ?? 32;
    if (!Number.isInteger(bits) || bits < 1 || bits > 32) {
      throw new RangeError(`hashBits must be 1 to 32, not ${bits}`);
    }
    this.#hashMask = bits === 32 ? -1 : 2 ** bits - 1;
    const pageBits = options?.pageBits ?? PAGE_BITS_DEFAULT;
    if (!Number.isInteger(pageBits) || pageBits < 1 || pageBits > 24) {
      throw new RangeError(`pageBits must be 1 to 24, not ${pageBits}`);
    }
    this.#pageBits = pageBits;
    this.#pageMask = 2 ** pageBits - 1;
  }

  /** The number of keys. */
  get size(): number {
    return this.#size;
  }

  /**
   * A table whose slots 0..n-1 hold the given columns (copied into pages), indexed a step of
   * `stepKeys` keys at a time (a restore yields to the event loop between steps). The keys must
   * be distinct; `valueRefs` name records of `values`, which the table takes over.
   */
  static *fromColumns(
    columns: { keys: string[]; values: ValueArena; valueRefs: number[]; revisions: number[] },
    stepKeys: number,
    options?: { hashBits?: number; pageBits?: number },
  ): Generator<void, SlotTable, void> {
    const { keys, values, valueRefs, revisions } = columns;
    if (keys.length !== valueRefs.length || keys.length !== revisions.length) {
      throw new RangeError(
        `columns of ${keys.length}, ${valueRefs.length}, ${revisions.length} slots`,
      );
    }
    const table = new SlotTable({ ...options, values });
    table.#reserveIndex(keys.length);
    for (let slot = 0; slot < keys.length; slot++) {
      const key = keys[slot]!;
      const hash = table.#hash(key);
      const cell = table.#emptyCellFor(key, hash);
      if (cell === -1) throw new RangeError(`key given twice (slot ${slot})`);
      table.#addSlot(key, valueRefs[slot]!, revisions[slot]!, hash);
      table.#index[cell] = slot + 1;
      if (slot % stepKeys === stepKeys - 1) yield;
    }
    table.#size = keys.length;
    return table;
  }

  /** The key in `slot` ("" if the slot is free). */
  keyAt(slot: number): string {
    return this.#keys[slot >>> this.#pageBits]![slot & this.#pageMask]!;
  }

  /** Where the value in `slot` is in `values`. */
  valueRefAt(slot: number): ValueRef {
    return this.#valueRefs[slot >>> this.#pageBits]![slot & this.#pageMask]!;
  }

  /** The length of the value in `slot`. */
  valueLengthAt(slot: number): number {
    return this.values.length(this.valueRefAt(slot));
  }

  /** The revision of the value in `slot`. */
  revisionAt(slot: number): number {
    return this.#revisions[slot >>> this.#pageBits]![slot & this.#pageMask]!;
  }

  /** Replaces the value (a copy of `value`) and revision of a slot in use. */
  setVersion(slot: number, value: Uint8Array, revision: number): void {
    const page = slot >>> this.#pageBits;
    const at = slot & this.#pageMask;
    const refs = this.#valueRefs[page]!;
    // Freed after the new one is stored: a value is never written over the one it replaces,
    // which a hold may still read.
    const before = refs[at]!;
    refs[at] = this.values.store(value);
    this.values.free(before);
    this.#revisions[page]![at] = revision;
  }

  /** The slot holding `key`, or -1. */
  find(key: string): number {
    const hash = this.#hash(key);
    const cell = this.#findCell(this.#index, this.#mask, key, hash);
    if (cell !== -1) return this.#index[cell]! - 1;
    const old = this.#oldIndex;
    if (old === undefined) return -1;
    const oldCell = this.#findCell(old, this.#oldMask, key, hash);
    return oldCell === -1 ? -1 : old[oldCell]! - 1;
  }

  /** Puts an absent `key` in a slot (a reused one if any is free), with a copy of `value`. */
  insert(key: string, value: Uint8Array, revision: number): number {
    const hash = this.#hash(key);
    this.#reserveIndex(this.#size + 1);
    const cell = this.#emptyCellFor(key, hash);
    const old = this.#oldIndex;
    if (
      cell === -1 || (old !== undefined && this.#findCell(old, this.#oldMask, key, hash) !== -1)
    ) {
      throw new Error(`Invariant violated: key inserted twice (${key.length} bytes)`);
    }
    const valueRef = this.values.store(value);
    let slot = this.#free.pop();
    if (slot === undefined) {
      slot = this.#addSlot(key, valueRef, revision, hash);
    } else {
      const page = slot >>> this.#pageBits;
      const at = slot & this.#pageMask;
      this.#keys[page]![at] = key;
      this.#valueRefs[page]![at] = valueRef;
      this.#revisions[page]![at] = revision;
      this.#hashes[page]![at] = hash;
    }
    this.#size++;
    this.#index[cell] = slot + 1;
    this.#migrate(MIGRATE_STEP_SLOTS);
    return slot;
  }

  /** Removes `key`; returns its slot (whose columns are left as they were), or -1. */
  remove(key: string): number {
    const hash = this.#hash(key);
    // While the index grows a moved key is in both indexes: it leaves both.
    let slot = this.#removeFrom(this.#index, this.#mask, key, hash);
    const old = this.#oldIndex;
    if (old !== undefined) {
      const oldSlot = this.#removeFrom(old, this.#oldMask, key, hash);
      if (oldSlot !== -1) slot = oldSlot;
    }
    if (slot === -1) return -1;
    this.#size--;
    if (this.#held !== undefined) this.#held.push(slot);
    else this.#freeSlot(slot);
    this.#migrate(MIGRATE_STEP_SLOTS);
    return slot;
  }

  /** Takes `key` out of `index`; returns the slot it held there, or -1. */
  #removeFrom(index: Int32Array, mask: number, key: string, hash: number): number {
    let cell = this.#findCell(index, mask, key, hash);
    if (cell === -1) return -1;
    const slot = index[cell]! - 1;
    // Backward-shift deletion: pull each later entry of the run into the hole when its home
    // cell is not in the stretch from the hole to where it sits.
    for (let next = (cell + 1) & mask;; next = (next + 1) & mask) {
      const entry = index[next]!;
      if (entry === 0) break;
      const home = this.#hashAt(entry - 1) & mask;
      const inStretch = cell <= next ? home > cell && home <= next : home > cell || home <= next;
      if (!inStretch) {
        index[cell] = entry;
        cell = next;
      }
    }
    index[cell] = 0;
    return slot;
  }

  /**
   * Until `release()`, removed slots are not reused and keep their columns, and no value is
   * overwritten (`ValueArena.hold`): a snapshot job may still read them. Holds do not nest.
   */
  hold(): void {
    if (this.#held !== undefined) throw new Error("Invariant violated: slots held twice");
    this.#held = [];
    this.#releaseValues = this.values.hold();
  }

  /** Ends `hold()`: the slots removed meanwhile become free, and the values replaced. */
  release(): void {
    const held = this.#held;
    this.#held = undefined;
    if (held !== undefined) { for (const slot of held) this.#freeSlot(slot); }
    this.#releaseValues?.();
    this.#releaseValues = undefined;
  }

  /**
   * Appends slot `#slotCount`, starting a page when the last one is full. The first page grows as
   * it fills, so that a small table stays small; later pages are made whole, with no slack.
   */
  #addSlot(key: string, valueRef: ValueRef, revision: number, hash: number): number {
    const slot = this.#slotCount++;
    const page = slot >>> this.#pageBits;
    const at = slot & this.#pageMask;
    const pageSlots = this.#pageMask + 1;
    if (at === 0) {
      // `new Array(n)` for every page, so that all pages have the same (holey) elements kind and
      // the accessors' loads stay monomorphic: a first version that mixed packed and holey pages,
      // and kept revisions in plain arrays, made gets 1.8x slower (89.7 against 50.4 ms per 100k).
      const slots = page === 0 ? 0 : pageSlots;
      this.#keys.push(new Array(slots));
      const typedSlots = page === 0 ? Math.min(16, pageSlots) : pageSlots;
      this.#valueRefs.push(new Float64Array(typedSlots));
      this.#revisions.push(new Float64Array(typedSlots));
      this.#hashes.push(new Int32Array(typedSlots));
    }
    if (at === this.#hashes[page]!.length) {
      const slots = Math.min(at * 2, pageSlots);
      const valueRefs = new Float64Array(slots);
      valueRefs.set(this.#valueRefs[page]!);
      this.#valueRefs[page] = valueRefs;
      const revisions = new Float64Array(slots);
      revisions.set(this.#revisions[page]!);
      this.#revisions[page] = revisions;
      const hashes = new Int32Array(slots);
      hashes.set(this.#hashes[page]!);
      this.#hashes[page] = hashes;
    }
    this.#keys[page]![at] = key;
    this.#valueRefs[page]![at] = valueRef;
    this.#revisions[page]![at] = revision;
    this.#hashes[page]![at] = hash;
    return slot;
  }

  #freeSlot(slot: number): void {
    // Drop the key now: a free slot must not keep a string alive for the collector.
    const page = slot >>> this.#pageBits;
    const at = slot & this.#pageMask;
    this.#keys[page]![at] = "";
    this.values.free(this.#valueRefs[page]![at]!);
    this.#free.push(slot);
  }

  #hash(key: string): number {
    return hashKey(key, this.#seed) & this.#hashMask;
  }

  #hashAt(slot: number): number {
    return this.#hashes[slot >>> this.#pageBits]![slot & this.#pageMask]!;
  }

  /** The cell of `key` in `index`, or -1. */
  #findCell(index: Int32Array, mask: number, key: string, hash: number): number {
    for (let cell = hash & mask;; cell = (cell + 1) & mask) {
      const entry = index[cell]!;
      if (entry === 0) return -1;
      const slot = entry - 1;
      if (this.#hashAt(slot) === hash && this.keyAt(slot) === key) return cell;
    }
  }

  /**
   * The first empty cell from the home of `hash`, or -1 if `key` is in the run before it: with
   * linear probing a present key is always there, so one probe both checks and places.
   */
  #emptyCellFor(key: string, hash: number): number {
    const index = this.#index;
    const mask = this.#mask;
    for (let cell = hash & mask;; cell = (cell + 1) & mask) {
      const entry = index[cell]!;
      if (entry === 0) return cell;
      if (this.#hashAt(entry - 1) === hash && this.keyAt(entry - 1) === key) return -1;
    }
  }

  /**
   * Grows the index (by doubling) until `keys` keys fit under `INDEX_LOAD_MAX`. The keys move to
   * the new index a few slots per later insert or remove (`#migrate`), not all at once: moved in
   * one go, the doubling at 786,432 keys stopped the insert that caused it for 21-35 ms. A
   * doubling leaves the new index half as full as the old one was, so the move ends long before
   * the next; one still running then is finished first.
   */
  #reserveIndex(keys: number): void {
    let capacity = this.#index.length;
    if (keys <= capacity * INDEX_LOAD_MAX) return;
    while (keys > capacity * INDEX_LOAD_MAX) capacity *= 2;
    this.#migrate(Infinity);
    if (this.#size > 0) {
      this.#oldIndex = this.#index;
      this.#oldMask = this.#mask;
      this.#migrateNext = 0;
      this.#migrateEnd = this.#slotCount;
    }
    this.#index = new Int32Array(capacity);
    this.#mask = capacity - 1;
  }

  /**
   * Moves up to `slots` slots' keys from the old index to the new one. A slot's key moves if the
   * old index still has it in that slot: a key removed meanwhile, or a slot reused by a key added
   * to the new index, stays as it is.
   */
  #migrate(slots: number): void {
    const old = this.#oldIndex;
    if (old === undefined) return;
    const end = Math.min(this.#migrateEnd, this.#migrateNext + slots);
    for (let slot = this.#migrateNext; slot < end; slot++) {
      const key = this.keyAt(slot);
      if (key === "") continue;
      const hash = this.#hashAt(slot);
      const oldCell = this.#findCell(old, this.#oldMask, key, hash);
      if (oldCell === -1 || old[oldCell] !== slot + 1) continue;
      const cell = this.#emptyCellFor(key, hash);
      if (cell !== -1) this.#index[cell] = slot + 1;
    }
    this.#migrateNext = end;
    if (end === this.#migrateEnd) this.#oldIndex = undefined;
  }
}
