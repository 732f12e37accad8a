/**
 * Small byte arrays carved from a shared slab.
 *
 * V8 gives every typed array over 64 bytes its own off-heap buffer, which costs an allocation and
 * garbage-collector work per array. The encoders on the write path (a command per write, a batch
 * per peer message) take views of a 64 KiB slab instead. A full slab is replaced, never reused, so
 * a view stays valid for as long as it is held (and keeps its slab alive).
 */
export class SlabAllocator {
  readonly #slabBytes: number;
  readonly #itemBytesMax: number;
  #slab: Uint8Array<ArrayBuffer>;
  #used = 0;

  constructor(options: { slabBytes?: number; itemBytesMax?: number } = {}) {
    this.#slabBytes = options.slabBytes ?? 64 * 1024;
    this.#itemBytesMax = options.itemBytesMax ?? 4096;
    if (!(Number.isSafeInteger(this.#itemBytesMax) && this.#itemBytesMax > 0)) {
      throw new RangeError(`itemBytesMax must be a positive integer, got ${this.#itemBytesMax}`);
    }
    if (!(Number.isSafeInteger(this.#slabBytes) && this.#slabBytes >= this.#itemBytesMax)) {
      throw new RangeError(`slabBytes must be an integer >= itemBytesMax, got ${this.#slabBytes}`);
    }
    this.#slab = new Uint8Array(this.#slabBytes);
  }

  /** `n` zeroed bytes: a view of the slab, or an array of its own above `itemBytesMax`. */
  allocate(n: number): Uint8Array<ArrayBuffer> {
    if (n > this.#itemBytesMax) return new Uint8Array(n);
    if (this.#used + n > this.#slabBytes) {
      this.#slab = new Uint8Array(this.#slabBytes);
      this.#used = 0;
    }
    const out = this.#slab.subarray(this.#used, this.#used + n);
    this.#used += (n + 7) & ~7; // 8-byte aligned views
    return out;
  }
}
