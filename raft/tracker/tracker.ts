/**
 * ProgressTracker: the membership configuration with one Progress per member, and the votes of
 * the current election (etcd's tracker.ProgressTracker).
 */
import {
  isJoint,
  jointCommittedIndex,
  type JointConfig,
  jointVoteResult,
  sortedIds,
} from "../quorum/joint.ts";
import type { VoteResult } from "../quorum/majority.ts";
import type { ConfState } from "../types.ts";
import { assert } from "../util.ts";
import type { Progress } from "./progress.ts";

export interface TrackerConfig {
  voters: JointConfig;
  /** Learners receive entries but never vote nor count for commitment. Disjoint from voters. */
  learners: Set<number>;
  /** Outgoing voters that become learners when the joint configuration is left. */
  learnersNext: Set<number>;
  autoLeave: boolean;
}

export function emptyTrackerConfig(): TrackerConfig {
  return {
    voters: { incoming: new Set(), outgoing: new Set() },
    learners: new Set(),
    learnersNext: new Set(),
    autoLeave: false,
  };
}

export function cloneTrackerConfig(c: TrackerConfig): TrackerConfig {
  return {
    voters: { incoming: new Set(c.voters.incoming), outgoing: new Set(c.voters.outgoing) },
    learners: new Set(c.learners),
    learnersNext: new Set(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

export function configToConfState(c: TrackerConfig): ConfState {
  return {
    voters: sortedIds(c.voters.incoming),
    learners: sortedIds(c.learners),
    votersOutgoing: sortedIds(c.voters.outgoing),
    learnersNext: sortedIds(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

export function configToString(c: TrackerConfig): string {
  let s = `voters=(${sortedIds(c.voters.incoming).join(" ")})`;
  if (isJoint(c.voters)) s += `&&(${sortedIds(c.voters.outgoing).join(" ")})`;
  if (c.learners.size > 0) s += ` learners=(${sortedIds(c.learners).join(" ")})`;
  if (c.learnersNext.size > 0) s += ` learners_next=(${sortedIds(c.learnersNext).join(" ")})`;
  if (c.autoLeave) s += " autoleave";
  return s;
}

export type ProgressMap = Map<number, Progress>;

export class ProgressTracker {
  config: TrackerConfig = emptyTrackerConfig();
  progress: ProgressMap = new Map();
  votes: Map<number, boolean> = new Map();
  readonly maxInflight: number;
  readonly maxInflightBytes: number;
  /** A reusable callback for the commit computation (no closure per call on the hot path). */
  readonly #matchOf = (id: number): number | undefined => this.progress.get(id)?.match;

  constructor(maxInflight: number, maxInflightBytes: number) {
    assert(maxInflight > 0, "maxInflight is positive");
    assert(maxInflightBytes >= 0, "maxInflightBytes is non-negative");
    this.maxInflight = maxInflight;
    this.maxInflightBytes = maxInflightBytes;
  }

  confState(): ConfState {
    return configToConfState(this.config);
  }

  /** A single voter and no joint config: the leader alone is a quorum. */
  isSingleton(): boolean {
    return this.config.voters.incoming.size === 1 && this.config.voters.outgoing.size === 0;
  }

  /** The largest index replicated on a quorum (joint-aware), from the match indexes. */
  committed(): number {
    return jointCommittedIndex(this.config.voters, this.#matchOf);
  }

  /**
   * `committed()` with the match of `self` replaced by `selfPersisted`: the largest index a quorum
   * holds when this node counts only what it has persisted.
   */
  committedWith(self: number, selfPersisted: number): number {
    return jointCommittedIndex(
      this.config.voters,
      (id) => id === self ? selfPersisted : this.progress.get(id)?.match,
    );
  }

  isVoter(id: number): boolean {
    return this.config.voters.incoming.has(id) || this.config.voters.outgoing.has(id);
  }

  /** Whether a quorum of voters was recently active (CheckQuorum, §6.2 of the thesis). */
  quorumActive(): boolean {
    const votes = new Map<number, boolean>();
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      votes.set(id, pr.recentActive);
    }
    return jointVoteResult(this.config.voters, votes) === "won";
  }

  voterIds(): number[] {
    const ids = new Set<number>(this.config.voters.incoming);
    for (const id of this.config.voters.outgoing) ids.add(id);
    return sortedIds(ids);
  }

  learnerIds(): number[] {
    return sortedIds(this.config.learners);
  }

  resetVotes(): void {
    this.votes = new Map();
  }

  /** Records a vote; only the first vote of each node counts. */
  recordVote(id: number, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      const v = this.votes.get(id);
      if (v === undefined) continue;
      if (v) granted++;
      else rejected++;
    }
    const result = jointVoteResult(this.config.voters, this.votes);
    assert(granted + rejected <= this.progress.size, "votes come from members");
    return { granted, rejected, result };
  }
}
