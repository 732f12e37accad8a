/**
 * `KeyTable<T>`: a hash table from binary-string keys to values that know their key, for the
 * store's keys (a million of them and more).
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
 * The buckets are spread over `SHARDS` maps by the hash's low bits. A `Map` grows by copying
 * itself into one twice its size, in one step, so one map of the store's keys stopped the loop for
 * O(keys): in the bench every node of a cluster under write load stopped for 145-176 ms as its
 * store passed 524,288 keys (2026-11-27). `bench/key_table_growth.ts`, same day: the longest of
 * 1.1M puts took 68-80 ms with one map (at 1,048,577), 3-9 ms here, in the same total time. More
 * shards would cut it further, but with 256, puts applied to a store in bursts took 0.65-0.88 ms
 * per 200 at the median against 0.54-0.56 with one map (16: 0.56-0.72 against 0.61-0.67),
 * probably because small tables stay under V8's large-object size (128 KiB) and the scavenger
 * copies each new one as it grows. Sharding also lifts a `Map`'s limit of 2^24 entries.
 */

/** 30 bits: every hash is a V8 small integer on every platform, never a heap number. */
const HASH_BITS_MAX = 30;
/** Maps the buckets are spread over: a power of two, as a shard is picked by the hash's low bits. */
const SHARDS = 16;

export class KeyTable<T> {
  readonly #keyOf: (value: T) => string;
  readonly #seed: number;
  readonly #mask: number;
  /** Bucket maps by the hash's low bits, each made when its first value arrives. */
  #shards: (Map<number, T | T[]> | undefined)[] = new Array(SHARDS).fill(undefined);
  #size = 0;

  /**
   * `keyOf` gives a stored value's key; values must not be arrays. `hashBits` (1 to 30, default
   * 30) narrows the hash, so that tests meet collisions.
   */
  constructor(keyOf: (value: T) => string, options?: { hashBits?: number }) {
    const bits = options?.hashBits ?? HASH_BITS_MAX;
    if (!Number.isInteger(bits) || bits < 1 || bits > HASH_BITS_MAX) {
      throw new RangeError(`hashBits must be 1 to ${HASH_BITS_MAX}, not ${bits}`);
    }
    this.#keyOf = keyOf;
    this.#seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
    this.#mask = 2 ** bits - 1;
  }

  get size(): number {
    return this.#size;
  }

  get(key: string): T | undefined {
    const hash = this.#hash(key);
    const bucket = this.#shards[hash & (SHARDS - 1)]?.get(hash);
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
    const buckets = this.#shards[hash & (SHARDS - 1)] ??= new Map();
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
    const buckets = this.#shards[hash & (SHARDS - 1)];
    const bucket = buckets?.get(hash);
    if (buckets === undefined || bucket === undefined) return undefined;
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
      if (buckets === undefined) continue;
      for (const bucket of buckets.values()) {
        if (Array.isArray(bucket)) yield* bucket;
        else yield bucket;
      }
    }
  }

  clear(): void {
    this.#shards.fill(undefined);
    this.#size = 0;
  }

  /** FNV-1a over the chars (bytes) of `key`, from the table's seed. */
  #hash(key: string): number {
    let h = 0x811c9dc5 ^ this.#seed;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    return (h ^ (h >>> 15)) & this.#mask;
  }
}
