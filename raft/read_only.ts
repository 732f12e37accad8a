/**
 * Pending ReadIndex requests at a leader (Raft thesis §6.4). In "safe" mode each request records
 * the commit index when it arrived, and is answered once a quorum acknowledged a heartbeat
 * carrying its context (proving that this node was still the leader). In "lease" mode the leader
 * answers at once, relying on CheckQuorum leases (bounded clock drift).
 */
import type { Message } from "./types.ts";
import { assert, bytesKey, EMPTY_BYTES } from "./util.ts";

export type ReadOnlyOption = "safe" | "lease";

/** Bound on pending read requests; beyond it requests are dropped (the client times out). */
export const MAX_PENDING_READ_INDEX = 4096;

export interface ReadIndexStatus {
  req: Message;
  index: number;
  /** Voters that acknowledged a heartbeat carrying this request's context. */
  acks: Map<number, boolean>;
}

export class ReadOnly {
  readonly option: ReadOnlyOption;
  #pending = new Map<string, ReadIndexStatus>();
  #queue: string[] = [];
  #queueContexts: Uint8Array[] = [];

  constructor(option: ReadOnlyOption) {
    this.option = option;
  }

  get pendingCount(): number {
    return this.#queue.length;
  }

  /** Queues a request read at `index`; returns false when it is a duplicate or the queue is full. */
  addRequest(index: number, m: Message): boolean {
    const ctx = m.entries[0]!.data;
    const key = bytesKey(ctx);
    if (this.#pending.has(key)) return false;
    if (this.#queue.length >= MAX_PENDING_READ_INDEX) return false;
    this.#pending.set(key, { req: m, index, acks: new Map() });
    this.#queue.push(key);
    this.#queueContexts.push(ctx);
    assert(this.#queue.length === this.#pending.size, "read queue matches pending map");
    return true;
  }

  /** Records a heartbeat ack from `id` for `ctx`; returns the acks so far, if the request exists. */
  recvAck(id: number, ctx: Uint8Array): Map<number, boolean> | undefined {
    const rs = this.#pending.get(bytesKey(ctx));
    if (rs === undefined) return undefined;
    rs.acks.set(id, true);
    return rs.acks;
  }

  /**
   * Dequeues the request with context `ctx` and every request queued before it (a heartbeat
   * round acknowledged later implies the earlier ones too).
   */
  advance(ctx: Uint8Array): ReadIndexStatus[] {
    const key = bytesKey(ctx);
    const at = this.#queue.indexOf(key);
    if (at < 0) return [];
    const done = this.#queue.splice(0, at + 1);
    this.#queueContexts.splice(0, at + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of done) {
      const rs = this.#pending.get(k);
      assert(rs !== undefined, "queued read request is pending");
      this.#pending.delete(k);
      out.push(rs);
    }
    assert(this.#queue.length === this.#pending.size, "read queue matches pending map");
    return out;
  }

  /** The context of the newest pending request (heartbeats carry it), or empty bytes. */
  lastPendingRequestCtx(): Uint8Array {
    return this.#queueContexts[this.#queueContexts.length - 1] ?? EMPTY_BYTES;
  }
}
