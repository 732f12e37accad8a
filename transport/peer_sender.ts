/**
 * The message pipeline to one peer: a bounded queue drained by batched POSTs, at most
 * `inflightBatchesMax` at a time. Whatever is queued when a batch completes goes out as the next
 * batch (group batching), so batches grow with load and a single message goes out at once.
 *
 * A failed batch marks the peer down (outbox.ts): the batch and everything queued are dropped,
 * the peer is reported unreachable, and new messages are dropped during a backoff. The first batch
 * after the backoff probes the peer; a success resets the backoff.
 */

import type { Logger } from "../raft/logger.ts";
import type { Message } from "../raft/types.ts";
import { encodeBatch } from "./codec.ts";
import type { Queued } from "./message_queue.ts";
import { PeerOutbox } from "./outbox.ts";
import { postToPeer } from "./peer_post.ts";
import { MESSAGES_PATH } from "./protocol.ts";

/** What every sender of one transport shares. */
export interface SenderContext {
  localId: number;
  clusterId: string;
  client: Deno.HttpClient;
  logger: Logger;
  /** Deferred by the transport: never called from inside `send()`. */
  reportUnreachable(id: number): void;
}

export interface PeerSenderLimits {
  queueMessagesMax: number;
  queueBytesMax: number;
  batchBytesMax: number;
  inflightBatchesMax: number;
  requestTimeoutMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
}

/** What the transport needs of a peer's message sender: the POST pipeline or the stream. */
export interface MessageSender {
  readonly id: number;
  readonly counters: PeerSendCounters;
  /** The peer's base URL; setting it sends what follows to the new address. */
  url: string;
  readonly queuedMessages: number;
  /** 0 while the peer is considered reachable, else the current backoff in ms. */
  readonly backoffMs: number;
  /** Queues `m`; false when it was dropped and raft should be told the peer is unreachable. */
  enqueue(m: Message): boolean;
  /** Starts sending what is queued; called once after a group of `enqueue` calls. */
  pump(): void;
  /** Drops the queue, ends every request or connection, and resolves once they have settled. */
  stop(): Promise<void>;
}

/** Counters of one peer's outgoing messages; plain numbers for the metrics endpoint. */
export interface PeerSendCounters {
  messagesSent: number;
  bytesSent: number;
  batchesSent: number;
  messagesDropped: number;
  sendFailures: number;
}

export class PeerSender implements MessageSender {
  readonly id: number;
  #url: string;
  #ctx: SenderContext;
  #limits: PeerSenderLimits;
  #outbox: PeerOutbox;
  #inflight = new Set<Promise<void>>();
  #controllers = new Set<AbortController>();

  constructor(id: number, url: string, ctx: SenderContext, limits: PeerSenderLimits) {
    this.id = id;
    this.#url = url;
    this.#ctx = ctx;
    this.#limits = limits;
    this.#outbox = new PeerOutbox(id, ctx, limits, () => this.pump());
  }

  get counters(): PeerSendCounters {
    return this.#outbox.counters;
  }

  get url(): string {
    return this.#url;
  }

  set url(url: string) {
    this.#url = url;
  }

  get queuedMessages(): number {
    return this.#outbox.queue.length;
  }

  get backoffMs(): number {
    return this.#outbox.backoffMs;
  }

  enqueue(m: Message): boolean {
    return this.#outbox.enqueue(m);
  }

  /** Starts batches while there is room in flight and the peer is not backing off. */
  pump(): void {
    const queue = this.#outbox.queue;
    while (
      this.#outbox.open && queue.length > 0 &&
      this.#inflight.size < this.#limits.inflightBatchesMax
    ) {
      const batch = queue.takeBatch();
      const p: Promise<void> = this.#post(batch).catch((e) => {
        this.#ctx.logger.error(`Raft batch to node ${this.id} failed unexpectedly: ${e}`);
      }).finally(() => {
        this.#inflight.delete(p);
        this.pump();
      });
      this.#inflight.add(p);
    }
  }

  async #post(batch: Queued[]): Promise<void> {
    // Sizes were computed at enqueue time; the encoder checks them again.
    const body = encodeBatch(batch.map((q) => q.message), batch.map((q) => q.bytes));
    const controller = new AbortController();
    this.#controllers.add(controller);
    const failure = await postToPeer({
      ctx: this.#ctx,
      to: this.id,
      url: this.#url + MESSAGES_PATH,
      body,
      controller,
      timeoutMs: this.#limits.requestTimeoutMs,
    });
    this.#controllers.delete(controller);
    if (this.#outbox.stopped) return;
    if (failure === undefined) {
      this.#outbox.sent(batch.length, body.length);
      this.#outbox.reachable(this.#url);
    } else {
      this.#outbox.failed(failure, this.#url, { lost: batch.length });
    }
  }

  /** Aborts what is in flight, drops the queue and resolves once every request has settled. */
  async stop(): Promise<void> {
    this.#outbox.stop();
    for (const c of this.#controllers) c.abort(new Error("transport stopped"));
    await Promise.allSettled([...this.#inflight]);
  }
}
