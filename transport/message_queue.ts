/**
 * The bounded queue of raft messages waiting for one peer, shared by both message senders (the
 * POST pipeline in `peer_sender.ts` and the WebSocket stream in `stream_sender.ts`): bounded in
 * messages and in encoded bytes, drained oldest first in batches.
 */

import assert from "node:assert/strict";
import type { Logger } from "../raft/logger.ts";
import type { Message } from "../raft/types.ts";
import {
  BATCH_MESSAGES_MAX,
  encodedMessageSize,
  ENTRIES_PER_BATCH_MAX,
  ENTRIES_PER_MESSAGE_MAX,
  MESSAGE_BYTES_MAX,
} from "./codec.ts";

export interface Queued {
  message: Message;
  /** `encodedMessageSize(message)`, computed once at enqueue time. */
  bytes: number;
}

export class MessageQueue {
  #items: Queued[] = [];
  #bytes = 0;

  constructor(
    readonly limits: { queueMessagesMax: number; queueBytesMax: number; batchBytesMax: number },
  ) {}

  get length(): number {
    return this.#items.length;
  }

  /**
   * Queues `m`; false when it does not fit (queue full) or cannot go on the wire at all (invalid
   * or oversized, logged as an error: a bug upstream that raft recovers from by resending).
   */
  push(m: Message, peer: number, logger: Logger): boolean {
    let bytes: number;
    try {
      bytes = encodedMessageSize(m);
    } catch (e) {
      // A bug upstream (say, a negative index); raft recovers from a dropped message.
      logger.error(`Dropped raft message type ${m.type} to node ${peer}: ${e}`);
      return false;
    }
    if (bytes > MESSAGE_BYTES_MAX || m.entries.length > ENTRIES_PER_MESSAGE_MAX) {
      logger.error(
        `Dropped raft message type ${m.type} to node ${peer}: ${bytes} bytes and ` +
          `${m.entries.length} entries exceed the wire limits`,
      );
      return false;
    }
    if (
      this.#items.length >= this.limits.queueMessagesMax ||
      this.#bytes + bytes > this.limits.queueBytesMax
    ) {
      return false;
    }
    this.#items.push({ message: m, bytes });
    this.#bytes += bytes;
    return true;
  }

  /** Takes the oldest messages, in order, up to the batch bounds (always at least one). */
  takeBatch(): Queued[] {
    let n = 0;
    let bytes = 0;
    let entries = 0;
    const q = this.#items;
    while (n < q.length && n < BATCH_MESSAGES_MAX) {
      const item = q[n]!;
      const e = item.message.entries.length;
      if (
        n > 0 && (bytes + item.bytes > this.limits.batchBytesMax ||
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
      this.#items = [];
    } else {
      batch = q.splice(0, n);
    }
    this.#bytes -= bytes;
    // Invariant: bytes is the sum of the encoded sizes still queued.
    assert(this.#bytes >= 0 && (this.#items.length > 0 || this.#bytes === 0));
    return batch;
  }

  /** Drops everything queued; returns how many messages were dropped. */
  clear(): number {
    const n = this.#items.length;
    this.#items = [];
    this.#bytes = 0;
    return n;
  }
}
