/**
 * A joint configuration (Raft §6 / thesis §4.3): decisions need a majority of the incoming AND of
 * the outgoing voters. Outside a joint configuration the outgoing set is empty.
 */
import { assert } from "../util.ts";
import {
  type AckedIndexer,
  majorityCommittedIndex,
  majorityVoteResult,
  type VoteResult,
} from "./majority.ts";

export interface JointConfig {
  incoming: Set<number>;
  outgoing: Set<number>;
}

export function jointCommittedIndex(config: JointConfig, acked: AckedIndexer): number {
  const a = majorityCommittedIndex(config.incoming, acked);
  const b = majorityCommittedIndex(config.outgoing, acked);
  const idx = Math.min(a, b);
  assert(idx <= a && idx <= b, "joint commit is the minimum of both halves");
  return idx;
}

export function jointVoteResult(
  config: JointConfig,
  votes: ReadonlyMap<number, boolean>,
): VoteResult {
  const r1 = majorityVoteResult(config.incoming, votes);
  const r2 = majorityVoteResult(config.outgoing, votes);
  if (r1 === r2) return r1;
  if (r1 === "lost" || r2 === "lost") return "lost";
  // One half won, the other is pending.
  return "pending";
}

/** All voter ids of both halves, ascending (deterministic iteration order). */
export function jointIds(config: JointConfig): number[] {
  const ids = new Set<number>(config.incoming);
  for (const id of config.outgoing) ids.add(id);
  return [...ids].sort((a, b) => a - b);
}

export function isJoint(config: JointConfig): boolean {
  return config.outgoing.size > 0;
}

export function sortedIds(s: ReadonlySet<number>): number[] {
  return [...s].sort((a, b) => a - b);
}
