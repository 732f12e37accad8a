import assert from "node:assert/strict";
import { MemoryStorage, MessageType, NONE, RawNode, StateType } from "../../raft/mod.ts";
import { CAMPAIGN_TRANSFER, newMessage } from "../../raft/raft.ts";
import { Cluster, countType } from "./harness.ts";

Deno.test("a candidate with a majority of votes becomes leader and appends an empty entry of its term (§5.2, §5.4.2)", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  assert.deepEqual(c.leaders(), [1]);
  const r1 = c.raft(1);
  assert.equal(r1.term, 2);
  assert.equal(r1.raftLog.lastIndex(), 4);
  assert.equal(r1.raftLog.maybeTerm(4), 2);
  // The empty entry is committed everywhere, so the leader committed in its term.
  for (const id of [1, 2, 3]) {
    assert.equal(c.raft(id).raftLog.committed, 4);
    assert.equal(c.raft(id).lead, 1);
  }
});

Deno.test("election timeouts are randomized in [electionTicks, 2 * electionTicks) (§5.2)", () => {
  const rn = new RawNode({
    id: 1,
    electionTicks: 10,
    heartbeatTicks: 1,
    storage: new MemoryStorage(),
  });
  const seen = new Set<number>();
  for (let k = 0; k < 500; k++) {
    rn.raft.resetRandomizedElectionTimeout();
    const t = rn.raft.randomizedElectionTimeout;
    assert.ok(t >= 10 && t < 20, `timeout ${t}`);
    seen.add(t);
  }
  assert.ok(seen.size > 5, "the timeouts actually vary");
});

Deno.test("a follower that hears from no leader campaigns after its election timeout (§5.2)", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.tick(1, 19);
  assert.equal(c.state(1), StateType.Candidate);
  assert.equal(c.raft(1).term, 2);
  assert.equal(c.raft(1).vote, 1);
  const msgs = c.takeMessages(1);
  assert.equal(countType(msgs, MessageType.MsgVote), 2);
});

Deno.test("a node grants at most one vote per term (§5.2)", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  const r3 = c.raft(3);
  const vote = (from: number) => {
    const m = newMessage(MessageType.MsgVote, 3, from, 2);
    m.index = 3;
    m.logTerm = 1;
    r3.step(m);
    const resp = r3.msgs.pop()!;
    assert.equal(resp.type, MessageType.MsgVoteResp);
    return !resp.reject;
  };
  assert.equal(vote(1), true);
  assert.equal(vote(2), false, "second candidate in the same term is rejected");
  assert.equal(vote(1), true, "a repeated request of the same candidate is granted again");
  assert.equal(r3.vote, 1);
});

Deno.test("a voter rejects a candidate whose log is less up-to-date (§5.4.1)", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  c.node(1).rn.propose(new Uint8Array([1]));
  c.stabilize();
  // Node 3 missed nothing, but pretend a candidate with an older log asks.
  const r3 = c.raft(3);
  const m = newMessage(MessageType.MsgVote, 3, 2, r3.term + 1);
  m.index = 3;
  m.logTerm = 1;
  r3.step(m);
  const resp = r3.msgs.pop()!;
  assert.equal(resp.reject, true);
});

Deno.test("a candidate steps down when it hears from a leader of its term (§5.2)", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.node(2).rn.campaign();
  assert.equal(c.state(2), StateType.Candidate);
  const app = newMessage(MessageType.MsgApp, 2, 1, c.raft(2).term);
  app.index = 3;
  app.logTerm = 1;
  c.raft(2).step(app);
  assert.equal(c.state(2), StateType.Follower);
  assert.equal(c.raft(2).lead, 1);
});

Deno.test("a candidate that loses the election returns to follower (§5.2)", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  // Node 3 is cut off, lags behind, then campaigns at a higher term: its log is stale.
  c.isolated.add(3);
  c.node(1).rn.propose(new Uint8Array([1]));
  c.stabilize();
  c.isolated.delete(3);
  c.node(3).rn.campaign();
  c.stabilize();
  assert.notEqual(c.state(3), StateType.Leader);
  assert.equal(c.leaders().length <= 1, true);
});

Deno.test("pre-vote: a partitioned node does not inflate its term and does not disrupt the leader on return (thesis §9.6)", () => {
  const c = new Cluster({ peers: [1, 2, 3], config: { preVote: true } });
  c.stabilize();
  c.elect(1);
  const term = c.raft(1).term;
  c.isolated.add(3);
  // The majority moves on without node 3, whose log falls behind.
  c.node(1).rn.propose(new Uint8Array([1]));
  c.stabilize();
  for (let k = 0; k < 100; k++) {
    c.tick(3);
    c.stabilize();
  }
  assert.equal(c.raft(3).term, term, "pre-votes never raise the term");
  assert.equal(c.state(3), StateType.PreCandidate);
  c.isolated.delete(3);
  c.node(3).rn.campaign();
  c.stabilize();
  assert.deepEqual(c.leaders(), [1]);
  assert.equal(c.raft(1).term, term);
});

Deno.test("pre-vote: a pre-candidate with a quorum of pre-votes starts a real election", () => {
  const c = new Cluster({ peers: [1, 2, 3], config: { preVote: true } });
  c.stabilize();
  c.node(2).rn.campaign();
  assert.equal(c.state(2), StateType.PreCandidate);
  assert.equal(c.raft(2).term, 1);
  const msgs = c.takeMessages(2);
  assert.equal(countType(msgs, MessageType.MsgPreVote), 2);
  assert.equal(msgs[0]!.term, 2, "pre-votes ask about the next term");
  c.queue.push(...msgs);
  c.stabilize();
  assert.deepEqual(c.leaders(), [2]);
  assert.equal(c.raft(2).term, 2);
});

Deno.test("check quorum: a leader that hears from no quorum within an election timeout steps down (§6.2)", () => {
  const c = new Cluster({ peers: [1, 2, 3], config: { checkQuorum: true } });
  c.stabilize();
  c.elect(1);
  c.isolated.add(1);
  for (let k = 0; k < 10; k++) c.tick(1);
  // First timeout: the initial activity marks still count. Second: nobody answered.
  assert.equal(c.state(1), StateType.Leader);
  for (let k = 0; k < 10; k++) c.tick(1);
  assert.equal(c.state(1), StateType.Follower);
  assert.equal(c.raft(1).lead, NONE);
});

Deno.test("check quorum: a leader that keeps hearing from a quorum stays leader", () => {
  const c = new Cluster({ peers: [1, 2, 3], config: { checkQuorum: true } });
  c.stabilize();
  c.elect(1);
  c.isolated.add(3);
  for (let k = 0; k < 50; k++) {
    c.tick(1);
    c.stabilize();
  }
  assert.equal(c.state(1), StateType.Leader);
});

Deno.test("check quorum: a follower in its leader lease ignores a higher-term vote request (thesis §4.2.3)", () => {
  const c = new Cluster({ peers: [1, 2, 3], config: { checkQuorum: true } });
  c.stabilize();
  c.elect(1);
  const r2 = c.raft(2);
  const term = r2.term;
  const m = newMessage(MessageType.MsgVote, 2, 3, term + 5);
  m.index = 100;
  m.logTerm = 100;
  r2.step(m);
  assert.equal(r2.term, term, "the term is not raised");
  assert.equal(r2.msgs.length, 0, "no answer");
  // A leadership transfer campaign bypasses the lease.
  const forced = newMessage(MessageType.MsgVote, 2, 3, term + 5);
  forced.index = 100;
  forced.logTerm = 100;
  forced.context = CAMPAIGN_TRANSFER;
  r2.step(forced);
  assert.equal(r2.term, term + 5);
  assert.equal(r2.msgs.pop()!.reject, false);
});

Deno.test("a stale leader learns the higher term from a MsgAppResp and steps down (§5.1)", () => {
  const c = new Cluster({ peers: [1, 2, 3], config: { checkQuorum: true } });
  c.stabilize();
  c.elect(1);
  c.isolated.add(1);
  // Node 3's lease on leader 1 has expired (it heard nothing for an election timeout).
  c.raft(3).electionElapsed = 10;
  c.elect(2);
  assert.equal(c.state(2), StateType.Leader);
  c.isolated.delete(1);
  // The old leader's heartbeat reaches node 3, which answers with its newer term.
  c.node(1).rn.tick();
  c.stabilize();
  assert.equal(c.state(1), StateType.Follower);
  assert.equal(c.raft(1).term, c.raft(2).term);
  assert.deepEqual(c.leaders(), [2]);
});

Deno.test("a pre-candidate that is removed before it wins the pre-vote does not campaign", () => {
  const c = new Cluster({ peers: [1, 2, 3], config: { preVote: true } });
  c.stabilize();
  c.node(3).rn.campaign();
  assert.equal(c.state(3), StateType.PreCandidate);
  const preVotes = c.takeMessages(3);
  // The removal of node 3 is applied while its pre-votes are out.
  c.node(3).rn.applyConfChange({
    transition: 0,
    changes: [{ type: 1, nodeId: 3 }],
    context: new Uint8Array(),
  });
  c.queue.push(...preVotes);
  c.stabilize();
  assert.equal(c.state(3), StateType.Follower);
  assert.equal(c.raft(3).term, 1, "no real election was started");
});

Deno.test("a candidate with a stale term is told the current term by a rejection (§5.1)", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  const r2 = c.raft(2);
  r2.term = 7;
  const m = newMessage(MessageType.MsgVote, 2, 1, 3);
  m.index = 3;
  m.logTerm = 1;
  r2.step(m);
  const resp = r2.msgs.pop()!;
  assert.equal(resp.type, MessageType.MsgVoteResp);
  assert.equal(resp.reject, true);
  assert.equal(resp.term, 7);
  assert.equal(resp.index, r2.raftLog.committed, "with the voter's commit index");
});
