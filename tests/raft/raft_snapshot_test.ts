import assert from "node:assert/strict";
import {
  decodeConfChange,
  EntryType,
  MessageType,
  RawNode,
  SnapshotStatus,
  StateType,
} from "../../raft/mod.ts";
import { Cluster, dec, enc } from "./harness.ts";

/** Node 3 misses entries while the leader compacts its log past them. */
function laggingCluster(): Cluster {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  c.isolated.add(3);
  for (let i = 0; i < 5; i++) c.node(1).rn.propose(enc(`v${i}`));
  c.stabilize();
  const leader = c.node(1);
  const applied = c.raft(1).raftLog.applied;
  leader.storage.createSnapshot(applied, leader.confState, enc(`state@${applied}`));
  leader.storage.compact(applied);
  c.isolated.delete(3);
  return c;
}

Deno.test("a leader sends a snapshot to a follower behind its first index; the follower restores it (§7)", () => {
  const c = laggingCluster();
  const snapIndex = c.node(1).storage.snapshot().metadata.index;
  c.delivered = [];
  c.tickAll(3);
  c.stabilize();
  const snaps = c.delivered.filter((m) => m.type === MessageType.MsgSnap);
  assert.equal(snaps.length, 1);
  assert.equal(snaps[0]!.snapshot!.metadata.index, snapIndex);
  const f = c.node(3);
  assert.equal(f.storage.snapshot().metadata.index, snapIndex);
  assert.equal(dec(f.storage.snapshot().data), `state@${snapIndex}`);
  assert.deepEqual(f.confState.voters, [1, 2, 3]);
  assert.equal(c.raft(3).raftLog.committed, c.raft(1).raftLog.committed);
  assert.equal(c.raft(3).raftLog.applied, snapIndex);
  // The leader moved it back to replicate once it acked the snapshot index.
  assert.equal(c.raft(1).trk.progress.get(3)!.state, "replicate");
  // Replication continues after the snapshot.
  c.node(1).rn.propose(enc("after"));
  c.stabilize();
  assert.deepEqual(f.applied.map((e) => dec(e.data)), ["after"]);
});

Deno.test("a follower ignores a snapshot older than its commit index", () => {
  const c = laggingCluster();
  const r2 = c.raft(2);
  const snap = c.node(1).storage.snapshot();
  const before = r2.raftLog.committed;
  assert.equal(r2.restore({ ...snap, metadata: { ...snap.metadata, index: before - 1 } }), false);
  assert.equal(r2.raftLog.committed, before);
});

Deno.test("a member added after the latest snapshot restores it, then applies its own addition", () => {
  const c = laggingCluster();
  c.stabilize();
  // The leader's snapshot (voters 1,2,3) predates node 4, which joins with an empty log.
  c.addNode(4, { peers: [] });
  c.node(1).rn.proposeConfChange({
    transition: 0,
    changes: [{ type: 2, nodeId: 4 }],
    context: new Uint8Array(),
  });
  c.delivered = [];
  c.stabilize();
  c.tickAll(3);
  const snaps = c.delivered.filter((m) => m.type === MessageType.MsgSnap && m.to === 4);
  assert.equal(snaps.length, 1, "sent once, not in a loop");
  assert.deepEqual(snaps[0]!.snapshot!.metadata.confState.learners, []);
  assert.deepEqual(
    c.node(4).confState.learners,
    [4],
    "applied its own addition after the snapshot",
  );
  assert.equal(c.raft(4).raftLog.committed, c.raft(1).raftLog.committed);
  assert.equal(c.raft(1).trk.progress.get(4)!.state, "replicate");
});

Deno.test("reportSnapshot: failure sends the follower back to probing from its match", () => {
  const c = laggingCluster();
  // Drop the snapshot in transit.
  c.drop = (m) => m.type === MessageType.MsgSnap;
  c.tickAll(3);
  const pr = c.raft(1).trk.progress.get(3)!;
  assert.equal(pr.state, "snapshot");
  const match = pr.match;
  c.node(1).rn.reportSnapshot(3, SnapshotStatus.Failure);
  assert.equal(pr.state, "probe");
  assert.equal(pr.next, match + 1);
  assert.equal(pr.isPaused(), true, "wait for a heartbeat before retrying");
  // The retry succeeds once the network delivers snapshots again.
  c.drop = () => false;
  c.tickAll(3);
  c.stabilize();
  assert.equal(c.raft(3).raftLog.committed, c.raft(1).raftLog.committed);
});

Deno.test("reportSnapshot: success resumes probing after the snapshot index", () => {
  const c = laggingCluster();
  c.drop = (m) => m.type === MessageType.MsgSnap;
  c.tickAll(3);
  const pr = c.raft(1).trk.progress.get(3)!;
  const pending = pr.pendingSnapshot;
  assert.ok(pending > 0);
  c.node(1).rn.reportSnapshot(3, SnapshotStatus.Finish);
  assert.equal(pr.state, "probe");
  assert.equal(pr.next, pending + 1);
});

Deno.test("a node restarted from its storage resumes with its term, vote and log, and replays committed entries after its snapshot", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  c.node(1).rn.propose(enc("durable"));
  c.stabilize();
  const n2 = c.node(2);
  const before = c.raft(2);
  // No snapshot yet: the ConfState comes from replaying the committed ConfChange entries.
  const restarted = new RawNode({
    id: 2,
    electionTicks: 10,
    heartbeatTicks: 1,
    storage: n2.storage,
  });
  const r = restarted.raft;
  assert.equal(r.term, before.term);
  assert.equal(r.vote, before.vote);
  assert.equal(r.raftLog.lastIndex(), before.raftLog.lastIndex());
  assert.equal(r.raftLog.committed, before.raftLog.committed);
  assert.equal(r.state, StateType.Follower);
  const rd = restarted.ready();
  assert.equal(rd.entries.length, 0, "nothing to persist again");
  assert.equal(rd.committedEntries.length, before.raftLog.committed);
  for (const e of rd.committedEntries) {
    if (e.type === EntryType.ConfChange) restarted.applyConfChange(decodeConfChange(e.data));
  }
  restarted.advance();
  assert.deepEqual(r.trk.confState().voters, [1, 2, 3]);
});

Deno.test("on restart, entries kept below the snapshot are not replayed on top of it", () => {
  const c = new Cluster({ peers: [1, 2, 3] });
  c.stabilize();
  c.elect(1);
  for (let i = 0; i < 4; i++) c.node(1).rn.propose(enc(`v${i}`));
  c.stabilize();
  const n2 = c.node(2);
  const applied = c.raft(2).raftLog.applied;
  n2.storage.createSnapshot(applied, n2.confState, enc("state"));
  // Keep two entries below the snapshot (a partial compaction).
  n2.storage.compact(applied - 2);
  const rn = new RawNode({ id: 2, electionTicks: 10, heartbeatTicks: 1, storage: n2.storage });
  assert.equal(rn.raft.raftLog.applied, applied, "applied defaults to the snapshot index");
  assert.equal(rn.hasReady(), false, "nothing is handed out again");
  // An explicit applied wins over the default.
  const rn2 = new RawNode({
    id: 2,
    electionTicks: 10,
    heartbeatTicks: 1,
    storage: n2.storage,
    applied: applied - 1,
  });
  assert.deepEqual(rn2.ready().committedEntries.map((e) => e.index), [applied]);
});
