/**
 * The test network itself (network.ts): its faults do what they say, and a seed replays exactly.
 * A harness that silently delivered a dropped message would hide core bugs.
 */
import assert from "node:assert/strict";
import { MessageType, StateType } from "../../raft/mod.ts";
import { newNetwork } from "./network.ts";

function ledCluster(options: { seed?: number; reorder?: boolean } = {}) {
  const nt = newNetwork({ peers: [1, 2, 3], electionTicks: 10, ...options });
  nt.stabilize();
  nt.campaign(1);
  assert.equal(nt.node(1).state, StateType.Leader);
  return nt;
}

Deno.test("network: processReady persists, sends, applies in order, and a quiet cluster has no Ready", () => {
  const nt = ledCluster();
  nt.propose(1, "x");
  for (const x of nt.nodes) {
    assert.deepEqual(x.appliedData, ["x"]);
    const hs = x.storage.initialState().hardState;
    assert.equal(hs.commit, x.appliedIndex, `node ${x.id} persisted what it applied`);
    assert.equal(x.storage.lastIndex(), x.appliedIndex);
    assert.equal(x.raw!.hasReady(), false);
  }
  assert.deepEqual(nt.inflight, []);
});

Deno.test("network: a dropped message never arrives; heal restores delivery", () => {
  const nt = ledCluster();
  nt.drop({ from: 1, to: 3 });
  nt.propose(1, "x");
  assert.deepEqual(nt.node(3).appliedData, []);
  assert.deepEqual(nt.node(2).appliedData, ["x"]);
  nt.heal();
  nt.tickAll(1);
  assert.deepEqual(nt.node(3).appliedData, ["x"]);
});

Deno.test("network: a delayed message waits the given ticks", () => {
  const nt = ledCluster();
  nt.delay({ from: 1, to: 3, type: MessageType.MsgApp }, { ticks: 3 });
  nt.drop({ from: 1, to: 3, type: MessageType.MsgHeartbeat });
  nt.propose(1, "x");
  assert.ok(nt.inflight.some((m) => m.to === 3 && m.type === MessageType.MsgApp));
  assert.deepEqual(nt.node(3).appliedData, []);
  nt.tickAll(2);
  assert.equal(nt.node(3).lastIndex < nt.node(1).lastIndex, true, "still delayed after 2 ticks");
  nt.tickAll(1);
  assert.equal(nt.node(3).lastIndex, nt.node(1).lastIndex, "delivered at the third tick");
});

Deno.test("network: a duplicated message is stepped twice, as a fresh copy", () => {
  const nt = ledCluster();
  nt.duplicate({ from: 2, to: 1, type: MessageType.MsgProp });
  nt.recordSent = true;
  nt.propose(2, "forwarded");
  // The leader appended the forwarded proposal twice, at two indexes.
  const copies = nt.node(1).entries().filter((e) =>
    new TextDecoder().decode(e.data) === "forwarded"
  );
  assert.equal(copies.length, 2);
  assert.notEqual(copies[0]!.index, copies[1]!.index);
  assert.deepEqual(nt.node(3).appliedData, ["forwarded", "forwarded"]);
});

Deno.test("network: partitions cut both ways; isolate cuts one node off", () => {
  const nt = ledCluster();
  nt.partition([1], [2, 3]);
  nt.propose(1, "x");
  assert.deepEqual(nt.node(1).appliedData, []);
  nt.heal();
  nt.isolate(3);
  nt.tickAll(1);
  assert.deepEqual(nt.node(1).appliedData, ["x"]);
  assert.deepEqual(nt.node(3).appliedData, []);
});

Deno.test("network: a crash keeps only the storage; a restart replays from it", () => {
  const nt = ledCluster();
  nt.propose(1, "x");
  nt.crash(2);
  assert.equal(nt.node(2).alive, false);
  nt.propose(1, "y");
  nt.restart(2);
  assert.deepEqual(nt.node(2).appliedData, [], "the state machine restarts empty (no snapshot)");
  nt.tickAll(1);
  assert.deepEqual(nt.node(2).appliedData, ["x", "y"]);
});

Deno.test("network: the same seed gives the same run, with reordering", () => {
  const run = (seed: number) => {
    const nt = ledCluster({ seed, reorder: true });
    nt.drop({}, { rate: 0.3 });
    for (let i = 0; i < 20; i++) {
      if (nt.leader() !== undefined) nt.raw(nt.leader()!).propose(new TextEncoder().encode(`${i}`));
      nt.tickAll(3);
    }
    nt.heal();
    nt.tickAll(30);
    return nt.nodes.map((x) => [x.term, x.appliedIndex, x.appliedData.join(",")]);
  };
  assert.deepEqual(run(5), run(5));
});
