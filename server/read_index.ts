/**
 * Linearizable reads through raft's ReadIndex (Raft thesis §6.4), batched: every read that
 * arrives while one ReadIndex request is in flight shares the next one. A read may only share a
 * request issued after it arrived, or it could observe a state older than a write that finished
 * before it started.
 *
 * A read is served once this node has applied up to the index the leader confirmed. A request
 * that raft drops (no leader, leadership lost) is issued again after `retryMs`; each read gives up
 * at its own deadline.
 */

export class ReadTimeoutError extends Error {
  override name = "ReadTimeoutError";
}

interface Reader {
  resolve(): void;
  reject(error: Error): void;
  deadline: number;
}

export interface ReadIndexOptions {
  /** Hands a request to raft (`node.readIndex`). */
  issue(context: Uint8Array): void;
  /** The node's applied index right now. */
  appliedIndex(): number;
  /** How long a read waits in all. */
  timeoutMs: number;
  /** How long an unanswered ReadIndex request lives before it is issued again. */
  retryMs: number;
  /** Bound on waiting reads; past it `read()` throws at once. */
  readersMax: number;
}

export class ReadIndexBatcher {
  #options: ReadIndexOptions;
  #waiting: Reader[] = [];
  #inflight: { context: string; readers: Reader[]; issuedAt: number } | undefined;
  /** Confirmed, waiting for apply; indexes are non-decreasing in this queue. */
  #confirmed: { index: number; readers: Reader[] }[] = [];
  #sequence = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #count = 0;

  constructor(options: ReadIndexOptions) {
    if (options.retryMs <= 0 || options.timeoutMs <= 0) {
      throw new RangeError("timeoutMs and retryMs must be positive");
    }
    this.#options = options;
  }

  get pending(): number {
    return this.#count;
  }

  /** Resolves once the node's state is at least as new as any write completed before the call. */
  read(): Promise<void> {
    if (this.#count >= this.#options.readersMax) {
      return Promise.reject(new ReadTimeoutError("too many reads waiting"));
    }
    return new Promise<void>((resolve, reject) => {
      this.#count++;
      this.#waiting.push({ resolve, reject, deadline: Date.now() + this.#options.timeoutMs });
      this.#startTimer();
      if (this.#inflight === undefined) this.#issue(this.#takeWaiting());
    });
  }

  /** The ReadStates of a Ready. States this batcher did not issue are ignored. */
  onReadStates(states: { index: number; requestCtx: Uint8Array }[]): void {
    for (const state of states) {
      const inflight = this.#inflight;
      if (inflight === undefined || decodeContext(state.requestCtx) !== inflight.context) continue;
      this.#inflight = undefined;
      const last = this.#confirmed.at(-1);
      // Keep the queue sorted: a later confirmation is never allowed to be served earlier.
      const index = Math.max(state.index, last?.index ?? 0);
      this.#confirmed.push({ index, readers: inflight.readers });
      if (this.#waiting.length > 0) this.#issue(this.#takeWaiting());
    }
    this.onApplied();
  }

  /** Call after applying entries: serves every read whose index is now applied. */
  onApplied(): void {
    const applied = this.#options.appliedIndex();
    while (this.#confirmed.length > 0 && this.#confirmed[0]!.index <= applied) {
      for (const reader of this.#confirmed.shift()!.readers) this.#settle(reader);
    }
  }

  /** Fails every read (shutdown). */
  close(error: Error): void {
    const all = [
      ...this.#waiting,
      ...(this.#inflight?.readers ?? []),
      ...this.#confirmed.flatMap((batch) => batch.readers),
    ];
    this.#waiting = [];
    this.#inflight = undefined;
    this.#confirmed = [];
    for (const reader of all) this.#settle(reader, error);
    this.#stopTimer();
  }

  #takeWaiting(): Reader[] {
    const readers = this.#waiting;
    this.#waiting = [];
    return readers;
  }

  #issue(readers: Reader[]): void {
    const context = `r${++this.#sequence}`;
    this.#inflight = { context, readers, issuedAt: Date.now() };
    this.#options.issue(new TextEncoder().encode(context));
  }

  #settle(reader: Reader, error?: Error): void {
    this.#count--;
    if (error) reader.reject(error);
    else reader.resolve();
    if (this.#count === 0) this.#stopTimer();
  }

  /** Expires reads past their deadline and re-issues a ReadIndex request raft never answered. */
  #sweep(): void {
    const now = Date.now();
    const expired = (reader: Reader) => reader.deadline <= now;
    const timeout = new ReadTimeoutError("read timed out waiting for the leader to confirm it");
    const expire = (readers: Reader[]) => {
      const keep = readers.filter((reader) => !expired(reader));
      for (const reader of readers) if (expired(reader)) this.#settle(reader, timeout);
      return keep;
    };
    this.#waiting = expire(this.#waiting);
    for (const batch of this.#confirmed) batch.readers = expire(batch.readers);
    this.#confirmed = this.#confirmed.filter((batch) => batch.readers.length > 0);
    const inflight = this.#inflight;
    if (inflight !== undefined) {
      inflight.readers = expire(inflight.readers);
      if (now - inflight.issuedAt >= this.#options.retryMs) {
        this.#inflight = undefined;
        const readers = [...inflight.readers, ...this.#takeWaiting()];
        if (readers.length > 0) this.#issue(readers);
      }
    } else if (this.#waiting.length > 0) {
      this.#issue(this.#takeWaiting());
    }
  }

  #startTimer(): void {
    if (this.#timer !== undefined) return;
    const period = Math.max(5, Math.min(this.#options.retryMs, this.#options.timeoutMs) / 4);
    this.#timer = setInterval(() => this.#sweep(), period);
  }

  #stopTimer(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

function decodeContext(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}
