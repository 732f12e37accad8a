import assert from "node:assert/strict";
import { MessageType, StateType } from "../../raft/mod.ts";
import { Cluster, dec, enc } from "./harness.ts";

Deno.test("safe ReadIndex answers with the commit index after a heartbeat quorum (thesis §6.4)", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  c.node(1).rn.propose(enc("x"));
  c.stabilize();
  const committed = c.raft(1).raftLog.committed;
  c.node(1).rn.readIndex(enc("req-1"));
  // Not answered before the heartbeat round.
  const msgs = c.takeMessages(1);
  assert.equal(c.node(1).readStates.length, 0);
  const hbs = msgs.filter((m) => m.type === MessageType.MsgHeartbeat);
  assert.equal(hbs.length, 2);
  assert.equal(dec(hbs[0]!.context), "req-1");
  c.queue.push(...msgs);
  c.stabilize();
  assert.deepEqual(
    c.node(1).readStates.map((rs) => [rs.index, dec(rs.requestCtx)]),
    [[committed, "req-1"]],
  );
});

Deno.test("safe ReadIndex is not answered without a quorum of heartbeat acks", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  c.isolated.add(2);
  c.isolated.add(3);
  c.node(1).rn.readIndex(enc("lost"));
  c.stabilize();
  assert.equal(c.node(1).readStates.length, 0);
  // Once one follower answers a later heartbeat round, it acks the pending read.
  c.isolated.delete(2);
  c.node(1).rn.tick();
  c.stabilize();
  assert.deepEqual(c.node(1).readStates.map((rs) => dec(rs.requestCtx)), ["lost"]);
});

Deno.test("a new leader holds ReadIndex requests until it commits an entry of its term (thesis §6.4)", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  // Node 1 wins, but no follower has acked its empty entry yet.
  c.node(1).rn.campaign();
  for (let k = 0; k < 3; k++) {
    c.processAll();
    c.deliverQueued();
  }
  c.drop = (m) => m.type === MessageType.MsgAppResp;
  c.stabilize();
  assert.equal(c.state(1), StateType.Leader);
  assert.equal(c.raft(1).committedEntryInCurrentTerm(), false);
  c.node(1).rn.readIndex(enc("early"));
  c.stabilize();
  assert.equal(c.node(1).readStates.length, 0);
  assert.equal(c.raft(1).pendingReadIndexMessages.length, 1);
  // The first commit in the term releases it; the heartbeat round then answers.
  c.drop = () => false;
  c.node(1).rn.tick();
  c.stabilize();
  assert.equal(c.raft(1).pendingReadIndexMessages.length, 0);
  assert.deepEqual(
    c.node(1).readStates.map((rs) => [rs.index, dec(rs.requestCtx)]),
    [[4, "early"]],
  );
});

Deno.test("a single-voter cluster answers ReadIndex at once", () => {
  const c = new Cluster({ peers: [1] });
  c.stabilize();
  c.elect(1);
  assert.equal(c.state(1), StateType.Leader);
  c.node(1).rn.readIndex(enc("solo"));
  c.stabilize();
  assert.deepEqual(c.node(1).readStates.map((rs) => [rs.index, dec(rs.requestCtx)]), [[2, "solo"]]);
});

Deno.test("a follower forwards ReadIndex to the leader and gets a MsgReadIndexResp", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  c.node(3).rn.readIndex(enc("via-3"));
  const fwd = c.takeMessages(3);
  assert.equal(fwd.length, 1);
  assert.equal(fwd[0]!.type, MessageType.MsgReadIndex);
  assert.equal(fwd[0]!.to, 1);
  c.queue.push(...fwd);
  c.delivered = [];
  c.stabilize();
  const resp = c.delivered.filter((m) => m.type === MessageType.MsgReadIndexResp);
  assert.equal(resp.length, 1);
  assert.equal(resp[0]!.to, 3);
  assert.deepEqual(
    c.node(3).readStates.map((rs) => [rs.index, dec(rs.requestCtx)]),
    [[c.raft(1).raftLog.committed, "via-3"]],
  );
  assert.equal(c.node(1).readStates.length, 0);
});

Deno.test("a follower without a leader drops ReadIndex", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.node(2).rn.readIndex(enc("nobody"));
  assert.equal(c.takeMessages(2).length, 0);
});

Deno.test("lease-based ReadIndex answers without a heartbeat round (needs checkQuorum)", () => {
  const c = new Cluster({
    peers: [1, 2, 3],
    config: { readOnlyOption: "lease", checkQuorum: true },
  });
  c.stabilize();
  c.elect(1);
  c.node(1).rn.readIndex(enc("lease"));
  const msgs = c.takeMessages(1);
  assert.equal(msgs.filter((m) => m.type === MessageType.MsgHeartbeat).length, 0);
  c.processReady(1);
  assert.deepEqual(c.node(1).readStates.map((rs) => dec(rs.requestCtx)), ["lease"]);
});

Deno.test("a removed leader handing over does not serve reads, even when one voter remains (§6, §6.4)", () => {
  const c = new Cluster({ peers: [1, 2] });
  c.stabilize();
  c.elect(1);
  const removalIndex = c.raft(1).raftLog.lastIndex() + 1;
  // Node 2 gets the removal but not what node 1 appends after it, so node 1 keeps handing over.
  c.drop = (m) => m.from === 1 && m.to === 2 && m.entries.some((e) => e.index > removalIndex);
  c.node(1).rn.proposeConfChange({
    transition: 0,
    changes: [{ type: 1, nodeId: 1 }],
    context: new Uint8Array(),
  });
  c.processReady(1);
  c.node(1).rn.propose(enc("x"));
  c.stabilize();
  assert.equal(c.state(1), StateType.Leader);
  assert.equal(c.raft(1).trk.isSingleton(), true, "the one remaining voter is node 2");
  c.node(1).rn.readIndex(enc("read on 1"));
  c.stabilize();
  assert.deepEqual(c.node(1).readStates, []);
});
