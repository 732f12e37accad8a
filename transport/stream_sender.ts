/**
 * The message stream to one peer: one long-lived WebSocket (`GET /raft/stream`, upgraded), as
 * etcd's rafthttp keeps a stream per peer pair. The socket carries one direction only: we write
 * batches, the peer never answers on it (its messages to us come on its own stream), so there is
 * no request/response pairing and no round trip per batch.
 *
 * A bounded queue (the same bounds as the pipeline's) collects what `send()` hands over; `pump()`
 * schedules one flush in a microtask, so the several `send()` calls of one Ready coalesce, and
 * the flush writes everything queued as batches of at most `batchBytesMax`, one WebSocket message
 * per batch. Proposals a follower forwards wait a little longer, for the end of the event loop's
 * turn (`setImmediate`): each client request is its own task and its own Ready, and would be a
 * frame and a socket write of its own, and a frame to decode on the leader. Any other message
 * flushes at once, taking the proposals queued before it.
 *
 * The socket is opened on demand, when there is something to send: while it connects, messages
 * queue up to the bounds. If the socket's own buffer holds more than
 * `STREAM_BUFFERED_BYTES_MAX` (the peer does not read), the queue is dropped and the peer reported
 * unreachable rather than buffering without bound.
 *
 * A socket that fails to open within `requestTimeoutMs`, is refused, errs or closes marks the peer
 * down (outbox.ts): the queue is dropped (raft resends from its own log), `onUnreachable` is
 * reported, and for a backoff period (50 ms doubling to 250 ms) new messages are dropped at once.
 * The first message after the backoff opens a new socket; opening resets the backoff.
 *
 * The socket is our own small client (ws_client.ts) with TCP_NODELAY: with Deno's `WebSocket`,
 * a small frame written while an earlier one was unacknowledged waited for the peer's delayed
 * ACK. Known limit: nothing detects a peer that keeps the socket open but stops reading until
 * `STREAM_BUFFERED_BYTES_MAX` is buffered (the receiving server pings its clients every 30 s, not
 * the reverse).
 */

import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { type Message, MessageType } from "../raft/types.ts";
import { encodeBatch } from "./codec.ts";
import { PeerOutbox } from "./outbox.ts";
import { PeerSocket, SocketState } from "./ws_client.ts";
import type {
  MessageSender,
  PeerSendCounters,
  PeerSenderLimits,
  SenderContext,
} from "./peer_sender.ts";
import {
  HEADER_CLUSTER_ID,
  HEADER_FROM,
  HEADER_TO,
  STREAM_CLOSE_NORMAL,
  STREAM_PATH,
} from "./protocol.ts";

/** Bytes the socket may hold unsent before the peer counts as not reading. */
export const STREAM_BUFFERED_BYTES_MAX = 16 * 1024 * 1024;
/** How long stop() waits for a socket's close handshake before giving up on it. */
const CLOSE_WAIT_MS = 2000;

export class StreamSender implements MessageSender {
  readonly id: number;
  #url: string;
  #ctx: SenderContext;
  #limits: PeerSenderLimits;
  #outbox: PeerOutbox;
  /** The current socket, connecting or open; undefined while there is none. */
  #ws: PeerSocket | undefined;
  /** Every socket not yet closed (the current one and any being closed), to its close event. */
  #closing = new Map<PeerSocket, Promise<void>>();
  #flushScheduled = false;
  #immediateFlushScheduled = false;
  /** Something other than a proposal was queued since the last flush: flush it in a microtask. */
  #urgentQueued = false;

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

  /** Moves the peer: the current socket is closed and what follows goes to the new address. */
  set url(url: string) {
    if (url === this.#url) return;
    this.#url = url;
    const ws = this.#ws;
    if (ws === undefined) return;
    this.#ws = undefined;
    ws.close(STREAM_CLOSE_NORMAL, "peer moved");
    if (this.#outbox.queue.length > 0) this.pump();
  }

  get queuedMessages(): number {
    return this.#outbox.queue.length;
  }

  get backoffMs(): number {
    return this.#outbox.backoffMs;
  }

  enqueue(m: Message): boolean {
    if (m.type !== MessageType.MsgProp) this.#urgentQueued = true;
    return this.#outbox.enqueue(m);
  }

  pump(): void {
    if (!this.#outbox.open || this.#outbox.queue.length === 0) return;
    if (this.#ws === undefined) {
      this.#connect();
      return; // flushed on open
    }
    if (this.#ws.readyState === SocketState.Open) this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    if (!this.#urgentQueued) {
      // Only forwarded proposals: they go out with the others of this turn (see the header).
      if (this.#immediateFlushScheduled) return;
      this.#immediateFlushScheduled = true;
      setImmediate(() => {
        this.#immediateFlushScheduled = false;
        this.#flush();
      });
      return;
    }
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Writes everything queued to the open socket, one WebSocket message per batch. */
  #flush(): void {
    const ws = this.#ws;
    const queue = this.#outbox.queue;
    if (this.#outbox.stopped || ws === undefined || ws.readyState !== SocketState.Open) return;
    this.#urgentQueued = false;
    while (queue.length > 0) {
      if (ws.bufferedAmount > STREAM_BUFFERED_BYTES_MAX) {
        // The socket stays: it is open but not draining.
        const reason = `${ws.bufferedAmount} bytes are still unsent on the stream`;
        this.#outbox.failed(reason, this.#url, { backoff: false });
        return;
      }
      const batch = queue.takeBatch();
      // Sizes were computed at enqueue time; the encoder checks them again.
      const bytes = encodeBatch(batch.map((q) => q.message), batch.map((q) => q.bytes));
      ws.send(bytes);
      this.#outbox.sent(batch.length, bytes.length);
    }
  }

  #connect(): void {
    assert(this.#ws === undefined && this.#outbox.open);
    const url = this.#url.replace(/^http/, "ws") + STREAM_PATH;
    let ws: PeerSocket;
    try {
      ws = new PeerSocket(url, {
        headers: {
          [HEADER_CLUSTER_ID]: this.#ctx.clusterId,
          [HEADER_FROM]: String(this.#ctx.localId),
          [HEADER_TO]: String(this.id),
        },
      });
    } catch (e) {
      // A URL the WebSocket constructor refuses; addPeer checked it is http(s).
      this.#outbox.failed(`cannot open ${url}: ${e}`, this.#url);
      return;
    }
    this.#ws = ws;
    let reason: string | undefined;
    const timer = setTimeout(() => {
      reason = `not open after ${this.#limits.requestTimeoutMs} ms`;
      ws.close();
    }, this.#limits.requestTimeoutMs);
    let closed!: () => void;
    this.#closing.set(ws, new Promise<void>((resolve) => closed = resolve));
    ws.onopen = () => {
      clearTimeout(timer);
      if (this.#ws !== ws) return;
      this.#outbox.reachable(this.#url);
      this.#scheduleFlush();
    };
    ws.onerror = (e) => {
      reason ??= e.message;
    };
    ws.onclose = (e) => {
      clearTimeout(timer);
      this.#closing.delete(ws);
      closed();
      if (this.#ws !== ws || this.#outbox.stopped) return;
      this.#ws = undefined;
      const why = reason ??
        `stream closed with code ${e.code}${e.reason === "" ? "" : ` (${e.reason})`}`;
      this.#outbox.failed(why, this.#url);
    };
  }

  async stop(): Promise<void> {
    this.#outbox.stop();
    this.#ws = undefined;
    for (const ws of this.#closing.keys()) {
      if (ws.readyState !== SocketState.Closed) ws.close(STREAM_CLOSE_NORMAL, "transport stopped");
    }
    await settleWithin([...this.#closing.values()], CLOSE_WAIT_MS);
  }
}

/** Waits for `promises` to settle, or `ms` at most (a peer that never completes a close). */
export async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  if (promises.length === 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
  try {
    await Promise.race([Promise.allSettled(promises), limit]);
  } finally {
    clearTimeout(timer);
  }
}
