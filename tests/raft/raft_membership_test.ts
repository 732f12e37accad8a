import assert from "node:assert/strict";
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  EntryType,
  MessageType,
  ProposalDroppedError,
  StateType,
} from "../../raft/mod.ts";
import { Cluster, countType, enc, restartNode } from "./harness.ts";

function cc(
  changes: Array<[ConfChangeType, number]>,
  transition: ConfChangeTransition = ConfChangeTransition.Auto,
): ConfChange {
  return {
    transition,
    changes: changes.map(([type, nodeId]) => ({ type, nodeId })),
    context: new Uint8Array(),
  };
}

Deno.test("a learner receives entries but never votes nor counts for commitment (thesis §4.2.1)", () => {
  const c = new Cluster({ peers: [1, 2], learners: [3] });
  c.stabilize();
  c.elect(1);
  c.node(1).rn.propose(enc("x"));
  c.stabilize();
  assert.equal(c.node(3).applied.length, 1, "the learner applies");
  assert.equal(c.raft(1).trk.progress.get(3)!.isLearner, true);
  // With the only other voter down, the learner's ack does not commit.
  c.isolated.add(2);
  c.node(1).rn.propose(enc("y"));
  c.stabilize();
  assert.equal(c.node(1).applied.length, 1);
  assert.equal(c.raft(3).raftLog.lastIndex(), c.raft(1).raftLog.lastIndex());
  // A learner never campaigns, however long it waits, and is not asked for votes.
  c.isolated.add(1);
  for (let k = 0; k < 50; k++) c.tick(3);
  assert.equal(c.state(3), StateType.Follower);
  c.isolated.clear();
  c.node(2).rn.campaign();
  const votes = c.takeMessages(2).filter((m) => m.type === MessageType.MsgVote);
  assert.deepEqual(votes.map((m) => m.to), [1]);
});

Deno.test("adding a node: proposeConfChange, commit, applyConfChange; the new node catches up", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  c.node(1).rn.propose(enc("before"));
  c.stabilize();
  c.addNode(4, { peers: [] });
  c.node(1).rn.proposeConfChange(cc([[ConfChangeType.AddNode, 4]]));
  c.stabilize();
  assert.deepEqual(c.node(1).confState.voters, [1, 2, 3, 4]);
  // The leader probes node 4 (its log is empty); it catches up entry by entry.
  c.tickAll(3);
  c.stabilize();
  assert.equal(c.raft(4).raftLog.lastIndex(), c.raft(1).raftLog.lastIndex());
  assert.deepEqual(c.node(4).confState.voters, [1, 2, 3, 4]);
  assert.equal(c.node(4).applied.length, 1);
});

Deno.test("only one conf change may be pending: a second one becomes an empty entry", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  c.isolated.add(2);
  c.isolated.add(3);
  const rn = c.node(1).rn;
  rn.proposeConfChange(cc([[ConfChangeType.AddLearnerNode, 4]]));
  rn.proposeConfChange(cc([[ConfChangeType.AddLearnerNode, 5]]));
  const log = c.raft(1).raftLog;
  const last = log.slice(log.lastIndex() - 1, log.lastIndex() + 1, 1 << 20);
  assert.equal(last[0]!.type, EntryType.ConfChange);
  assert.equal(last[1]!.type, EntryType.Normal, "the second change was refused");
  assert.equal(last[1]!.data.byteLength, 0);
  assert.equal(c.raft(1).pendingConfIndex, last[0]!.index);
});

Deno.test("joint consensus with auto-leave: the leader proposes leaving once the joint config is applied (thesis §4.3)", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  c.addNode(4, { peers: [] });
  c.addNode(5, { peers: [] });
  c.node(1).rn.proposeConfChange(cc([
    [ConfChangeType.AddNode, 4],
    [ConfChangeType.AddNode, 5],
    [ConfChangeType.RemoveNode, 3],
  ]));
  // Apply the joint entry on the leader, not the leave entry yet.
  c.processAll();
  c.deliverQueued();
  c.processAll();
  c.deliverQueued();
  c.processAll();
  assert.deepEqual(c.node(1).confState.votersOutgoing, [1, 2, 3]);
  assert.deepEqual(c.node(1).confState.voters, [1, 2, 4, 5]);
  assert.equal(c.node(1).confState.autoLeave, true);
  c.stabilize();
  c.tickAll(5);
  c.stabilize();
  for (const id of [1, 2, 4, 5]) {
    assert.deepEqual(c.node(id).confState.votersOutgoing, [], `node ${id} left the joint config`);
    assert.deepEqual(c.node(id).confState.voters, [1, 2, 4, 5]);
  }
  assert.equal(c.raft(1).trk.progress.has(3), false);
});

Deno.test("an explicit joint config is left only by an empty ConfChange; non-leave changes are refused while joint", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  c.node(1).rn.proposeConfChange(
    cc([[ConfChangeType.AddLearnerNode, 4]], ConfChangeTransition.JointExplicit),
  );
  c.stabilize();
  c.tickAll(3);
  assert.deepEqual(c.node(1).confState.votersOutgoing, [1, 2, 3], "still joint");
  assert.equal(c.node(1).confState.autoLeave, false);
  // Another change while joint is replaced by an empty entry.
  const before = c.node(1).confState;
  c.node(1).rn.proposeConfChange(cc([[ConfChangeType.AddLearnerNode, 5]]));
  c.stabilize();
  assert.deepEqual(c.node(1).confState, before);
  c.node(1).rn.proposeConfChange(cc([]));
  c.stabilize();
  assert.deepEqual(c.node(1).confState.votersOutgoing, []);
  assert.deepEqual(c.node(1).confState.learners, [4]);
});

Deno.test("a leader removed from the configuration steps down by handing over to a remaining voter (§6)", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  c.node(1).rn.proposeConfChange(cc([[ConfChangeType.RemoveNode, 1]]));
  c.stabilize();
  assert.deepEqual(c.node(2).confState.voters, [2, 3]);
  assert.equal(c.state(1), StateType.Follower);
  assert.throws(() => c.node(1).rn.propose(enc("x")), ProposalDroppedError);
  const [leader] = c.leaders();
  assert.ok(leader === 2 || leader === 3, `new leader ${leader}`);
  assert.equal(
    c.raft(leader!).trk.progress.has(1),
    false,
    "the removed node's progress is dropped",
  );
  c.node(leader!).rn.propose(enc("after"));
  c.stabilize();
  assert.equal(c.node(2).applied.length, 1);
  assert.equal(c.node(3).applied.length, 1);
});

Deno.test("a removed leader keeps leading until a remaining voter that missed the commit takes over (§6)", () => {
  const c = new Cluster({ peers: [1, 2] });
  c.stabilize();
  c.elect(1);
  const removalIndex = c.raft(1).raftLog.lastIndex() + 1;
  // Node 2 acks the removal but hears neither that it committed nor what follows.
  c.drop = (m) =>
    m.from === 1 && m.to === 2 &&
    (m.commit >= removalIndex || m.entries.some((e) => e.index > removalIndex));
  c.node(1).rn.proposeConfChange(cc([[ConfChangeType.RemoveNode, 1]]));
  c.processReady(1); // the removal goes out in its own MsgApp
  c.node(1).rn.propose(enc("after the removal"));
  c.stabilize();
  assert.ok(c.raft(1).raftLog.applied >= removalIndex, "node 1 applied its own removal");
  assert.ok(c.raft(2).raftLog.committed < removalIndex, "node 2 does not know it committed");
  assert.equal(c.state(1), StateType.Leader, "handing over, not yet stepped down");
  assert.equal(c.raft(1).leadTransferee, 2);
  c.drop = () => false;
  for (let k = 0; k < 40; k++) c.tickAll(1);
  assert.deepEqual(c.leaders(), [2]);
  assert.deepEqual(c.node(2).confState.voters, [2]);
  assert.equal(c.state(1), StateType.Follower);
});

Deno.test("a remaining voter that missed the commit of a leader's removal learns it from the removed node's vote rejection", () => {
  const c = new Cluster({ peers: [1, 2] });
  c.stabilize();
  c.elect(1);
  const removalIndex = c.raft(1).raftLog.lastIndex() + 1;
  c.drop = (m) =>
    m.from === 1 && m.to === 2 &&
    (m.commit >= removalIndex || m.entries.some((e) => e.index > removalIndex));
  c.node(1).rn.proposeConfChange(cc([[ConfChangeType.RemoveNode, 1]]));
  c.processReady(1);
  c.node(1).rn.propose(enc("after the removal"));
  c.stabilize();
  assert.equal(c.raft(1).leadTransferee, 2, "handing over");
  // The removed leader crashes before the handover: its log is longer than node 2's and, after
  // restart, it is no longer a voter, so it never campaigns.
  restartNode(c, 1);
  c.drop = () => false;
  c.stabilize();
  assert.ok(c.raft(2).raftLog.committed < removalIndex);
  for (let k = 0; k < 60; k++) c.tickAll(1);
  assert.deepEqual(c.leaders(), [2]);
  assert.deepEqual(c.node(2).confState.voters, [2]);
  c.node(2).rn.propose(enc("alive"));
  c.stabilize();
  assert.deepEqual(c.node(2).applied.map((e) => new TextDecoder().decode(e.data)), ["alive"]);
});

Deno.test("leadership transfer: the target is caught up, then gets MsgTimeoutNow and wins (thesis §3.10)", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  c.isolated.add(3);
  c.node(1).rn.propose(enc("x"));
  c.stabilize();
  c.isolated.delete(3);
  c.node(1).rn.transferLeader(3);
  assert.equal(c.raft(1).leadTransferee, 3);
  // Proposals are dropped while transferring.
  assert.throws(() => c.node(1).rn.propose(enc("y")), ProposalDroppedError);
  c.delivered = [];
  c.stabilize();
  assert.equal(countType(c.delivered, MessageType.MsgTimeoutNow), 1);
  assert.deepEqual(c.leaders(), [3]);
  assert.equal(c.raft(1).lead, 3);
  assert.equal(c.raft(1).leadTransferee, 0);
});

Deno.test("leadership transfer works through a follower and bypasses check-quorum leases", () => {
  const c = new Cluster({ peers: [1, 2, 3], config: { checkQuorum: true, preVote: true } });
  c.stabilize();
  c.elect(1);
  // Asked on node 2, forwarded to leader 1.
  c.node(2).rn.transferLeader(2);
  c.stabilize();
  assert.deepEqual(c.leaders(), [2]);
});

Deno.test("a leadership transfer that does not finish within an election timeout is aborted", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  c.isolated.add(3);
  c.node(1).rn.transferLeader(3);
  c.stabilize();
  assert.equal(c.raft(1).leadTransferee, 3);
  for (let k = 0; k < 10; k++) c.tick(1);
  assert.equal(c.raft(1).leadTransferee, 0);
  assert.equal(c.state(1), StateType.Leader);
  c.node(1).rn.propose(enc("after"));
});

Deno.test("transfer to a learner or to the leader itself is ignored", () => {
  const c = new Cluster({ peers: [1, 2], learners: [3] });
  c.stabilize();
  c.elect(1);
  c.node(1).rn.transferLeader(3);
  assert.equal(c.raft(1).leadTransferee, 0);
  c.node(1).rn.transferLeader(1);
  assert.equal(c.raft(1).leadTransferee, 0);
});
