/**
 * What a peer's message senders share, the POST pipeline (peer_sender.ts) and the stream
 * (stream_sender.ts): the bounded queue, the counters, and the backoff after a failure.
 *
 * A failure drops the queue (raft resends from its own log), reports the peer unreachable and
 * starts a backoff (`backoffMinMs` doubling to `backoffMaxMs`) during which new messages are
 * dropped at once rather than piling up; when it ends, `retry` runs. `reachable()` (a batch got
 * through, a socket opened) resets it.
 */
import type { Message } from "../raft/types.ts";
import { MessageQueue } from "./message_queue.ts";
import type { PeerSendCounters, PeerSenderLimits, SenderContext } from "./peer_sender.ts";

export class PeerOutbox {
  readonly counters: PeerSendCounters = {
    messagesSent: 0,
    bytesSent: 0,
    batchesSent: 0,
    messagesDropped: 0,
    sendFailures: 0,
  };
  readonly queue: MessageQueue;
  #id: number;
  #ctx: SenderContext;
  #limits: PeerSenderLimits;
  #retry: () => void;
  /** 0 while the peer is healthy, else the current backoff. */
  #backoffMs = 0;
  #backoffTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(id: number, ctx: SenderContext, limits: PeerSenderLimits, retry: () => void) {
    this.#id = id;
    this.#ctx = ctx;
    this.#limits = limits;
    this.#retry = retry;
    this.queue = new MessageQueue(limits);
  }

  /** 0 while the peer is considered reachable, else the current backoff in ms. */
  get backoffMs(): number {
    return this.#backoffMs;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** True while messages may go out: not stopped and not backing off. */
  get open(): boolean {
    return !this.#stopped && this.#backoffTimer === undefined;
  }

  /** Queues `m`; false when it was dropped (queue full, peer down, or stopped). */
  enqueue(m: Message): boolean {
    if (!this.open || !this.queue.push(m, this.#id, this.#ctx.logger)) {
      this.counters.messagesDropped++;
      return false;
    }
    return true;
  }

  /** Counts a batch that went out. */
  sent(messages: number, bytes: number): void {
    this.counters.messagesSent += messages;
    this.counters.bytesSent += bytes;
    this.counters.batchesSent++;
  }

  /** The peer answered: an earlier backoff is over. */
  reachable(url: string): void {
    if (this.#backoffMs === 0 || this.#backoffTimer !== undefined) return;
    this.#ctx.logger.info(`Raft peer ${this.#id} at ${url} is reachable again`);
    this.#backoffMs = 0;
  }

  /**
   * Drops the queue (and counts `lost` messages that were in flight) and reports the peer
   * unreachable; with `backoff` (the default) also starts or keeps the backoff.
   */
  failed(reason: string, url: string, options: { lost?: number; backoff?: boolean } = {}): void {
    const dropped = (options.lost ?? 0) + this.queue.clear();
    this.counters.sendFailures++;
    this.counters.messagesDropped += dropped;
    const log = this.#backoffMs === 0 ? this.#ctx.logger.warn : this.#ctx.logger.debug;
    log.call(
      this.#ctx.logger,
      `Cannot send raft messages to node ${this.#id} at ${url}: ${reason}; dropped ${dropped}`,
    );
    this.#ctx.reportUnreachable(this.#id);
    if (options.backoff === false) return;
    if (this.#backoffTimer !== undefined) return; // another batch in flight failed first
    this.#backoffMs = this.#backoffMs === 0
      ? this.#limits.backoffMinMs
      : Math.min(this.#backoffMs * 2, this.#limits.backoffMaxMs);
    this.#backoffTimer = setTimeout(() => {
      this.#backoffTimer = undefined;
      this.#retry();
    }, this.#backoffMs);
  }

  /** Ends the backoff without retrying and drops the queue; nothing goes out after this. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#backoffTimer);
    this.#backoffTimer = undefined;
    this.counters.messagesDropped += this.queue.clear();
  }
}
