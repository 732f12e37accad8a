/**
 * Inflights: the MsgApp messages sent to one follower and not yet acknowledged, as a ring buffer
 * of (last index, bytes). It bounds the optimistic pipeline both by message count and by bytes
 * (etcd's tracker.Inflights). Typed arrays: adding and freeing allocate nothing.
 */
import { assert } from "../util.ts";

export class Inflights {
  /** The maximum number of messages in flight. */
  readonly size: number;
  /** The maximum payload bytes in flight; 0 means no byte limit. */
  readonly maxBytes: number;
  #start = 0;
  #count = 0;
  #bytes = 0;
  #index: Float64Array;
  #sizes: Float64Array;

  constructor(size: number, maxBytes: number) {
    assert(Number.isSafeInteger(size) && size > 0, "inflights size is positive");
    assert(maxBytes >= 0, "inflights maxBytes is non-negative");
    this.size = size;
    this.maxBytes = maxBytes;
    // Start small and grow up to `size`: most followers keep few messages in flight.
    const cap = Math.min(size, 16);
    this.#index = new Float64Array(cap);
    this.#sizes = new Float64Array(cap);
  }

  get count(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Records a message whose last entry is `index`, carrying `bytes` of payload. */
  add(index: number, bytes: number): void {
    assert(!this.full(), "cannot add to full inflights");
    if (this.#count > 0) {
      const lastPos = (this.#start + this.#count - 1) % this.#index.length;
      assert(index > this.#index[lastPos]!, "inflight indexes increase");
    }
    if (this.#count === this.#index.length) this.#grow();
    const pos = (this.#start + this.#count) % this.#index.length;
    this.#index[pos] = index;
    this.#sizes[pos] = bytes;
    this.#count++;
    this.#bytes += bytes;
  }

  #grow(): void {
    const cap = Math.min(this.size, this.#index.length * 2);
    assert(cap > this.#index.length, "inflights grow within size");
    const index = new Float64Array(cap);
    const sizes = new Float64Array(cap);
    for (let k = 0; k < this.#count; k++) {
      const pos = (this.#start + k) % this.#index.length;
      index[k] = this.#index[pos]!;
      sizes[k] = this.#sizes[pos]!;
    }
    this.#index = index;
    this.#sizes = sizes;
    this.#start = 0;
  }

  /** Frees every message whose last index is <= `to` (they were acknowledged). */
  freeLE(to: number): void {
    const cap = this.#index.length;
    let freed = 0;
    let bytes = 0;
    let pos = this.#start;
    while (freed < this.#count && this.#index[pos]! <= to) {
      bytes += this.#sizes[pos]!;
      freed++;
      pos = pos + 1 === cap ? 0 : pos + 1;
    }
    this.#count -= freed;
    this.#bytes -= bytes;
    this.#start = this.#count === 0 ? 0 : pos;
    assert(this.#count >= 0 && this.#bytes >= -1e-9, "inflights never go negative");
  }

  /** Frees the oldest message. */
  freeFirstOne(): void {
    if (this.#count === 0) return;
    this.freeLE(this.#index[this.#start]!);
  }

  full(): boolean {
    return this.#count === this.size || (this.maxBytes !== 0 && this.#bytes >= this.maxBytes);
  }

  reset(): void {
    this.#count = 0;
    this.#bytes = 0;
    this.#start = 0;
  }
}
