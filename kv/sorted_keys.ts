/**
 * A sorted map from keys held as latin1 "binary strings" (one char per byte, so that JS string
 * comparison is byte order) to values. Stored as a list of sorted chunks of at most
 * `CHUNK_KEYS_MAX` keys, each with a parallel array of values (the idea of Python's
 * sortedcontainers): a delete costs a binary search plus a splice of one chunk, a range costs a
 * binary search plus the entries it visits, and a full scan walks arrays in order.
 *
 * Adds are lazy: a new key waits in `#pending` (a hash map, O(1)) until the next scan, which
 * first merges every pending key into the chunks: one by one when there are few, else by a sort
 * of the pending keys and a merge into just the chunks they land in. At a million keys a binary
 * search costs a cache miss per step, so this keeps the write path (every raft apply) cheap and
 * pays for ordering once per scan instead of once per write. `flushSteps` does that merge in
 * short steps, so that a server can do it beside its loop before a scan.
 */

import { KeyTable } from "./key_table.ts";

/** A chunk is split in two when it grows past this. */
const CHUNK_KEYS_MAX = 2048;
/** fromSorted() and merges fill chunks to this, leaving room to grow. */
const CHUNK_KEYS_FILL = 1024;
/** A chunk receiving at least 1/this of its size in added keys is merged linearly. */
const DENSE_MERGE_RATIO = 8;
/** Up to this many pending keys are inserted one by one; more are sorted and merged. */
const PENDING_INSERT_ONE_BY_ONE_MAX = 32;
/**
 * Maps the pending keys are spread over: they wait for the next image, up to hundreds of
 * thousands of them, and one map grows by copying itself whole (key_table.ts).
 */
const PENDING_SHARDS = 16;
/** Keys listed, sorted, merged or put in a chunk per step of `flushSteps`. */
const FLUSH_STEP_KEYS = 2048;
/** Sample keys per bucket of `sortStringsInSteps`: more keep the buckets nearer their mean size. */
const SAMPLES_PER_BUCKET = 8;

function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SortedKeys<T> {
  /**
   * A value's key: values know their keys, so pending ones need no wrapper object each. Values
   * must not be arrays (see `KeyTable`).
   */
  readonly #keyOf: (value: T) => string;
  #keys: string[][] = [];
  /** `#values[i][j]` belongs to `#keys[i][j]`. */
  #values: T[][] = [];
  /** `#maxes[i]` is the last (largest) key of `#keys[i]`. */
  #maxes: string[] = [];
  /** Keys in the chunks. */
  #size = 0;
  /** Added keys not yet in the chunks. Invariant: disjoint from the chunks' keys. */
  #pending: KeyTable<T>;
  /**
   * While runs are lent (`lend()`): the key chunks handed out, which must not change. A chunk
   * about to change in place is copied first, with its values (`#own`), and the copy replaces it.
   */
  #lent: Set<readonly string[]> | undefined;

  constructor(keyOf: (value: T) => string) {
    this.#keyOf = keyOf;
    this.#pending = new KeyTable(keyOf, { shards: PENDING_SHARDS });
  }

  get size(): number {
    return this.#size + this.#pending.size;
  }

  /**
   * Builds the map from keys already in strictly ascending order, which is checked unless the
   * caller says it `checked` already. `values[i]` belongs to `keys[i]`, and `keyOf` gives it back.
   */
  static fromSorted<T>(
    keys: readonly string[],
    values: readonly T[],
    options: { keyOf: (value: T) => string; checked?: boolean },
  ): SortedKeys<T> {
    if (keys.length !== values.length) {
      throw new RangeError(`${keys.length} keys but ${values.length} values`);
    }
    for (let i = options.checked ? keys.length : 1; i < keys.length; i++) {
      if (!(keys[i - 1]! < keys[i]!)) {
        throw new RangeError(`Keys are not strictly ascending at position ${i}`);
      }
    }
    const s = new SortedKeys<T>(options.keyOf);
    for (let i = 0; i < keys.length; i += CHUNK_KEYS_FILL) {
      const chunk = keys.slice(i, i + CHUNK_KEYS_FILL);
      s.#keys.push(chunk);
      s.#values.push(values.slice(i, i + CHUNK_KEYS_FILL));
      s.#maxes.push(chunk[chunk.length - 1]!);
    }
    s.#size = keys.length;
    return s;
  }

  /** The index of the first chunk whose max is >= key, or the number of chunks. */
  #chunkFor(key: string): number {
    return lowerBound(this.#maxes, key);
  }

  /**
   * Adds `value` under its key. The key must be absent (the caller knows: `KvStore` checks its
   * own table); a duplicate is caught, as a broken invariant, when the pending keys are merged.
   */
  add(value: T): void {
    this.#pending.set(value);
  }

  /** Inserts one key into the chunks now; returns false if it was there. */
  #insert(key: string, value: T): boolean {
    if (this.#keys.length === 0) {
      this.#keys.push([key]);
      this.#values.push([value]);
      this.#maxes.push(key);
      this.#size = 1;
      return true;
    }
    let c = this.#chunkFor(key);
    if (c === this.#keys.length) c--; // Larger than every key: append to the last chunk.
    const at = lowerBound(this.#keys[c]!, key);
    if (this.#keys[c]![at] === key) return false;
    this.#own(c);
    const keys = this.#keys[c]!;
    const values = this.#values[c]!;
    keys.splice(at, 0, key);
    values.splice(at, 0, value);
    if (at === keys.length - 1) this.#maxes[c] = key;
    this.#size++;
    if (keys.length > CHUNK_KEYS_MAX) {
      const half = keys.length >>> 1;
      this.#keys.splice(c + 1, 0, keys.splice(half));
      this.#values.splice(c + 1, 0, values.splice(half));
      this.#maxes.splice(c, 0, keys[keys.length - 1]!);
    }
    return true;
  }

  /** Removes `key`; returns false if it was absent. */
  delete(key: string): boolean {
    if (this.#pending.delete(key)) return true;
    const c = this.#chunkFor(key);
    if (c === this.#keys.length) return false;
    const at = lowerBound(this.#keys[c]!, key);
    if (this.#keys[c]![at] !== key) return false;
    this.#own(c);
    const keys = this.#keys[c]!;
    const values = this.#values[c]!;
    keys.splice(at, 1);
    values.splice(at, 1);
    this.#size--;
    if (keys.length === 0) {
      this.#keys.splice(c, 1);
      this.#values.splice(c, 1);
      this.#maxes.splice(c, 1);
    } else if (at === keys.length) {
      this.#maxes[c] = keys[keys.length - 1]!;
    }
    return true;
  }

  /**
   * Calls `visit` with each entry whose key is >= `from`, in ascending order, until it returns
   * false. The map must not change meanwhile.
   */
  scanFrom(from: string, visit: (key: string, value: T) => boolean): void {
    this.#flush();
    let c = this.#chunkFor(from);
    if (c >= this.#keys.length) return;
    let i = lowerBound(this.#keys[c]!, from);
    for (; c < this.#keys.length; c++, i = 0) {
      const keys = this.#keys[c]!;
      const values = this.#values[c]!;
      for (; i < keys.length; i++) {
        if (!visit(keys[i]!, values[i]!)) return;
      }
    }
  }

  /**
   * Every entry in ascending order, as parallel runs of keys and values (for tight loops that a
   * callback per entry would slow down). The map must not change while they are in use.
   */
  runs(): { keys: readonly (readonly string[])[]; values: readonly (readonly T[])[] } {
    this.#flush();
    return { keys: this.#keys, values: this.#values };
  }

  /**
   * Every entry in ascending order, as parallel runs of keys and values that stay as they are,
   * while the map goes on changing, until `giveBack()`: copy-on-write, a chunk that changes
   * meanwhile is copied first. Lending costs a copy of the list of chunks, not of the entries (a
   * snapshot job at a million keys copied 16 MB of runs before). One lender at a time.
   */
  lend(): { keys: readonly (readonly string[])[]; values: readonly (readonly T[])[] } {
    if (this.#lent !== undefined) throw new Error("SortedKeys: the runs are already lent");
    this.#flush();
    this.#lent = new Set(this.#keys);
    return { keys: this.#keys.slice(), values: this.#values.slice() };
  }

  /** Ends `lend()`: chunks change in place again. */
  giveBack(): void {
    this.#lent = undefined;
  }

  /** Makes chunk `c` this map's own to change in place: a lent chunk is replaced by a copy. */
  #own(c: number): void {
    const keys = this.#keys[c]!;
    if (this.#lent === undefined || !this.#lent.delete(keys)) return;
    this.#keys[c] = keys.slice();
    this.#values[c] = this.#values[c]!.slice();
  }

  /** Calls `visit` with every entry in ascending order. The map must not change meanwhile. */
  forEach(visit: (key: string, value: T) => void): void {
    this.#flush();
    for (let c = 0; c < this.#keys.length; c++) {
      const keys = this.#keys[c]!;
      const values = this.#values[c]!;
      for (let i = 0; i < keys.length; i++) visit(keys[i]!, values[i]!);
    }
  }

  /** Moves every pending key into the chunks. */
  #flush(): void {
    const count = this.#pending.size;
    if (count === 0) return;
    if (count <= PENDING_INSERT_ONE_BY_ONE_MAX) {
      for (const value of this.#pending.values()) {
        const inserted = this.#insert(this.#keyOf(value), value);
        if (!inserted) throw new Error(`Invariant violated: key added twice (${count} pending)`);
      }
      this.#pending.clear();
      return;
    }
    for (const _ of this.flushSteps());
    if (this.#pending.size !== 0) {
      throw new Error(`Invariant violated: ${this.#pending.size} keys pending after a flush`);
    }
  }

  /**
   * The pending keys' merge as a sequence of short steps (up to 2,048 keys each; a median of
   * 0.05-0.09 ms), for a caller that yields to the event loop between them
   * (`KvStore.sortKeysAsync`): 380,000 pending keys took 417 ms to merge at once, and a follower
   * whose image began then stood still for 339 ms. The map may be read and changed between steps.
   * Each key is looked up in `#pending` again as it is merged: one deleted meanwhile is skipped,
   * one deleted and added again goes in with its new value. Keys added after the first step may
   * wait for a later flush.
   */
  *flushSteps(): Generator<void, void, undefined> {
    // The keys to merge, as a hint: iterating a table that changes between steps may list a key
    // twice or miss one, which the merge skips or leaves pending.
    const count = this.#pending.size;
    // Sized at once: at hundreds of thousands of keys, growing it would copy it again and again.
    const listed = new Array<string>(count);
    let n = 0;
    for (const value of this.#pending.values()) {
      if (n === count) break;
      listed[n++] = this.#keyOf(value);
      if (n % FLUSH_STEP_KEYS === 0) yield;
    }
    listed.length = n;
    const sorted = yield* sortStringsInSteps(listed);
    // Each group moves forward by at least one key.
    for (let at = 0; at < sorted.length;) {
      at = this.#mergeGroup(sorted, at);
      yield;
    }
  }

  /**
   * Merges the keys of `sorted` from `from` on that land in one chunk (up to `FLUSH_STEP_KEYS` of
   * them, those still pending) into that chunk; returns where the next group starts.
   */
  #mergeGroup(sorted: readonly string[], from: number): number {
    const chunkCount = this.#keys.length;
    // A key past every chunk's max goes in the last chunk.
    const c = Math.min(this.#chunkFor(sorted[from]!), Math.max(chunkCount - 1, 0));
    const max = c < chunkCount - 1 ? this.#maxes[c]! : undefined;
    const keys: string[] = [];
    const values: T[] = [];
    const end = Math.min(sorted.length, from + FLUSH_STEP_KEYS);
    let at = from;
    for (; at < end; at++) {
      const key = sorted[at]!;
      if (max !== undefined && key > max) break;
      // Undefined if deleted, or merged by a scan, since it was listed (or listed twice).
      const value = this.#pending.take(key);
      if (value === undefined) continue;
      keys.push(key);
      values.push(value);
    }
    if (keys.length === 0) return at;
    const [mergedKeys, mergedValues] = chunkCount === 0
      ? [keys, values]
      : mergeInto(this.#keys[c]!, this.#values[c]!, keys, values, 0, keys.length);
    const pieces = splitRun(mergedKeys, mergedValues);
    this.#keys.splice(c, chunkCount === 0 ? 0 : 1, ...pieces.keys);
    this.#values.splice(c, chunkCount === 0 ? 0 : 1, ...pieces.values);
    this.#maxes.splice(c, chunkCount === 0 ? 0 : 1, ...pieces.maxes);
    this.#size += keys.length;
    return at;
  }
}

/** A sorted run as one chunk, or as chunks of CHUNK_KEYS_FILL when it is too long for one. */
function splitRun<T>(
  keys: string[],
  values: T[],
): { keys: string[][]; values: T[][]; maxes: string[] } {
  if (keys.length <= CHUNK_KEYS_MAX) {
    return { keys: [keys], values: [values], maxes: [keys[keys.length - 1]!] };
  }
  const out = { keys: [] as string[][], values: [] as T[][], maxes: [] as string[] };
  for (let i = 0; i < keys.length; i += CHUNK_KEYS_FILL) {
    const part = keys.slice(i, i + CHUNK_KEYS_FILL);
    out.keys.push(part);
    out.values.push(values.slice(i, i + CHUNK_KEYS_FILL));
    out.maxes.push(part[part.length - 1]!);
  }
  return out;
}

/**
 * Sorts `keys` in place (byte order, as binary strings) a step at a time, by sample sort:
 * splitters taken from an evenly spaced sample cut the keys into buckets of about
 * `FLUSH_STEP_KEYS`, and each bucket is sorted natively in one step. 400,000 keys took 167-186 ms,
 * against 314-319 ms for a merge sort of natively sorted runs, whose merges in JavaScript cost
 * most (an earlier machine; 270-281 ms on a later one, in place, against 291 ms before). A bucket far over its size (many equal keys) is merge sorted instead. The buckets are
 * counted before they are filled, so that they take one array of exactly the keys' size: no
 * array grows, which at hundreds of thousands of keys is tens of MB of garbage in an image's
 * merge. Returns `keys`; duplicates are kept.
 */
export function* sortStringsInSteps(keys: string[]): Generator<void, string[], undefined> {
  // The default sort compares UTF-16 code units: for binary strings, byte order.
  if (keys.length <= FLUSH_STEP_KEYS) return keys.sort();
  const bucketCount = Math.ceil(keys.length / FLUSH_STEP_KEYS);
  const sampleSize = bucketCount * SAMPLES_PER_BUCKET;
  const sample = new Array<string>(sampleSize);
  for (let i = 0; i < sampleSize; i++) {
    sample[i] = keys[Math.floor((i + 0.5) * keys.length / sampleSize)]!;
  }
  sample.sort();
  const splitters: string[] = [];
  for (let b = 1; b < bucketCount; b++) splitters.push(sample[b * SAMPLES_PER_BUCKET]!);
  yield;
  // Bucket b holds the keys from splitters[b - 1] (included) to splitters[b] (excluded), at
  // bucketed[starts[b], starts[b + 1]).
  const bucketOf = new Uint32Array(keys.length);
  const starts = new Uint32Array(bucketCount + 1);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    let lo = 0;
    let hi = splitters.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (splitters[mid]! <= key) lo = mid + 1;
      else hi = mid;
    }
    bucketOf[i] = lo;
    starts[lo + 1]!++;
    if (i % FLUSH_STEP_KEYS === FLUSH_STEP_KEYS - 1) yield;
  }
  for (let b = 1; b <= bucketCount; b++) starts[b]! += starts[b - 1]!;
  const bucketed = new Array<string>(keys.length);
  const filled = starts.slice(0, bucketCount);
  for (let i = 0; i < keys.length; i++) {
    bucketed[filled[bucketOf[i]!]!++] = keys[i]!;
    if (i % FLUSH_STEP_KEYS === FLUSH_STEP_KEYS - 1) yield;
  }
  for (let b = 0; b < bucketCount; b++) {
    const bucket = bucketed.slice(starts[b]!, starts[b + 1]!);
    const sorted = bucket.length <= 4 * FLUSH_STEP_KEYS
      ? bucket.sort()
      : yield* mergeSortInSteps(bucket);
    for (let i = 0, at = starts[b]!; i < sorted.length; i++, at++) keys[at] = sorted[i]!;
    yield;
  }
  return keys;
}

/** A merge sort of runs of `FLUSH_STEP_KEYS` sorted natively, a step at a time. */
function* mergeSortInSteps(keys: readonly string[]): Generator<void, string[], undefined> {
  let runs: string[][] = [];
  for (let i = 0; i < keys.length; i += FLUSH_STEP_KEYS) {
    runs.push(keys.slice(i, i + FLUSH_STEP_KEYS).sort());
    yield;
  }
  while (runs.length > 1) {
    const next: string[][] = [];
    for (let r = 0; r + 1 < runs.length; r += 2) {
      next.push(yield* mergeSortedInSteps(runs[r]!, runs[r + 1]!));
    }
    if (runs.length % 2 === 1) next.push(runs[runs.length - 1]!);
    runs = next;
  }
  return runs[0] ?? [];
}

function* mergeSortedInSteps(
  a: readonly string[],
  b: readonly string[],
): Generator<void, string[], undefined> {
  const out = new Array<string>(a.length + b.length);
  let i = 0;
  let j = 0;
  for (let k = 0; k < out.length; k++) {
    out[k] = j === b.length || (i < a.length && a[i]! <= b[j]!) ? a[i++]! : b[j++]!;
    if (k % FLUSH_STEP_KEYS === FLUSH_STEP_KEYS - 1) yield;
  }
  return out;
}

/**
 * Merges the sorted keys `added[from, to)` into one chunk's sorted `keys`: unless they are many,
 * each added key's place is found by binary search, and the old keys between two places are
 * copied without comparing them. At a million keys a key comparison is a cache miss and a flush
 * touches nearly every chunk: comparing about log2(chunk) times per added key instead of once per
 * old key took a flush of 10,000 keys into 1,000,000 from 450 to 80 ms.
 */
function mergeInto<T>(
  keys: readonly string[],
  values: readonly T[],
  added: readonly string[],
  addedValues: readonly T[],
  from: number,
  to: number,
): [string[], T[]] {
  const total = keys.length + to - from;
  const mergedKeys = new Array<string>(total);
  const mergedValues = new Array<T>(total);
  // Many added keys: a linear merge compares fewer times than a binary search per added key.
  const dense = (to - from) * DENSE_MERGE_RATIO >= keys.length;
  let at = 0;
  let copied = 0; // Old keys before this are in the merged arrays.
  for (let a = from; a <= to; a++) {
    let place = keys.length; // Past the last added key: copy the rest.
    if (a < to) {
      const key = added[a]!;
      place = copied;
      if (dense) {
        while (place < keys.length && keys[place]! < key) place++;
      } else {
        let hi = keys.length;
        while (place < hi) {
          const mid = (place + hi) >>> 1;
          if (keys[mid]! < key) place = mid + 1;
          else hi = mid;
        }
      }
      if (keys[place] === key) throw new Error("Invariant violated: key added twice");
    }
    for (let o = copied; o < place; o++, at++) {
      mergedKeys[at] = keys[o]!;
      mergedValues[at] = values[o]!;
    }
    copied = place;
    if (a < to) {
      mergedKeys[at] = added[a]!;
      mergedValues[at++] = addedValues[a]!;
    }
  }
  return [mergedKeys, mergedValues];
}
