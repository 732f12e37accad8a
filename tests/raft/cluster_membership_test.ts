/**
 * Cluster-level membership scenarios found by the simulator (sim/), replayed deterministically.
 */
import assert from "node:assert/strict";
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  MessageType,
} from "../../raft/mod.ts";
import { newNetwork } from "./network.ts";

const ELECTION = 10;

function removal(id: number): ConfChange {
  return {
    transition: ConfChangeTransition.Auto,
    changes: [{ type: ConfChangeType.RemoveNode, nodeId: id }],
    context: new Uint8Array(),
  };
}

/**
 * Known issue (simulator seeds 195 with --leader-removal on; 7 nodes seed 28 at 5000 steps;
 * 3 nodes seed 225 at 3000 steps): configs take effect when applied (etcd's design) but a leader
 * steps down as soon as it applies its own removal (§6). A remaining voter that missed the commit
 * still counts the old config and needs the removed node's vote, which the removed node refuses
 * (its log is longer: entries it appended after the removal) and it never campaigns itself. The
 * cluster stays without a leader for good. etcd leaves the leader in place by default
 * (StepDownOnRemoval=false) and has a TODO to hand leadership to a caught-up voter first.
 * Set RAFT_KNOWN_ISSUES=1 to run it.
 */
Deno.test({
  name: "a leader removing itself leaves a cluster that can elect a new leader (§6)",
  ignore: Deno.env.get("RAFT_KNOWN_ISSUES") !== "1",
  fn() {
    const nt = newNetwork({ peers: [1, 2], electionTicks: ELECTION, heartbeatTicks: 1 });
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
