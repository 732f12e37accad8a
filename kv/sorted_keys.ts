/**
 * A sorted map from keys held as latin1 "binary strings" (one char per byte, so that JS string
 * comparison is byte order) to values. Stored as a list of sorted chunks of at most
 * `CHUNK_KEYS_MAX` keys, each with a parallel array of values (the idea of Python's
 * sortedcontainers): insert and delete cost a binary search plus a splice of one chunk, a range
 * costs a binary search plus the entries it visits, and a full scan walks arrays in order.
 */

/** A chunk is split in two when it grows past this. */
const CHUNK_KEYS_MAX = 2048;
/** fromSorted() fills chunks to this, leaving room to grow. */
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

export class SortedKeys<T> {
  #keys: string[][] = [];
  /** `#values[i][j]` belongs to `#keys[i][j]`. */
  #values: T[][] = [];
  /** `#maxes[i]` is the last (largest) key of `#keys[i]`. */
  #maxes: string[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /**
   * Builds the map from keys already in strictly ascending order, which is checked unless the
   * caller says it `checked` already. `values[i]` belongs to `keys[i]`.
   */
  static fromSorted<T>(
    keys: readonly string[],
    values: readonly T[],
    options?: { checked?: boolean },
  ): SortedKeys<T> {
    if (keys.length !== values.length) {
      throw new RangeError(`${keys.length} keys but ${values.length} values`);
    }
    for (let i = options?.checked ? keys.length : 1; i < keys.length; i++) {
      if (!(keys[i - 1]! < keys[i]!)) {
        throw new RangeError(`Keys are not strictly ascending at position ${i}`);
      }
    }
    const s = new SortedKeys<T>();
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

  /** Adds `key` with `value`; returns false (changing nothing) if `key` was present. */
  add(key: string, value: T): boolean {
    if (this.#keys.length === 0) {
      this.#keys.push([key]);
      this.#values.push([value]);
      this.#maxes.push(key);
      this.#size = 1;
      return true;
    }
    let c = this.#chunkFor(key);
    if (c === this.#keys.length) c--; // Larger than every key: append to the last chunk.
    const keys = this.#keys[c]!;
    const values = this.#values[c]!;
    const at = lowerBound(keys, key);
    if (keys[at] === key) return false;
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
    const c = this.#chunkFor(key);
    const keys = this.#keys[c];
    if (keys === undefined) return false;
    const values = this.#values[c]!;
    const at = lowerBound(keys, key);
    if (keys[at] !== key) return false;
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

  /** Calls `visit` with every entry in ascending order. The map must not change meanwhile. */
  forEach(visit: (key: string, value: T) => void): void {
    for (let c = 0; c < this.#keys.length; c++) {
      const keys = this.#keys[c]!;
      const values = this.#values[c]!;
      for (let i = 0; i < keys.length; i++) visit(keys[i]!, values[i]!);
    }
  }
}
