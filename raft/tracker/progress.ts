/**
 * What a leader knows about one follower's log (etcd's tracker.Progress, Raft §5.3 nextIndex and
 * matchIndex). Invariant: match < next.
 *
 * - probe: the leader sends one MsgApp at a time (per heartbeat) until it learns where the logs
 *   agree;
 * - replicate: the leader streams MsgApps optimistically, bounded by the inflights window;
 * - snapshot: the follower needs a snapshot; nothing is sent until it is reported.
 */
import { assert } from "../util.ts";
import { Inflights } from "./inflights.ts";

export type ProgressState = "probe" | "replicate" | "snapshot";

export class Progress {
  match: number;
  next: number;
  state: ProgressState = "probe";
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from within the last election timeout (reset by CheckQuorum). */
  recentActive: boolean;
  /**
   * In probe state: a MsgApp was sent and no answer came yet. In replicate state: the inflights
   * window is full. Cleared by a heartbeat response so that a lost message cannot stall us.
   */
  msgAppFlowPaused = false;
  inflights: Inflights;
  isLearner: boolean;
  /** The highest commit index sent to this follower (to know when a commit-only MsgApp helps). */
  sentCommit = 0;

  constructor(
    options: {
      match: number;
      next: number;
      inflights: Inflights;
      isLearner: boolean;
      recentActive?: boolean;
    },
  ) {
    assert(options.match < options.next, "progress match < next");
    this.match = options.match;
    this.next = options.next;
    this.inflights = options.inflights;
    this.isLearner = options.isLearner;
    this.recentActive = options.recentActive ?? false;
  }

  /** A copy sharing the inflights (configuration changes copy, then replace the map). */
  clone(): Progress {
    const p = new Progress({
      match: this.match,
      next: this.next,
      inflights: this.inflights,
      isLearner: this.isLearner,
      recentActive: this.recentActive,
    });
    p.state = this.state;
    p.pendingSnapshot = this.pendingSnapshot;
    p.msgAppFlowPaused = this.msgAppFlowPaused;
    p.sentCommit = this.sentCommit;
    return p;
  }

  /** Forgets everything learned (a new term): probe from `next`. */
  reset(match: number, next: number): void {
    assert(match < next, "progress reset keeps match < next");
    this.match = match;
    this.next = next;
    this.state = "probe";
    this.pendingSnapshot = 0;
    this.recentActive = false;
    this.msgAppFlowPaused = false;
    this.sentCommit = 0;
    this.inflights.reset();
  }

  #resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, probe from the snapshot index (or beyond what we know is matched).
    if (this.state === "snapshot") {
      const pending = this.pendingSnapshot;
      this.#resetState("probe");
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.#resetState("probe");
      this.next = this.match + 1;
    }
    assert(this.match < this.next, "probe keeps match < next");
  }

  becomeReplicate(): void {
    this.#resetState("replicate");
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.#resetState("snapshot");
    this.pendingSnapshot = snapshotIndex;
  }

  /**
   * Records that a MsgApp with `entries` entries (`bytes` of payload) was sent from `next`.
   * In replicate state the window advances optimistically; in probe state we wait for an answer.
   */
  sentEntries(entries: number, bytes: number): void {
    switch (this.state) {
      case "replicate":
        if (entries > 0) {
          this.next += entries;
          this.inflights.add(this.next - 1, bytes);
        }
        this.msgAppFlowPaused = this.inflights.full();
        break;
      case "probe":
        if (entries > 0) this.msgAppFlowPaused = true;
        break;
      case "snapshot":
        assert(false, "sending entries to a follower in snapshot state");
    }
  }

  /** Records the commit index carried by a message to this follower. */
  sentCommitTo(commit: number): void {
    this.sentCommit = Math.max(this.sentCommit, commit);
  }

  /**
   * Whether sending `index` as the commit index may advance the follower's: it was not sent yet,
   * and what was sent does not already cover everything the follower has (next - 1).
   */
  canBumpCommit(index: number): boolean {
    return index > this.sentCommit && this.sentCommit < this.next - 1;
  }

  /** The follower acknowledged entries up to n; returns whether match moved. */
  maybeUpdate(n: number): boolean {
    if (n <= this.match) return false;
    this.match = n;
    this.next = Math.max(this.next, n + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * The follower rejected a MsgApp at index `rejected`, hinting it may agree up to `matchHint`.
   * Returns false when the rejection is stale (out of order) and changes nothing.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === "replicate") {
      // A stale rejection: we already know the follower has `rejected`.
      if (rejected <= this.match) return false;
      // Back to the last known match; the caller switches to probe.
      this.next = this.match + 1;
      return true;
    }
    // In probe (or snapshot) state only the rejection of the last probe matters.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    assert(this.match < this.next, "decrement keeps match < next");
    return true;
  }

  /** Whether sending MsgApps to this follower is throttled right now. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.msgAppFlowPaused;
      case "replicate":
        return this.msgAppFlowPaused;
      case "snapshot":
        return true;
    }
  }

  toString(): string {
    let s = `${this.state} match=${this.match} next=${this.next}`;
    if (this.isLearner) s += " learner";
    if (this.isPaused()) s += " paused";
    if (this.pendingSnapshot > 0) s += ` pendingSnap=${this.pendingSnapshot}`;
    if (!this.recentActive) s += " inactive";
    if (this.inflights.count > 0) s += ` inflight=${this.inflights.count}`;
    return s;
  }
}
