/**
 * The message pipeline to one peer: a bounded queue drained by batched POSTs, at most
 * `inflightBatchesMax` at a time. Whatever is queued when a batch completes goes out as the next
 * batch (group batching), so batches grow with load and a single message goes out at once.
 *
 * A failed batch marks the peer down: the batch and everything queued are dropped (raft resends
 * from its own log), `onUnreachable` is reported, and for a backoff period (50 ms doubling to 2 s)
 * new messages are dropped at once rather than piling up. The first batch after the backoff probes
 * the peer; a success resets the backoff.
 */

import type { Logger } from "../raft/logger.ts";
import type { Message } from "../raft/types.ts";
import { encodeBatch } from "./codec.ts";
import { MessageQueue, type Queued } from "./message_queue.ts";
import { readTextPrefix } from "./body.ts";
import { HEADER_CLUSTER_ID, HEADER_FROM, HEADER_TO, MESSAGES_PATH } from "./protocol.ts";

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

/** Longest response text kept for a log line. */
const ERROR_TEXT_BYTES_MAX = 512;

export class PeerSender implements MessageSender {
  readonly id: number;
  readonly counters: PeerSendCounters = {
    messagesSent: 0,
    bytesSent: 0,
    batchesSent: 0,
    messagesDropped: 0,
    sendFailures: 0,
  };
  #url: string;
  #ctx: SenderContext;
  #limits: PeerSenderLimits;
  #queue: MessageQueue;
  #inflight = new Set<Promise<void>>();
  #controllers = new Set<AbortController>();
  /** 0 while the peer is healthy, else the current backoff. */
  #backoffMs = 0;
  #backoffTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(id: number, url: string, ctx: SenderContext, limits: PeerSenderLimits) {
    this.id = id;
    this.#url = url;
    this.#ctx = ctx;
    this.#limits = limits;
    this.#queue = new MessageQueue(limits);
  }

  get url(): string {
    return this.#url;
  }

  set url(url: string) {
    this.#url = url;
  }

  get queuedMessages(): number {
    return this.#queue.length;
  }

  /** The current backoff, 0 while the peer is considered reachable. */
  get backoffMs(): number {
    return this.#backoffMs;
  }

  /**
   * Queues `m`; false when it was dropped (queue full, peer down, or stopped) and raft should be
   * told the peer is unreachable. Call `pump()` once after queueing a group of messages.
   */
  enqueue(m: Message): boolean {
    if (
      this.#stopped || this.#backoffTimer !== undefined ||
      !this.#queue.push(m, this.id, this.#ctx.logger)
    ) {
      this.counters.messagesDropped++;
      return false;
    }
    return true;
  }

  /** Starts batches while there is room in flight and the peer is not backing off. */
  pump(): void {
    while (
      !this.#stopped && this.#backoffTimer === undefined && this.#queue.length > 0 &&
      this.#inflight.size < this.#limits.inflightBatchesMax
    ) {
      const batch = this.#queue.takeBatch();
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
    const timer = setTimeout(() => {
      controller.abort(new Error(`timed out after ${this.#limits.requestTimeoutMs} ms`));
    }, this.#limits.requestTimeoutMs);
    this.#controllers.add(controller);
    let failure: string | undefined;
    try {
      const res = await fetch(this.#url + MESSAGES_PATH, {
        method: "POST",
        body,
        headers: {
          "content-type": "application/octet-stream",
          [HEADER_CLUSTER_ID]: this.#ctx.clusterId,
          [HEADER_FROM]: String(this.#ctx.localId),
          [HEADER_TO]: String(this.id),
        },
        signal: controller.signal,
        client: this.#ctx.client,
      });
      if (res.ok) {
        await res.body?.cancel();
      } else {
        failure = `HTTP ${res.status}: ${await readTextPrefix(res, ERROR_TEXT_BYTES_MAX)}`;
      }
    } catch (e) {
      failure = controller.signal.aborted && controller.signal.reason instanceof Error
        ? controller.signal.reason.message
        : String(e);
    } finally {
      clearTimeout(timer);
      this.#controllers.delete(controller);
    }
    if (this.#stopped) return;
    if (failure === undefined) {
      this.#onSuccess(batch.length, body.length);
    } else {
      this.#onFailure(batch.length, failure);
    }
  }

  #onSuccess(messages: number, bytes: number): void {
    this.counters.messagesSent += messages;
    this.counters.bytesSent += bytes;
    this.counters.batchesSent++;
    if (this.#backoffMs !== 0 && this.#backoffTimer === undefined) {
      this.#ctx.logger.info(`Raft peer ${this.id} at ${this.#url} is reachable again`);
      this.#backoffMs = 0;
    }
  }

  #onFailure(messages: number, reason: string): void {
    const dropped = messages + this.#queue.clear();
    this.counters.sendFailures++;
    this.counters.messagesDropped += dropped;
    const log = this.#backoffMs === 0 ? this.#ctx.logger.warn : this.#ctx.logger.debug;
    log.call(
      this.#ctx.logger,
      `Cannot send ${messages} raft messages to node ${this.id} at ${this.#url}: ${reason}; ` +
        `dropped ${dropped}`,
    );
    this.#ctx.reportUnreachable(this.id);
    if (this.#backoffTimer !== undefined) return; // another batch in flight failed first
    this.#backoffMs = this.#backoffMs === 0
      ? this.#limits.backoffMinMs
      : Math.min(this.#backoffMs * 2, this.#limits.backoffMaxMs);
    this.#backoffTimer = setTimeout(() => {
      this.#backoffTimer = undefined;
      this.pump();
    }, this.#backoffMs);
  }

  /** Aborts what is in flight, drops the queue and resolves once every request has settled. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#backoffTimer);
    this.#backoffTimer = undefined;
    this.counters.messagesDropped += this.#queue.clear();
    for (const c of this.#controllers) c.abort(new Error("transport stopped"));
    await Promise.allSettled([...this.#inflight]);
  }
}
