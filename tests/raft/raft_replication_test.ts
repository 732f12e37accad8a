import assert from "node:assert/strict";
import { MessageType, ProposalDroppedError, StateType } from "../../raft/mod.ts";
import { newMessage } from "../../raft/raft.ts";
import { Cluster, dec, enc, entries, newTestRaft, routeRafts } from "./harness.ts";

function range(from: number, to: number, term: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = from; i <= to; i++) out.push([i, term]);
  return out;
}

Deno.test("a leader replicates proposals and every node applies them in order (§5.3)", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  for (let i = 0; i < 20; i++) c.node(1).rn.propose(enc(`v${i}`));
  c.stabilize();
  for (const id of [1, 2, 3]) {
    assert.deepEqual(
      c.node(id).applied.map((e) => dec(e.data)),
      [...Array(20).keys()].map((i) => `v${i}`),
    );
  }
});

Deno.test("an entry is committed once a majority stores it, even with one follower down (§5.3)", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  c.isolated.add(3);
  c.node(1).rn.propose(enc("x"));
  c.stabilize();
  assert.equal(c.node(1).applied.length, 1);
  assert.equal(c.node(3).applied.length, 0);
  // With both followers down nothing commits.
  c.isolated.add(2);
  c.node(1).rn.propose(enc("y"));
  c.stabilize();
  assert.equal(c.node(1).applied.length, 1);
});

Deno.test("a follower forwards proposals to the leader", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  c.node(2).rn.propose(enc("from-2"));
  const msgs = c.takeMessages(2);
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0]!.type, MessageType.MsgProp);
  assert.equal(msgs[0]!.to, 1);
  c.queue.push(...msgs);
  c.stabilize();
  assert.deepEqual(c.node(3).applied.map((e) => dec(e.data)), ["from-2"]);
});

Deno.test("proposals are dropped without a leader, or when forwarding is disabled", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  assert.throws(() => c.node(2).rn.propose(enc("x")), ProposalDroppedError);
  const d = new Cluster({ peers: [1, 2, 3], config: { disableProposalForwarding: true } });
  d.stabilize();
  d.elect(1);
  assert.throws(() => d.node(2).rn.propose(enc("x")), /does not forward/);
  d.node(1).rn.propose(enc("ok"));
  // A candidate drops proposals too.
  d.node(3).rn.campaign();
  assert.throws(() => d.node(3).rn.propose(enc("x")), ProposalDroppedError);
});

Deno.test("a leader commits an old-term entry only through an entry of its own term (§5.4.2, Figure 8)", () => {
  const l = newTestRaft(1, [1, 2, 3]);
  const f = newTestRaft(2, [1, 2, 3]);
  for (const n of [l, f]) n.raft.raftLog.append(entries([[1, 1], [2, 2]]));
  l.raft.term = 2;
  l.raft.becomeCandidate();
  l.raft.becomeLeader(); // term 3, appends the empty entry 3
  l.raft.msgs = [];
  assert.equal(l.raft.raftLog.lastIndex(), 3);
  // A follower acks index 2 (term 2): a majority has it, but it is not of the leader's term.
  const ack = (index: number) => {
    const m = newMessage(MessageType.MsgAppResp, 1, 2, 3);
    m.index = index;
    l.raft.step(m);
  };
  ack(2);
  assert.equal(l.raft.raftLog.committed, 0);
  ack(3);
  assert.equal(l.raft.raftLog.committed, 3, "committing index 3 commits index 2 with it");
  assert.equal(f.raft.raftLog.committed, 0);
});

Deno.test("a rejection hint lets the leader skip a whole conflicting term in one round trip (§5.3)", () => {
  const l = newTestRaft(1, [1, 2]);
  const f = newTestRaft(2, [1, 2]);
  l.raft.raftLog.append(entries([...range(1, 3, 1), ...range(4, 10, 3)]));
  f.raft.raftLog.append(entries([...range(1, 3, 1), ...range(4, 20, 2)]));
  l.raft.term = 3;
  f.raft.term = 3;
  l.raft.becomeCandidate();
  f.raft.becomeFollower(4, 1);
  l.raft.becomeLeader(); // term 4, entry 11
  l.raft.msgs = [];
  l.raft.bcastAppend();
  const delivered = routeRafts([l, f]);
  const rejects = delivered.filter((m) => m.type === MessageType.MsgAppResp && m.reject);
  assert.equal(rejects.length, 1, "one rejection: the hint skips every term-2 entry");
  assert.equal(
    rejects[0]!.rejectHint,
    10,
    "the probe was at index 10, the last before the new entry",
  );
  assert.equal(rejects[0]!.logTerm, 2);
  assert.equal(f.raft.raftLog.lastIndex(), 11);
  for (let i = 1; i <= 11; i++) {
    assert.equal(f.raft.raftLog.maybeTerm(i), l.raft.raftLog.maybeTerm(i), `term at ${i}`);
  }
  assert.equal(l.raft.raftLog.committed, 11);
});

Deno.test("a follower with a shorter log hints its last index", () => {
  const l = newTestRaft(1, [1, 2]);
  const f = newTestRaft(2, [1, 2]);
  l.raft.raftLog.append(entries(range(1, 8, 1)));
  f.raft.raftLog.append(entries(range(1, 2, 1)));
  l.raft.term = 1;
  l.raft.becomeCandidate();
  f.raft.becomeFollower(2, 1);
  l.raft.becomeLeader();
  l.raft.msgs = [];
  l.raft.bcastAppend();
  const delivered = routeRafts([l, f]);
  const rejects = delivered.filter((m) => m.type === MessageType.MsgAppResp && m.reject);
  assert.equal(rejects.length, 1);
  assert.equal(rejects[0]!.rejectHint, 2);
  assert.equal(f.raft.raftLog.lastIndex(), 9);
});

Deno.test("heartbeats carry min(match, commit), so a lagging follower never commits what it lacks", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  c.isolated.add(3);
  c.node(1).rn.propose(enc("a"));
  c.node(1).rn.propose(enc("b"));
  c.stabilize();
  const r1 = c.raft(1);
  assert.equal(r1.raftLog.committed, 6);
  r1.step(newMessage(MessageType.MsgBeat, 0, 1));
  const hbs = c.takeMessages(1).filter((m) => m.type === MessageType.MsgHeartbeat);
  assert.equal(hbs.find((m) => m.to === 2)!.commit, 6);
  assert.equal(hbs.find((m) => m.to === 3)!.commit, r1.trk.progress.get(3)!.match);
  assert.equal(r1.trk.progress.get(3)!.match, 4);
});

Deno.test("MsgApps respect maxSizePerMsg, and the inflights window bounds messages in flight", () => {
  const c = new Cluster({ peers: [1, 2], config: { maxSizePerMsg: 250, maxInflightMsgs: 2 } });
  c.stabilize();
  c.elect(1);
  // Hold back every ack: the window fills after two messages.
  c.drop = (m) => m.type === MessageType.MsgAppResp;
  for (let i = 0; i < 10; i++) c.node(1).rn.propose(new Uint8Array(100));
  const first = c.takeMessages(1).filter((m) => m.type === MessageType.MsgApp && m.to === 2);
  assert.equal(first.length, 2, "only two MsgApps in flight");
  c.queue.push(...first);
  c.stabilize();
  assert.equal(c.raft(1).trk.progress.get(2)!.state, "replicate");
  // Let acks through: the rest flows in messages of at most 2 entries (2 * 124 <= 250 bytes).
  c.drop = () => false;
  c.delivered = [];
  c.tickAll(1);
  c.stabilize();
  const apps = c.delivered.filter((m) => m.type === MessageType.MsgApp && m.to === 2);
  assert.ok(apps.length > 0);
  for (const m of apps) assert.ok(m.entries.length <= 2, `entries per MsgApp: ${m.entries.length}`);
  assert.equal(c.raft(2).raftLog.lastIndex(), c.raft(1).raftLog.lastIndex());
  assert.equal(c.node(2).applied.length, 10);
});

Deno.test("the inflights window also closes on bytes (maxInflightBytes)", () => {
  const c = new Cluster({
    peers: [1, 2],
    config: { maxSizePerMsg: 100, maxInflightMsgs: 100, maxInflightBytes: 300 },
  });
  c.stabilize();
  c.elect(1);
  c.drop = (m) => m.type === MessageType.MsgAppResp;
  for (let i = 0; i < 10; i++) c.node(1).rn.propose(new Uint8Array(100));
  const apps = c.takeMessages(1).filter((m) => m.type === MessageType.MsgApp && m.to === 2);
  // One 100-byte entry per message; the window is full at 300 bytes.
  assert.deepEqual(apps.map((m) => m.entries.length), [1, 1, 1]);
  assert.equal(c.raft(1).trk.progress.get(2)!.inflights.bytes, 300);
  c.queue.push(...apps);
  c.drop = () => false;
  c.stabilize();
  c.tickAll(2);
  assert.equal(c.node(2).applied.length, 10);
});

Deno.test("the leader drops proposals beyond maxUncommittedEntriesSize; empty entries always pass", () => {
  const c = new Cluster({ peers: [1, 2, 3], config: { maxUncommittedEntriesSize: 1000 } });
  c.stabilize();
  c.elect(1);
  c.isolated.add(2);
  c.isolated.add(3);
  const rn = c.node(1).rn;
  for (let i = 0; i < 10; i++) rn.propose(new Uint8Array(100));
  assert.equal(c.raft(1).uncommittedSize, 1000);
  assert.throws(() => rn.propose(new Uint8Array(1)), ProposalDroppedError);
  rn.propose(new Uint8Array(0));
  // Once the entries commit and apply, the budget is released.
  c.isolated.clear();
  c.tickAll(2);
  c.stabilize();
  assert.equal(c.raft(1).uncommittedSize, 0);
  rn.propose(new Uint8Array(100));
  c.stabilize();
  assert.equal(c.node(3).applied.length, 11);
  assert.equal(c.state(1), StateType.Leader);
});

Deno.test("an unreachable follower in replicate state falls back to probing", () => {
  const c = new Cluster({ peers: [1, 2] });
  c.stabilize();
  c.elect(1);
  const pr = c.raft(1).trk.progress.get(2)!;
  assert.equal(pr.state, "replicate");
  c.node(1).rn.reportUnreachable(2);
  assert.equal(pr.state, "probe");
});
