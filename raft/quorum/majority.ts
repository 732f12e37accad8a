/**
 * A majority configuration: a set of voter ids (Raft §5.2, §5.3). An empty configuration
 * commits everything and wins every vote, so that a joint config with an empty half behaves as
 * its other half (etcd's quorum package).
 */
import { assert } from "../util.ts";

export type VoteResult = "pending" | "lost" | "won";

/** Answers "what has this voter acknowledged?" (its match index), undefined if unknown. */
export type AckedIndexer = (id: number) => number | undefined;

/** The largest index acknowledged by a majority of `voters` (§5.3, Figure 2: commitIndex). */
export function majorityCommittedIndex(voters: ReadonlySet<number>, acked: AckedIndexer): number {
  const n = voters.size;
  if (n === 0) return Number.MAX_SAFE_INTEGER;
  const srt: number[] = new Array(n);
  let i = 0;
  for (const id of voters) srt[i++] = acked(id) ?? 0;
  // Insertion sort: configs are small (a handful of voters), and it allocates nothing.
  for (let a = 1; a < n; a++) {
    const v = srt[a]!;
    let b = a - 1;
    while (b >= 0 && srt[b]! > v) {
      srt[b + 1] = srt[b]!;
      b--;
    }
    srt[b + 1] = v;
  }
  // With ascending order, the value at n - (n/2 + 1) is acked by a majority.
  const pos = n - (Math.floor(n / 2) + 1);
  assert(pos >= 0 && pos < n, "majority position in range");
  return srt[pos]!;
}

/** The outcome of an election given the votes received so far (missing = not yet voted). */
export function majorityVoteResult(
  voters: ReadonlySet<number>,
  votes: ReadonlyMap<number, boolean>,
): VoteResult {
  if (voters.size === 0) return "won";
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = Math.floor(voters.size / 2) + 1;
  if (granted >= q) return "won";
  if (granted + missing >= q) return "pending";
  return "lost";
}
