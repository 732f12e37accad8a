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

import assert from "node:assert/strict";
import type { Logger } from "../raft/logger.ts";
import type { Message } from "../raft/types.ts";
import {
  BATCH_MESSAGES_MAX,
  encodeBatch,
  encodedMessageSize,
  ENTRIES_PER_BATCH_MAX,
  ENTRIES_PER_MESSAGE_MAX,
  MESSAGE_BYTES_MAX,
} from "./codec.ts";
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

/** Counters of one peer's outgoing messages; plain numbers for the metrics endpoint. */
export interface PeerSendCounters {
  messagesSent: number;
  bytesSent: number;
  batchesSent: number;
  messagesDropped: number;
  sendFailures: number;
}

interface Queued {
  message: Message;
  bytes: number;
}

/** Longest response text kept for a log line. */
const ERROR_TEXT_BYTES_MAX = 512;

export class PeerSender {
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
  #queue: Queued[] = [];
  #queueBytes = 0;
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
    if (this.#stopped || this.#backoffTimer !== undefined) {
      this.counters.messagesDropped++;
      return false;
    }
    let bytes: number;
    try {
      bytes = encodedMessageSize(m);
    } catch (e) {
      // A bug upstream (say, a negative index); raft recovers from a dropped message.
      this.#ctx.logger.error(`Dropped raft message type ${m.type} to node ${this.id}: ${e}`);
      this.counters.messagesDropped++;
      return false;
    }
    if (bytes > MESSAGE_BYTES_MAX || m.entries.length > ENTRIES_PER_MESSAGE_MAX) {
      this.#ctx.logger.error(
        `Dropped raft message type ${m.type} to node ${this.id}: ${bytes} bytes and ` +
          `${m.entries.length} entries exceed the wire limits`,
      );
      this.counters.messagesDropped++;
      return false;
    }
    if (
      this.#queue.length >= this.#limits.queueMessagesMax ||
      this.#queueBytes + bytes > this.#limits.queueBytesMax
    ) {
      this.counters.messagesDropped++;
      return false;
    }
    this.#queue.push({ message: m, bytes });
    this.#queueBytes += bytes;
    return true;
  }

  /** Starts batches while there is room in flight and the peer is not backing off. */
  pump(): void {
    while (
      !this.#stopped && this.#backoffTimer === undefined && this.#queue.length > 0 &&
      this.#inflight.size < this.#limits.inflightBatchesMax
    ) {
      const batch = this.#takeBatch();
      const p: Promise<void> = this.#post(batch).catch((e) => {
        this.#ctx.logger.error(`Raft batch to node ${this.id} failed unexpectedly: ${e}`);
      }).finally(() => {
        this.#inflight.delete(p);
        this.pump();
      });
      this.#inflight.add(p);
    }
  }

  /** Takes the oldest messages, in order, up to the batch bounds (always at least one). */
  #takeBatch(): Queued[] {
    let n = 0;
    let bytes = 0;
    let entries = 0;
    const q = this.#queue;
    while (n < q.length && n < BATCH_MESSAGES_MAX) {
      const item = q[n]!;
      const e = item.message.entries.length;
      if (
        n > 0 && (bytes + item.bytes > this.#limits.batchBytesMax ||
          entries + e > ENTRIES_PER_BATCH_MAX)
      ) break;
      bytes += item.bytes;
      entries += e;
      n++;
    }
    assert(n > 0, "takeBatch on an empty queue");
    let batch: Queued[];
    if (n === q.length) {
      batch = q;
      this.#queue = [];
    } else {
      batch = q.splice(0, n);
    }
    this.#queueBytes -= bytes;
    // Invariant: queueBytes is the sum of the encoded sizes still queued.
    assert(this.#queueBytes >= 0 && (this.#queue.length > 0 || this.#queueBytes === 0));
    return batch;
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
    const dropped = messages + this.#queue.length;
    this.counters.sendFailures++;
    this.counters.messagesDropped += dropped;
    this.#queue = [];
    this.#queueBytes = 0;
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
    this.counters.messagesDropped += this.#queue.length;
    this.#queue = [];
    this.#queueBytes = 0;
    for (const c of this.#controllers) c.abort(new Error("transport stopped"));
    await Promise.allSettled([...this.#inflight]);
  }
}
