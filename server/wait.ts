/**
 * Requests waiting for their raft entry to apply, keyed by the request id carried in the entry.
 * A waiter that never sees its entry (dropped by a leader that lost its term, say) fails at its
 * deadline with a timeout, so no request waits forever and the table stays bounded.
 *
 * Every waiter of a registry has the same timeout, so insertion order is deadline order: one
 * sweeping timer expires them from the front, instead of a timer per request.
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
  deadline: number;
}

export class WaitRegistry<T> {
  /** In registration order, hence in deadline order. */
  #pending = new Map<string, Pending<T>>();
  readonly #waitersMax: number;
  readonly #timeoutMs: number;
  #sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(options: { waitersMax: number; timeoutMs: number }) {
    if (options.waitersMax < 1) throw new RangeError("waitersMax must be at least 1");
    if (!(options.timeoutMs > 0)) throw new RangeError("timeoutMs must be positive");
    this.#waitersMax = options.waitersMax;
    this.#timeoutMs = options.timeoutMs;
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Whether another waiter fits; callers answer 503 rather than queue without bound. */
  get full(): boolean {
    return this.#pending.size >= this.#waitersMax;
  }

  /** Registers `id`, which must be new, and returns the promise its `trigger` settles. */
  register(id: string): Promise<T> {
    if (this.#pending.has(id)) throw new Error(`Cannot register request ${id}: already waiting`);
    if (this.full) throw new RangeError(`Cannot register request ${id}: ${this.size} waiting`);
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, deadline: Date.now() + this.#timeoutMs });
      this.#sweeper ??= setInterval(() => this.#sweep(), Math.max(5, this.#timeoutMs / 20));
    });
  }

  /** Settles the waiter for `id`, if this node has one; returns whether it had. */
  trigger(id: string, value: T): boolean {
    const pending = this.#take(id);
    pending?.resolve(value);
    return pending !== undefined;
  }

  /** Fails one waiter (its proposal was refused before it entered the log). */
  cancel(id: string, error: Error): void {
    this.#take(id)?.reject(error);
  }

  /** Fails every waiter, at shutdown. */
  cancelAll(error: Error): void {
    for (const id of [...this.#pending.keys()]) this.cancel(id, error);
  }

  #take(id: string): Pending<T> | undefined {
    // Followers apply every write and wait for none of them: skip hashing the id.
    if (this.#pending.size === 0) return undefined;
    const pending = this.#pending.get(id);
    if (pending === undefined) return undefined;
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#stopSweeper();
    return pending;
  }

  #sweep(): void {
    const now = Date.now();
    for (const [id, pending] of this.#pending) {
      if (pending.deadline > now) break;
      this.#take(id);
      pending.reject(new WaitTimeoutError(`request ${id} timed out after ${this.#timeoutMs} ms`));
    }
  }

  #stopSweeper(): void {
    if (this.#sweeper === undefined) return;
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }
}
