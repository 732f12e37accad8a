/**
 * Cluster-level membership scenarios found by the simulator (sim/), replayed deterministically.
 */
import assert from "node:assert/strict";
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  MessageType,
  StateType,
} from "../../raft/mod.ts";
import { msg, newNetwork } from "./network.ts";

const ELECTION = 10;

function removal(id: number): ConfChange {
  return {
    transition: ConfChangeTransition.Auto,
    changes: [{ type: ConfChangeType.RemoveNode, nodeId: id }],
    context: new Uint8Array(),
  };
}

/**
 * Found by the simulator (seed 195 with --leader-removal on; 7 nodes seed 28 at 5000 steps; 3
 * nodes seed 225 at 3000 steps): configs take effect when applied (etcd's design), so a voter that
 * missed the commit of the leader's removal still counts the old config and needs the removed
 * node's vote, which the removed node refuses (its log is longer) while never campaigning itself:
 * no leader, for good. The core now hands leadership over on removal and lets a vote rejection
 * carry the voter's commit index.
 */
Deno.test({
  name: "a leader removing itself leaves a cluster that can elect a new leader (§6)",
  fn() {
    const nt = newNetwork({
      peers: [1, 2],
      electionTicks: ELECTION,
      heartbeatTicks: 1,
      maxSizePerMsg: 1,
    });
    nt.stabilize();
    nt.campaign(1);
    assert.equal(nt.leader(), 1);
    const removalIndex = nt.node(1).lastIndex + 1;
    // Node 2 acks the removal but never hears that it committed, nor gets what follows.
    nt.drop({ from: 1, to: 2, where: (m) => m.commit >= removalIndex });
    nt.drop({ from: 1, to: 2, where: (m) => m.entries.some((e) => e.index > removalIndex) });
    nt.raw(1).proposeConfChange(removal(1));
    nt.raw(1).propose(new TextEncoder().encode("after the removal"));
    nt.stabilize();
    assert.ok(nt.node(1).appliedIndex >= removalIndex, "node 1 applied its own removal");
    assert.equal(nt.node(2).lastIndex, removalIndex, "node 2 holds the removal entry");
    assert.ok(nt.node(2).commit < removalIndex, "but does not know it committed");
    nt.heal();
    nt.tickAll(20 * ELECTION);
    assert.equal(nt.leader(), 2, "node 2 must end up leading its one-voter config");
    assert.deepEqual(nt.node(2).confState.voters, [2]);
  },
});

Deno.test("a removed follower that keeps campaigning cannot take over the remaining voters (§6, PreVote)", () => {
  const nt = newNetwork({ peers: [1, 2, 3], electionTicks: ELECTION, preVote: true });
  nt.stabilize();
  nt.campaign(1);
  // Node 3 misses its own removal, so it still believes it is a voter and campaigns.
  nt.drop({ to: 3, type: MessageType.MsgApp });
  nt.drop({ to: 3, type: MessageType.MsgHeartbeat });
  nt.proposeConfChange(1, removal(3));
  nt.tickAll(2);
  assert.deepEqual([...nt.node(1).confState.voters].sort(), [1, 2]);
  const term = nt.node(1).term;
  nt.heal();
  nt.isolate(3);
  nt.tickAll(5 * ELECTION);
  nt.heal();
  // Its pre-votes are refused (1 and 2 hear their leader), so the leader and its term stay.
  nt.drop({ from: 1, to: 3 });
  nt.tickAll(5 * ELECTION);
  assert.equal(nt.leader(), 1);
  assert.equal(nt.node(1).term, term);
  assert.equal(nt.node(2).term, term);
});

Deno.test("a removed leader still handing over never answers a read on its own (§6, §6.4)", () => {
  // Found by the simulator (3 nodes, seed 128 at 3000 steps): the removed leader kept leading
  // while handing over, saw a one-voter config (the other node) and served ReadIndex at once.
  const nt = newNetwork({
    peers: [1, 2],
    electionTicks: ELECTION,
    heartbeatTicks: 1,
    maxSizePerMsg: 1,
  });
  nt.stabilize();
  nt.campaign(1);
  const removalIndex = nt.node(1).lastIndex + 1;
  let cutOff = false;
  // Node 2 gets the removal but not what node 1 appends after it, then nothing at all.
  nt.drop({
    from: 1,
    to: 2,
    where: (m) => cutOff || m.entries.some((e) => e.index > removalIndex),
  });
  nt.drop({ from: 2, to: 1, where: () => cutOff });
  nt.raw(1).proposeConfChange(removal(1));
  nt.raw(1).propose(new TextEncoder().encode("x"));
  nt.stabilize();
  nt.tickAll(1);
  assert.deepEqual(nt.node(2).confState.voters, [2], "node 2 applied its one-voter config");
  cutOff = true;
  nt.tickAll(3 * ELECTION);
  assert.equal(nt.node(2).state, StateType.Leader);
  nt.propose(2, "y");
  const written = nt.node(2).appliedIndex;
  nt.raw(1).readIndex(new TextEncoder().encode("read on 1"));
  nt.processReadys();
  for (const rs of nt.node(1).readStates) {
    assert.ok(rs.index >= written, `node 1 served a read at ${rs.index}, "y" is at ${written}`);
  }
});

Deno.test("a candidate that learns of its own removal mid-election does not become leader (§6)", () => {
  // Found by the simulator (7 nodes, seed 288 at 5000 steps): a candidate adopted the commit
  // index carried by a vote rejection, applied its own removal, then won with the new config's
  // votes and became a leader outside the config.
  const ids = [1, 2, 3, 4, 5, 6, 7];
  const nt = newNetwork({ peers: ids, electionTicks: ELECTION, maxSizePerMsg: 1 });
  nt.stabilize();
  nt.campaign(2);
  const removalIndex = nt.node(2).lastIndex + 1;
  // Node 1 gets the removal entry but never hears it committed; 6 and 7 do not get it; only 3
  // gets what the leader appends after it.
  nt.drop({ to: 1, where: (m) => m.commit >= removalIndex });
  nt.drop({ from: 2, to: 6, where: (m) => m.entries.some((e) => e.index >= removalIndex) });
  nt.drop({ from: 2, to: 7, where: (m) => m.entries.some((e) => e.index >= removalIndex) });
  for (const to of [1, 4, 5]) {
    nt.drop({ from: 2, to, where: (m) => m.entries.some((e) => e.index > removalIndex) });
  }
  nt.proposeConfChange(2, removal(1));
  nt.propose(2, "x");
  assert.equal(nt.node(1).lastIndex, removalIndex);
  assert.ok(nt.node(1).commit < removalIndex);
  assert.ok(nt.node(3).commit >= removalIndex && nt.node(3).lastIndex > removalIndex);
  nt.crash(2);
  nt.heal();
  // Node 1 campaigns; node 3 (longer log) answers first with a rejection, then 4..7 grant.
  nt.raw(1).campaign();
  nt.processReadys();
  const votes = nt.take({ type: MessageType.MsgVote, from: 1 });
  const deliverTo = (to: number) => {
    for (const m of votes.filter((v) => v.to === to)) nt.raw(to).step(m);
    nt.processReadys();
    for (const r of nt.take({ type: MessageType.MsgVoteResp, to: 1 })) nt.raw(1).step(r);
    nt.processReadys();
  };
  deliverTo(3);
  for (const to of [4, 5, 6, 7]) deliverTo(to);
  const voter = nt.node(1).confState.voters.includes(1);
  assert.ok(
    voter || nt.node(1).state !== StateType.Leader,
    `node 1 leads a config without it (voters ${nt.node(1).confState.voters})`,
  );
});

Deno.test("a learner whose term a stray vote request raised still catches up (§6)", () => {
  // Found by the simulator (seed 205 with --pre-vote off --check-quorum off): without PreVote
  // and CheckQuorum a node ignores appends of a lower term and relies on campaigning to bring
  // the others to its term; a learner (or a voter that has not applied its promotion) never
  // campaigns, so it stayed behind for good (and the cluster with it when the leader needed it).
  const nt = newNetwork({ peers: [1, 2, 3], spares: [4], electionTicks: ELECTION });
  nt.stabilize();
  nt.campaign(1);
  nt.proposeConfChange(1, {
    transition: ConfChangeTransition.Auto,
    changes: [{ type: ConfChangeType.AddLearnerNode, nodeId: 4 }],
    context: new Uint8Array(),
  });
  nt.tickAll(2);
  assert.deepEqual(nt.node(4).confState.learners, [4]);
  // A vote request of a much higher term (from a node that left, say) reaches only the learner.
  const term = nt.node(1).term;
  nt.raw(4).step(
    msg({ type: MessageType.MsgVote, from: 3, to: 4, term: term + 5, index: 1e6, logTerm: term }),
  );
  nt.processReadys();
  assert.equal(nt.take({ from: 4, to: 3 }).length, 1, "its answer is lost");
  assert.equal(nt.node(4).term, term + 5);
  nt.propose(1, "after");
  nt.tickAll(10 * ELECTION);
  assert.deepEqual(nt.node(4).appliedData, ["after"], "the learner got the new entry");
});
