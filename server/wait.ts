/**
 * Requests waiting for their raft entry to apply, keyed by the request id carried in the entry.
 * A waiter that never sees its entry (dropped by a leader that lost its term, say) fails at its
 * deadline with a timeout, so no request waits forever and the table stays bounded.
 */

export class WaitTimeoutError extends Error {
  override name = "WaitTimeoutError";
}

export class WaitCancelledError extends Error {
  override name = "WaitCancelledError";
}

interface Pending<T> {
  resolve(value: T): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export class WaitRegistry<T> {
  #pending = new Map<string, Pending<T>>();
  readonly #waitersMax: number;

  constructor(options: { waitersMax: number }) {
    if (options.waitersMax < 1) throw new RangeError("waitersMax must be at least 1");
    this.#waitersMax = options.waitersMax;
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Whether another waiter fits; callers answer 503 rather than queue without bound. */
  get full(): boolean {
    return this.#pending.size >= this.#waitersMax;
  }

  /** Registers `id`, which must be new, and returns the promise its `trigger` settles. */
  register(id: string, timeoutMs: number): Promise<T> {
    if (this.#pending.has(id)) throw new Error(`Cannot register request ${id}: already waiting`);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new WaitTimeoutError(`request ${id} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
    });
  }

  /** Settles the waiter for `id`, if this node has one; returns whether it had. */
  trigger(id: string, value: T): boolean {
    const pending = this.#pending.get(id);
    if (pending === undefined) return false;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(value);
    return true;
  }

  /** Fails one waiter (its proposal was refused before it entered the log). */
  cancel(id: string, error: Error): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    pending.reject(error);
  }

  /** Fails every waiter, at shutdown. */
  cancelAll(error: Error): void {
    for (const id of [...this.#pending.keys()]) this.cancel(id, error);
  }
}
