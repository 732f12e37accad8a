import assert from "node:assert/strict";
import {
  decodeConfChange,
  EntryType,
  MemoryStorage,
  MessageType,
  mustSync,
  RawNode,
  type Ready,
  StateType,
} from "../../raft/mod.ts";
import { newMessage } from "../../raft/raft.ts";
import { enc } from "./harness.ts";

function newRawNode(id = 1, storage = new MemoryStorage()): RawNode {
  return new RawNode({ id, electionTicks: 10, heartbeatTicks: 1, storage });
}

/** The caller's order: persist, (send), apply, advance. */
function handle(rn: RawNode, storage: MemoryStorage, rd: Ready): void {
  if (rd.snapshot) storage.applySnapshot(rd.snapshot);
  if (rd.hardState) storage.setHardState(rd.hardState);
  storage.append(rd.entries);
  for (const e of rd.committedEntries) {
    if (e.type === EntryType.ConfChange) rn.applyConfChange(decodeConfChange(e.data));
  }
  rn.advance();
}

Deno.test("bootstrap yields one Ready with the committed ConfChange entries and a HardState to sync", () => {
  const storage = new MemoryStorage();
  const rn = newRawNode(1, storage);
  rn.bootstrap([1, 2, 3]);
  assert.equal(rn.hasReady(), true);
  const rd = rn.ready();
  assert.deepEqual(rd.entries.map((e) => [e.index, e.term, e.type]), [
    [1, 1, EntryType.ConfChange],
    [2, 1, EntryType.ConfChange],
    [3, 1, EntryType.ConfChange],
  ]);
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [1, 2, 3]);
  assert.deepEqual(rd.hardState, { term: 1, vote: 0, commit: 3 });
  assert.equal(rd.mustSync, true);
  assert.equal(rd.messages.length, 0);
  handle(rn, storage, rd);
  assert.equal(rn.hasReady(), false);
  assert.equal(rn.status().applied, 3);
});

Deno.test("bootstrap refuses a non-empty storage and bad peer lists", () => {
  const storage = new MemoryStorage();
  storage.append([{ index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array() }]);
  assert.throws(() => newRawNode(1, storage).bootstrap([1]), /not empty/);
  assert.throws(() => newRawNode().bootstrap([]), RangeError);
  assert.throws(() => newRawNode().bootstrap([1, 1]), /duplicate/);
  assert.throws(() => newRawNode().bootstrap([0]), RangeError);
});

Deno.test("a single-node cluster elects itself and commits a proposal in the same Ready", () => {
  const storage = new MemoryStorage();
  const rn = newRawNode(1, storage);
  rn.bootstrap([1]);
  handle(rn, storage, rn.ready());
  rn.campaign();
  const rd = rn.ready();
  assert.deepEqual(rd.softState, { lead: 1, raftState: StateType.Leader });
  assert.deepEqual(rd.hardState, { term: 2, vote: 1, commit: 2 });
  assert.equal(rd.mustSync, true);
  handle(rn, storage, rd);
  rn.propose(enc("hello"));
  const rd2 = rn.ready();
  assert.equal(rd2.softState, undefined, "soft state only when it changes");
  assert.deepEqual(rd2.entries.map((e) => e.index), [3]);
  assert.deepEqual(rd2.committedEntries.map((e) => e.index), [3]);
  assert.deepEqual(rd2.hardState, { term: 2, vote: 1, commit: 3 });
  handle(rn, storage, rd2);
  assert.equal(rn.hasReady(), false);
});

Deno.test("a commit-only HardState change does not need a sync (etcd MustSync)", () => {
  assert.equal(
    mustSync({ term: 1, vote: 0, commit: 5 }, { term: 1, vote: 0, commit: 3 }, 0),
    false,
  );
  assert.equal(mustSync({ term: 2, vote: 0, commit: 3 }, { term: 1, vote: 0, commit: 3 }, 0), true);
  assert.equal(mustSync({ term: 1, vote: 2, commit: 3 }, { term: 1, vote: 0, commit: 3 }, 0), true);
  assert.equal(mustSync({ term: 1, vote: 0, commit: 3 }, { term: 1, vote: 0, commit: 3 }, 1), true);

  // A follower learning a higher commit from a heartbeat: HardState changes, no sync needed.
  const storage = new MemoryStorage();
  const rn = newRawNode(2, storage);
  rn.bootstrap([1, 2]);
  handle(rn, storage, rn.ready());
  const app = newMessage(MessageType.MsgApp, 2, 1, 2);
  app.index = 2;
  app.logTerm = 1;
  app.entries = [{ index: 3, term: 2, type: EntryType.Normal, data: enc("x") }];
  rn.step(app);
  const rd = rn.ready();
  assert.equal(rd.mustSync, true, "new entries and term");
  handle(rn, storage, rd);
  const hb = newMessage(MessageType.MsgHeartbeat, 2, 1, 2);
  hb.commit = 3;
  rn.step(hb);
  const rd2 = rn.ready();
  assert.deepEqual(rd2.hardState, { term: 2, vote: 0, commit: 3 });
  assert.equal(rd2.mustSync, false);
  assert.deepEqual(rd2.committedEntries.map((e) => e.index), [3]);
  assert.equal(rd2.messages[0]!.type, MessageType.MsgHeartbeatResp);
});

Deno.test("a Ready must be advanced before the next one; entries are handed out once", () => {
  const storage = new MemoryStorage();
  const rn = newRawNode(1, storage);
  rn.bootstrap([1]);
  handle(rn, storage, rn.ready());
  rn.campaign();
  handle(rn, storage, rn.ready());
  rn.propose(enc("a"));
  const rd = rn.ready();
  assert.throws(() => rn.ready(), /not advanced/);
  // A proposal while the Ready is being persisted goes into the next Ready only.
  rn.propose(enc("b"));
  assert.deepEqual(rd.entries.map((e) => e.index), [3]);
  handle(rn, storage, rd);
  const rd2 = rn.ready();
  assert.deepEqual(rd2.entries.map((e) => e.index), [4]);
  assert.deepEqual(rd2.committedEntries.map((e) => e.index), [4]);
  handle(rn, storage, rd2);
  assert.throws(() => rn.advance(), /no Ready/);
});

Deno.test("step ignores local-only message types and responses from unknown peers", () => {
  const storage = new MemoryStorage();
  const rn = newRawNode(1, storage);
  rn.bootstrap([1, 2, 3]);
  handle(rn, storage, rn.ready());
  rn.step(newMessage(MessageType.MsgHup, 1, 2));
  assert.equal(rn.raft.state, StateType.Follower, "a MsgHup from the network is ignored");
  const resp = newMessage(MessageType.MsgVoteResp, 1, 9, 5);
  rn.step(resp);
  assert.equal(rn.raft.term, 1, "a response from a non-member is ignored");
});

Deno.test("status reports progress only on the leader", () => {
  const storage = new MemoryStorage();
  const rn = newRawNode(1, storage);
  rn.bootstrap([1]);
  handle(rn, storage, rn.ready());
  assert.equal(rn.status().progress, undefined);
  rn.campaign();
  handle(rn, storage, rn.ready());
  const st = rn.status();
  assert.equal(st.softState.raftState, StateType.Leader);
  assert.deepEqual(st.progress?.get(1), {
    match: 2,
    next: 3,
    state: "replicate",
    recentActive: true,
    isLearner: false,
  });
});

Deno.test("config validation throws RangeError for bad values", () => {
  const storage = new MemoryStorage();
  const base = { id: 1, electionTicks: 10, heartbeatTicks: 1, storage };
  assert.throws(() => new RawNode({ ...base, id: 0 }), RangeError);
  assert.throws(() => new RawNode({ ...base, heartbeatTicks: 0 }), RangeError);
  assert.throws(() => new RawNode({ ...base, electionTicks: 1 }), /greater than heartbeatTicks/);
  assert.throws(() => new RawNode({ ...base, maxInflightMsgs: 0 }), RangeError);
  assert.throws(() => new RawNode({ ...base, maxUncommittedEntriesSize: 0 }), RangeError);
  assert.throws(
    () => new RawNode({ ...base, maxSizePerMsg: 2048, maxInflightBytes: 1024 }),
    /at least maxSizePerMsg/,
  );
  assert.throws(() => new RawNode({ ...base, readOnlyOption: "lease" }), /requires checkQuorum/);
  assert.throws(() => new RawNode({ ...base, applied: 5 }), /applied/);
});

Deno.test("durableIndex: a quorum of persisted logs, counting the leader only up to what it persisted", () => {
  const storage = new MemoryStorage();
  const rn = newRawNode(1, storage);
  rn.bootstrap([1, 2, 3]);
  handle(rn, storage, rn.ready());
  assert.equal(rn.durableIndex(3), 0, "a follower has no durable index");
  rn.campaign();
  handle(rn, storage, rn.ready());
  rn.step(newMessage(MessageType.MsgVoteResp, 1, 2, 2));
  assert.equal(rn.status().softState.raftState, StateType.Leader);
  handle(rn, storage, rn.ready()); // The leader's empty entry at index 4.
  rn.propose(enc("x"));
  const rd = rn.ready();
  assert.deepEqual(rd.entries.map((e) => e.index), [5]);
  const ack = (from: number, index: number) => {
    const m = newMessage(MessageType.MsgAppResp, 1, from, 2);
    m.index = index;
    return m;
  };
  // Follower 2 has 5: committed, since the leader counts its own entry at append...
  rn.step(ack(2, 5));
  assert.equal(rn.status().hardState.commit, 5);
  // ...but on a quorum of disks only with the leader's own write, or follower 3's.
  assert.equal(rn.durableIndex(3), 3);
  assert.equal(rn.durableIndex(5), 5);
  rn.step(ack(3, 5));
  assert.equal(rn.durableIndex(3), 5, "both followers: durable without the leader");
  assert.equal(rn.durableIndex(0), 5);
  // Never above the commit index, whatever the caller claims to have persisted.
  assert.equal(rn.durableIndex(99), 5);
});

Deno.test("takeForwarded: a follower's forwarded proposals and reads leave before the Ready, the rest stay in order", () => {
  const storage = new MemoryStorage();
  const rn = newRawNode(2, storage);
  rn.bootstrap([1, 2, 3]);
  handle(rn, storage, rn.ready());
  rn.step(newMessage(MessageType.MsgHeartbeat, 2, 1, 2)); // Leader 1 at term 2.
  rn.propose(enc("x"));
  rn.readIndex(enc("ctx"));
  rn.step(newMessage(MessageType.MsgHeartbeat, 2, 1, 2));

  const forwarded = rn.takeForwarded();
  assert.deepEqual(forwarded.map((m) => [m.type, m.to, m.term]), [
    [MessageType.MsgProp, 1, 0],
    [MessageType.MsgReadIndex, 1, 0],
  ]);
  assert.deepEqual(forwarded[0]!.entries.map((e) => e.data), [enc("x")]);
  assert.deepEqual(rn.takeForwarded(), [], "taken once");
  const rd = rn.ready();
  assert.deepEqual(rd.messages.map((m) => m.type), [
    MessageType.MsgHeartbeatResp,
    MessageType.MsgHeartbeatResp,
  ]);
  handle(rn, storage, rd);
});
