import assert from "node:assert/strict";
import { jointCommittedIndex, jointVoteResult } from "../../raft/quorum/joint.ts";
import { majorityCommittedIndex, majorityVoteResult } from "../../raft/quorum/majority.ts";

function acked(m: Record<number, number>) {
  return (id: number) => m[id];
}

function votes(m: Record<number, boolean>): Map<number, boolean> {
  return new Map(Object.entries(m).map(([k, v]) => [Number(k), v]));
}

Deno.test("majority committedIndex is the index a majority has acked (§5.3)", () => {
  const cases: Array<[number[], Record<number, number>, number]> = [
    [[1], { 1: 5 }, 5],
    [[1, 2, 3], { 1: 5, 2: 3, 3: 1 }, 3],
    [[1, 2, 3], { 1: 5, 2: 5 }, 5],
    [[1, 2, 3], { 1: 5 }, 0],
    [[1, 2, 3, 4], { 1: 5, 2: 4, 3: 3, 4: 2 }, 3],
    [[1, 2, 3, 4, 5], { 1: 9, 2: 8, 3: 7, 4: 1, 5: 1 }, 7],
  ];
  for (const [ids, m, want] of cases) {
    assert.equal(majorityCommittedIndex(new Set(ids), acked(m)), want, JSON.stringify([ids, m]));
  }
  // The empty config commits everything (so that it is neutral in a joint config).
  assert.equal(majorityCommittedIndex(new Set(), acked({})), Number.MAX_SAFE_INTEGER);
});

Deno.test("majority voteResult: won, lost or pending", () => {
  const s = new Set([1, 2, 3]);
  assert.equal(majorityVoteResult(s, votes({ 1: true })), "pending");
  assert.equal(majorityVoteResult(s, votes({ 1: true, 2: true })), "won");
  assert.equal(majorityVoteResult(s, votes({ 1: true, 2: false })), "pending");
  assert.equal(majorityVoteResult(s, votes({ 1: false, 2: false })), "lost");
  assert.equal(majorityVoteResult(new Set([1, 2, 3, 4]), votes({ 1: true, 2: true })), "pending");
  assert.equal(majorityVoteResult(new Set(), votes({})), "won");
  // Votes from non-members do not count.
  assert.equal(majorityVoteResult(s, votes({ 1: true, 7: true })), "pending");
});

Deno.test("joint committedIndex is the minimum of both majorities", () => {
  const cfg = { incoming: new Set([1, 2, 3]), outgoing: new Set([3, 4, 5]) };
  const m = acked({ 1: 9, 2: 9, 3: 5, 4: 2, 5: 1 });
  assert.equal(jointCommittedIndex(cfg, m), 2);
  const notJoint = { incoming: new Set([1, 2, 3]), outgoing: new Set<number>() };
  assert.equal(jointCommittedIndex(notJoint, m), 9);
});

Deno.test("joint voteResult needs both majorities; either losing loses", () => {
  const cfg = { incoming: new Set([1, 2, 3]), outgoing: new Set([3, 4, 5]) };
  assert.equal(jointVoteResult(cfg, votes({ 1: true, 2: true })), "pending");
  assert.equal(jointVoteResult(cfg, votes({ 1: true, 2: true, 4: true, 5: true })), "won");
  assert.equal(jointVoteResult(cfg, votes({ 1: true, 2: true, 4: false, 5: false })), "lost");
  assert.equal(jointVoteResult(cfg, votes({ 1: false, 2: false, 3: true, 4: true })), "lost");
  assert.equal(jointVoteResult(cfg, votes({ 3: true })), "pending");
});
