/**
 * `KeyTable<T>`: a hash table from binary-string keys to values that know their key: the keys
 * written since the last change set, those not yet merged into the sorted index, the keys of a
 * change set being decoded. (The store's own index of every key is `SlotTable`, which holds
 * integers in typed arrays instead: slot_table.ts.)
 *
 * Why not a `Map` or `Set` keyed by the strings: once V8 has hashed a string as a collection key,
 * that string lengthens the pause of every full garbage collection for as long as it lives, even
 * after it has left the collection. Measured with Deno 2.9.6 (V8 15.0) on 250,000 keys: a full
 * collection's "update pointers to new roots" step took 6.5-10.5 ms when the key strings had
 * been Map or Set keys, 0.3-0.4 ms when the same data was keyed by numbers; 14-19 ms at 500,000
 * keys. A node holding 200,000 keys spent half of each 16-28 ms full-collection pause there.
 *
 * So keys are hashed here, in JavaScript, to 30-bit integers (V8 small integers: hashing them
 * touches no string), and a bucket holds its one value or, on a collision, an array of them. The
 * hash is seeded per table, which makes colliding keys harder to aim at; FNV-1a is not a keyed
 * hash, so that is no guarantee, and nothing bounds a bucket's length.
 *
 * Known cost: a `Map` grows by copying itself whole, in one step: the put that takes it past
 * 2^20 keys took 68-80 ms alone, and nodes under write load stopped for 145-176 ms at 2^19
 * (2026-11-27), when this table held every key of the store. Sixteen maps cut that to 3-9 ms but
 * made writes through a follower slower for a reason not found; growing the map ahead of need
 * while idle stalled both followers at once under load and raised a node's peak memory. Both
 * were reverted (c4d782a and ef24ee7 give the figures). The changed keys hold at most a change
 * set's worth (about `--snapshot-count`), but the sorted index's pending keys wait for the next
 * image, which a busy node may put off for 128 change sets: applying 1.1 million new keys in a loop
 * with no image, the apply that doubled their one map stopped for 18-37 ms at 2^19 keys and 47-97
 * ms at 2^20 (2026-11-27). So that table spreads its buckets over 16 maps (`shards`), each of
 * which grows by copying a sixteenth of them.
 */

/** 30 bits: every hash is a V8 small integer on every platform, never a heap number. */
const HASH_BITS_MAX = 30;

export class KeyTable<T> {
  readonly #keyOf: (value: T) => string;
  readonly #seed: number;
  readonly #mask: number;
  /** The buckets, spread over `shards` maps by the hash's low bits. */
  readonly #shards: Map<number, T | T[]>[];
  readonly #shardMask: number;
  #size = 0;

  /**
   * `keyOf` gives a stored value's key; values must not be arrays. `shards` (a power of two up to
   * 256, default 1) spreads the buckets over that many maps, so that each grows by copying a
   * share of them. `hashBits` (1 to 30, default 30) narrows the hash, so that tests meet
   * collisions.
   */
  constructor(keyOf: (value: T) => string, options?: { hashBits?: number; shards?: number }) {
    const bits = options?.hashBits ?? HASH_BITS_MAX;
    if (!Number.isInteger(bits) || bits < 1 || bits > HASH_BITS_MAX) {
      throw new RangeError(`hashBits must be 1 to ${HASH_BITS_MAX}, not ${bits}`);
    }
    const shards = options?.shards ?? 1;
    if (!Number.isInteger(shards) || shards < 1 || shards > 256 || (shards & (shards - 1)) !== 0) {
      throw new RangeError(`shards must be a power of two from 1 to 256, not ${shards}`);
    }
    this.#keyOf = keyOf;
    this.#seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
    this.#mask = 2 ** bits - 1;
    this.#shards = Array.from({ length: shards }, () => new Map<number, T | T[]>());
    this.#shardMask = shards - 1;
  }

  get size(): number {
    return this.#size;
  }

  get(key: string): T | undefined {
    const hash = this.#hash(key);
    const bucket = this.#shards[hash & this.#shardMask]!.get(hash);
    if (bucket === undefined) return undefined;
    if (!Array.isArray(bucket)) return this.#keyOf(bucket) === key ? bucket : undefined;
    for (const value of bucket) if (this.#keyOf(value) === key) return value;
    return undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Stores `value` under its key, replacing the value stored there before; true if it was new. */
  set(value: T): boolean {
    return this.#put(value, true) === undefined;
  }

  /** The value stored under `value`'s key: the one stored before, or else `value`, stored now. */
  getOrSet(value: T): T {
    return this.#put(value, false) ?? value;
  }

  /** Stores `value` unless its key has a value and `replace` is false; returns that value. */
  #put(value: T, replace: boolean): T | undefined {
    // A bucket that is an array holds colliding values: a value cannot be one.
    if (Array.isArray(value)) throw new TypeError("Cannot store an array in a KeyTable");
    const key = this.#keyOf(value);
    const hash = this.#hash(key);
    const buckets = this.#shards[hash & this.#shardMask]!;
    const bucket = buckets.get(hash);
    if (bucket === undefined) {
      buckets.set(hash, value);
    } else if (!Array.isArray(bucket)) {
      if (this.#keyOf(bucket) === key) {
        if (replace) buckets.set(hash, value);
        return bucket;
      }
      buckets.set(hash, [bucket, value]);
    } else {
      const at = bucket.findIndex((other) => this.#keyOf(other) === key);
      if (at !== -1) {
        const before = bucket[at]!;
        if (replace) bucket[at] = value;
        return before;
      }
      bucket.push(value);
    }
    this.#size++;
    return undefined;
  }

  /** Removes the value stored under `key`; returns whether there was one. */
  delete(key: string): boolean {
    return this.take(key) !== undefined;
  }

  /** Removes the value stored under `key` and returns it (undefined if there was none). */
  take(key: string): T | undefined {
    const hash = this.#hash(key);
    const buckets = this.#shards[hash & this.#shardMask]!;
    const bucket = buckets.get(hash);
    if (bucket === undefined) return undefined;
    let taken: T;
    if (!Array.isArray(bucket)) {
      if (this.#keyOf(bucket) !== key) return undefined;
      taken = bucket;
      buckets.delete(hash);
    } else {
      const at = bucket.findIndex((other) => this.#keyOf(other) === key);
      if (at === -1) return undefined;
      taken = bucket.splice(at, 1)[0]!;
      if (bucket.length === 1) buckets.set(hash, bucket[0]!);
    }
    this.#size--;
    return taken;
  }

  /** Every value, in no particular order. */
  *values(): IterableIterator<T> {
    for (const buckets of this.#shards) {
      for (const bucket of buckets.values()) {
        if (Array.isArray(bucket)) yield* bucket;
        else yield bucket;
      }
    }
  }

  clear(): void {
    for (const buckets of this.#shards) buckets.clear();
    this.#size = 0;
  }

  #hash(key: string): number {
    return hashKey(key, this.#seed) & this.#mask;
  }
}

/** FNV-1a over the chars (bytes) of `key` from `seed`, its high bits folded in: an int32. */
export function hashKey(key: string, seed: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h ^ (h >>> 15);
}
