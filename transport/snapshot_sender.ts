/**
 * Sends MsgSnap to one peer on its own route (`POST /raft/snapshot`), apart from the message
 * pipeline so that a large snapshot never holds up heartbeats. One snapshot at a time per peer:
 * raft sends a new one only after the previous is reported. The body is streamed from the encoded
 * head and the snapshot data itself, in slices, so the data is never copied.
 */

import { type Message, SnapshotStatus } from "../raft/types.ts";
import { encodeMessageParts } from "./codec.ts";
import { postToPeer } from "./peer_post.ts";
import type { SenderContext } from "./peer_sender.ts";
import { HEADER_SNAPSHOT_BYTES, SNAPSHOT_PATH } from "./protocol.ts";

/** Slice of the body handed to the HTTP client at a time. */
const CHUNK_BYTES = 1024 * 1024;

export interface SnapshotCounters {
  snapshotsSent: number;
  snapshotBytesSent: number;
  snapshotFailures: number;
}

export class SnapshotSender {
  readonly counters: SnapshotCounters = {
    snapshotsSent: 0,
    snapshotBytesSent: 0,
    snapshotFailures: 0,
  };
  #id: number;
  #ctx: SenderContext;
  #url: () => string;
  #timeoutMs: number;
  #prepare: (m: Message) => Promise<Message>;
  /** Deferred by the transport: never called from inside `send()`. */
  #reportStatus: (id: number, status: SnapshotStatus) => void;
  #active: { controller: AbortController; done: Promise<void> } | undefined;
  #stopped = false;

  constructor(options: {
    id: number;
    url: () => string;
    ctx: SenderContext;
    timeoutMs: number;
    /** Gives the message its data before it is sent. */
    prepare?: (m: Message) => Promise<Message>;
    reportStatus: (id: number, status: SnapshotStatus) => void;
  }) {
    this.#id = options.id;
    this.#url = options.url;
    this.#ctx = options.ctx;
    this.#timeoutMs = options.timeoutMs;
    this.#prepare = options.prepare ?? ((m) => Promise.resolve(m));
    this.#reportStatus = options.reportStatus;
  }

  get sending(): boolean {
    return this.#active !== undefined;
  }

  /** Starts sending `m` (a MsgSnap); the outcome is reported as Finish or Failure. */
  send(m: Message): void {
    if (this.#stopped) return;
    if (this.#active !== undefined) {
      this.#ctx.logger.warn(
        `Dropped snapshot at index ${m.snapshot?.metadata.index} to node ${this.#id}: ` +
          `another snapshot is still being sent`,
      );
      this.counters.snapshotFailures++;
      this.#reportStatus(this.#id, SnapshotStatus.Failure);
      return;
    }
    const controller = new AbortController();
    const done = this.#post(m, controller).catch((e) => {
      this.#ctx.logger.error(`Snapshot to node ${this.#id} failed unexpectedly: ${e}`);
      if (!this.#stopped) this.#reportStatus(this.#id, SnapshotStatus.Failure);
    }).finally(() => {
      this.#active = undefined;
    });
    this.#active = { controller, done };
  }

  async #post(raw: Message, controller: AbortController): Promise<void> {
    let m: Message;
    try {
      m = await this.#prepare(raw);
    } catch (e) {
      if (this.#stopped) return;
      this.counters.snapshotFailures++;
      this.#ctx.logger.warn(`Cannot prepare snapshot for node ${this.#id}: ${e}`);
      this.#reportStatus(this.#id, SnapshotStatus.Failure);
      return;
    }
    try {
      await this.#postPrepared(m, controller);
    } finally {
      // Prepared data is ours alone (see HttpTransportOptions.prepareSnapshot): an image of
      // hundreds of MB is freed now rather than at the next full garbage collection.
      const data = m.snapshot?.data;
      if (m !== raw && data?.buffer instanceof ArrayBuffer) data.buffer.transfer(0);
    }
  }

  async #postPrepared(m: Message, controller: AbortController): Promise<void> {
    if (this.#stopped) return;
    const [head, data] = encodeMessageParts(m);
    const total = head.length + data.length;
    const url = this.#url();
    const failure = await postToPeer({
      ctx: this.#ctx,
      to: this.#id,
      url: url + SNAPSHOT_PATH,
      body: sliceStream([head, data]),
      headers: { [HEADER_SNAPSHOT_BYTES]: String(total) },
      controller,
      timeoutMs: this.#timeoutMs,
    });
    if (this.#stopped) return;
    const index = m.snapshot?.metadata.index;
    if (failure === undefined) {
      this.counters.snapshotsSent++;
      this.counters.snapshotBytesSent += total;
      this.#ctx.logger.info(`Sent snapshot at index ${index} (${total} bytes) to node ${this.#id}`);
      this.#reportStatus(this.#id, SnapshotStatus.Finish);
    } else {
      this.counters.snapshotFailures++;
      this.#ctx.logger.warn(
        `Cannot send snapshot at index ${index} to node ${this.#id} at ${url}: ${failure}`,
      );
      this.#ctx.reportUnreachable(this.#id);
      this.#reportStatus(this.#id, SnapshotStatus.Failure);
    }
  }

  /** Aborts a snapshot in flight (no status is reported) and resolves once it has settled. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const active = this.#active;
    if (active === undefined) return;
    active.controller.abort(new Error("transport stopped"));
    await active.done;
  }
}

/** A stream over `parts` in slices of at most CHUNK_BYTES, without copying them. */
function sliceStream(parts: Uint8Array[]): ReadableStream<Uint8Array> {
  let part = 0;
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      while (part < parts.length && offset >= parts[part]!.length) {
        part++;
        offset = 0;
      }
      const p = parts[part];
      if (p === undefined) {
        controller.close();
        return;
      }
      const end = Math.min(offset + CHUNK_BYTES, p.length);
      controller.enqueue(p.subarray(offset, end));
      offset = end;
    },
  });
}
