/**
 * A sorted set of keys held as latin1 "binary strings" (one char per byte), so that JS string
 * comparison is byte order. Stored as a list of sorted chunks of at most `CHUNK_KEYS_MAX` keys
 * (the idea of Python's sortedcontainers): insert and delete cost a binary search plus a splice
 * of one chunk, a range costs a binary search plus the keys it returns.
 */

/** A chunk is split in two when it grows past this. */
const CHUNK_KEYS_MAX = 2048;
/** restore()/fromSorted() fill chunks to this, leaving room to grow. */
const CHUNK_KEYS_FILL = 1024;

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

export class SortedKeys {
  #chunks: string[][] = [];
  /** `#maxes[i]` is the last (largest) key of `#chunks[i]`. */
  #maxes: string[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Builds the set from keys already in strictly ascending order (asserted). */
  static fromSorted(keys: readonly string[]): SortedKeys {
    const s = new SortedKeys();
    for (let i = 1; i < keys.length; i++) {
      if (!(keys[i - 1]! < keys[i]!)) {
        throw new RangeError(`Keys are not strictly ascending at position ${i}`);
      }
    }
    for (let i = 0; i < keys.length; i += CHUNK_KEYS_FILL) {
      const chunk = keys.slice(i, i + CHUNK_KEYS_FILL);
      s.#chunks.push(chunk);
      s.#maxes.push(chunk[chunk.length - 1]!);
    }
    s.#size = keys.length;
    return s;
  }

  /** The index of the first chunk whose max is >= key, or #chunks.length. */
  #chunkFor(key: string): number {
    return lowerBound(this.#maxes, key);
  }

  /** Adds `key`; returns false if it was present. */
  add(key: string): boolean {
    if (this.#chunks.length === 0) {
      this.#chunks.push([key]);
      this.#maxes.push(key);
      this.#size = 1;
      return true;
    }
    let c = this.#chunkFor(key);
    if (c === this.#chunks.length) c--; // Larger than every key: append to the last chunk.
    const chunk = this.#chunks[c]!;
    const at = lowerBound(chunk, key);
    if (chunk[at] === key) return false;
    chunk.splice(at, 0, key);
    if (at === chunk.length - 1) this.#maxes[c] = key;
    this.#size++;
    if (chunk.length > CHUNK_KEYS_MAX) {
      const upper = chunk.splice(chunk.length >>> 1);
      this.#chunks.splice(c + 1, 0, upper);
      this.#maxes.splice(c, 0, chunk[chunk.length - 1]!);
    }
    return true;
  }

  /** Removes `key`; returns false if it was absent. */
  delete(key: string): boolean {
    const c = this.#chunkFor(key);
    const chunk = this.#chunks[c];
    if (chunk === undefined) return false;
    const at = lowerBound(chunk, key);
    if (chunk[at] !== key) return false;
    chunk.splice(at, 1);
    this.#size--;
    if (chunk.length === 0) {
      this.#chunks.splice(c, 1);
      this.#maxes.splice(c, 1);
    } else if (at === chunk.length) {
      this.#maxes[c] = chunk[chunk.length - 1]!;
    }
    return true;
  }

  /** Keys >= `from` in ascending order. The set must not change while iterating. */
  *from(from: string): Generator<string> {
    let c = this.#chunkFor(from);
    if (c >= this.#chunks.length) return;
    let i = lowerBound(this.#chunks[c]!, from);
    for (; c < this.#chunks.length; c++, i = 0) {
      const chunk = this.#chunks[c]!;
      for (; i < chunk.length; i++) yield chunk[i]!;
    }
  }

  /** Every key in ascending order, chunk by chunk (cheaper than `from("")`). */
  chunks(): readonly (readonly string[])[] {
    return this.#chunks;
  }
}
