/**
 * Node: the async wrapper around RawNode for a single-threaded event loop. Input methods act at
 * once (synchronously). `ready()` is an async iterator that yields a Ready whenever there is work
 * and the previous Ready was advanced:
 *
 *   for await (const rd of node.ready()) {
 *     await persist(rd);          // snapshot, hardState, entries (fsync if rd.mustSync)
 *     transport.send(rd.messages);
 *     apply(rd);                  // snapshot, then committedEntries
 *     node.advance();
 *   }
 *
 * No timers inside: the caller calls `tick()` on its own clock. `stop()` ends the iteration.
 */
import type { Config } from "./config.ts";
import { ProposalDroppedError } from "./errors.ts";
import { RawNode } from "./raw_node.ts";
import type { Status } from "./status.ts";
import type { ConfChange, ConfState, Message, Ready, SnapshotStatus } from "./types.ts";
import { assert } from "./util.ts";

export class Node {
  readonly #rn: RawNode;
  #stopped = false;
  #iterating = false;
  /** A Ready was yielded and advance() was not called yet. */
  #awaitingAdvance = false;
  /** Resolves the promise the ready() loop waits on, when it waits. */
  #wake: (() => void) | undefined = undefined;

  constructor(config: Config) {
    this.#rn = new RawNode(config);
  }

  /** The underlying RawNode (for status details and tests). */
  get rawNode(): RawNode {
    return this.#rn;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** See RawNode.bootstrap: starts a new cluster on empty storage. */
  bootstrap(peers: readonly number[]): void {
    this.#rn.bootstrap(peers);
    this.#signal();
  }

  tick(): void {
    if (this.#stopped) return;
    this.#rn.tick();
    this.#signal();
  }

  campaign(): void {
    if (this.#stopped) return;
    this.#rn.campaign();
    this.#signal();
  }

  /** Throws ProposalDroppedError synchronously when raft drops the proposal (or stopped). */
  propose(data: Uint8Array): void {
    if (this.#stopped) throw new ProposalDroppedError("node is stopped");
    try {
      this.#rn.propose(data);
    } finally {
      this.#signal();
    }
  }

  /** Several proposals in one step (one append, one broadcast). */
  proposeBatch(data: readonly Uint8Array[]): void {
    if (this.#stopped) throw new ProposalDroppedError("node is stopped");
    try {
      this.#rn.proposeBatch(data);
    } finally {
      this.#signal();
    }
  }

  proposeConfChange(cc: ConfChange): void {
    if (this.#stopped) throw new ProposalDroppedError("node is stopped");
    try {
      this.#rn.proposeConfChange(cc);
    } finally {
      this.#signal();
    }
  }

  step(m: Message): void {
    if (this.#stopped) return;
    this.#rn.step(m);
    this.#signal();
  }

  readIndex(ctx: Uint8Array): void {
    if (this.#stopped) return;
    this.#rn.readIndex(ctx);
    this.#signal();
  }

  transferLeader(transferee: number): void {
    if (this.#stopped) return;
    this.#rn.transferLeader(transferee);
    this.#signal();
  }

  applyConfChange(cc: ConfChange): ConfState {
    const cs = this.#rn.applyConfChange(cc);
    this.#signal();
    return cs;
  }

  reportUnreachable(id: number): void {
    if (this.#stopped) return;
    this.#rn.reportUnreachable(id);
    this.#signal();
  }

  reportSnapshot(id: number, status: SnapshotStatus): void {
    if (this.#stopped) return;
    this.#rn.reportSnapshot(id, status);
    this.#signal();
  }

  /** See RawNode.takeForwarded: what may go to the leader before the next Ready's write. */
  takeForwarded(): Message[] {
    return this.#rn.takeForwarded();
  }

  /** See RawNode.durableIndex. */
  durableIndex(selfPersisted: number): number {
    return this.#rn.durableIndex(selfPersisted);
  }

  status(): Status {
    return this.#rn.status();
  }

  /** Acknowledges the last yielded Ready (persisted, sent, applied). */
  advance(): void {
    if (!this.#awaitingAdvance) throw new Error("Cannot advance: no Ready is outstanding");
    this.#rn.advance();
    this.#awaitingAdvance = false;
    this.#signal();
  }

  /** Ends the ready() iteration; later inputs are ignored (proposals are dropped). */
  stop(): void {
    this.#stopped = true;
    this.#signal();
  }

  /** Yields each Ready once there is work and the previous one was advanced. One consumer. */
  async *ready(): AsyncGenerator<Ready, void, undefined> {
    if (this.#iterating) throw new Error("Cannot iterate Node.ready() twice at once");
    this.#iterating = true;
    try {
      while (!this.#stopped) {
        if (!this.#awaitingAdvance && this.#rn.hasReady()) {
          const rd = this.#rn.ready();
          this.#awaitingAdvance = true;
          yield rd;
          continue;
        }
        await new Promise<void>((resolve) => {
          assert(this.#wake === undefined, "one waiter at a time");
          this.#wake = resolve;
        });
      }
    } finally {
      this.#iterating = false;
      this.#wake = undefined;
    }
  }
}
