import assert from "node:assert/strict";
import { Changer, ConfChangeError, restoreConfig } from "../../raft/confchange/changer.ts";
import { type ConfChangeSingle, ConfChangeType, type ConfState } from "../../raft/mod.ts";
import {
  configToConfState,
  emptyTrackerConfig,
  type ProgressMap,
  type TrackerConfig,
} from "../../raft/tracker/tracker.ts";

interface State {
  config: TrackerConfig;
  progress: ProgressMap;
}

const add = (nodeId: number): ConfChangeSingle => ({ type: ConfChangeType.AddNode, nodeId });
const remove = (nodeId: number): ConfChangeSingle => ({ type: ConfChangeType.RemoveNode, nodeId });
const learner = (nodeId: number): ConfChangeSingle => ({
  type: ConfChangeType.AddLearnerNode,
  nodeId,
});

function changer(s: State): Changer {
  return new Changer({ ...s, lastIndex: 10, maxInflight: 8, maxInflightBytes: 0 });
}

function empty(): State {
  return { config: emptyTrackerConfig(), progress: new Map() };
}

function cs(s: State): ConfState {
  return configToConfState(s.config);
}

function voters(...ids: number[]): State {
  let s = empty();
  for (const id of ids) s = changer(s).simple([add(id)]);
  return s;
}

Deno.test("simple changes add voters and learners one at a time (Raft §6)", () => {
  let s = voters(1, 2);
  assert.deepEqual(cs(s).voters, [1, 2]);
  s = changer(s).simple([learner(3)]);
  assert.deepEqual(cs(s).learners, [3]);
  assert.equal(s.progress.get(3)!.isLearner, true);
  // Promote the learner: a voter change of one.
  s = changer(s).simple([add(3)]);
  assert.deepEqual(cs(s).voters, [1, 2, 3]);
  assert.deepEqual(cs(s).learners, []);
  assert.equal(s.progress.get(3)!.isLearner, false);
  s = changer(s).simple([remove(2)]);
  assert.deepEqual(cs(s).voters, [1, 3]);
  assert.equal(s.progress.has(2), false, "a removed node's progress is dropped");
  // A new node probes from the last index and counts as recently active.
  assert.equal(s.progress.get(3)!.next, 10);
  assert.equal(s.progress.get(3)!.recentActive, true);
});

Deno.test("a simple change of more than one voter is refused and changes nothing", () => {
  const s = voters(1, 2);
  assert.throws(() => changer(s).simple([add(3), add(4)]), ConfChangeError);
  assert.throws(() => changer(s).simple([remove(1), add(3)]), /more than one voter/);
  assert.deepEqual(cs(s).voters, [1, 2]);
  assert.throws(() => changer(voters(1)).simple([remove(1)]), /removed all voters/);
});

Deno.test("joint consensus: enter with several changes, then leave (thesis §4.3)", () => {
  const s0 = voters(1, 2, 3);
  const joint = changer(s0).enterJoint(true, [add(4), add(5), remove(1), remove(2)]);
  assert.deepEqual(cs(joint), {
    voters: [3, 4, 5],
    learners: [],
    votersOutgoing: [1, 2, 3],
    learnersNext: [],
    autoLeave: true,
  });
  // Outgoing voters keep their progress while joint.
  assert.equal(joint.progress.has(1), true);
  const left = changer(joint).leaveJoint();
  assert.deepEqual(cs(left), {
    voters: [3, 4, 5],
    learners: [],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  });
  assert.equal(left.progress.has(1), false);
  assert.equal(left.progress.has(2), false);
});

Deno.test("demoting a voter in a joint config stages it in learnersNext until leaving", () => {
  const s0 = voters(1, 2, 3);
  const joint = changer(s0).enterJoint(false, [learner(3)]);
  assert.deepEqual(cs(joint).learnersNext, [3]);
  assert.deepEqual(cs(joint).learners, []);
  assert.deepEqual(cs(joint).votersOutgoing, [1, 2, 3]);
  const left = changer(joint).leaveJoint();
  assert.deepEqual(cs(left).learners, [3]);
  assert.deepEqual(cs(left).voters, [1, 2]);
  assert.equal(left.progress.get(3)!.isLearner, true);
});

Deno.test("joint validation: no re-entering, no leaving a non-joint config, no simple change while joint", () => {
  const s0 = voters(1, 2, 3);
  assert.throws(() => changer(s0).leaveJoint(), /non-joint/);
  const joint = changer(s0).enterJoint(false, [add(4)]);
  assert.throws(() => changer(joint).enterJoint(false, [add(5)]), /already joint/);
  assert.throws(() => changer(joint).simple([add(5)]), /joint config/);
  assert.throws(() => changer(empty()).enterJoint(false, [add(1)]), /zero-voter/);
});

Deno.test("restoreConfig rebuilds simple and joint configurations from a ConfState", () => {
  const opts = { lastIndex: 5, maxInflight: 8, maxInflightBytes: 0 };
  const simpleCs: ConfState = {
    voters: [1, 2, 3],
    learners: [4],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  };
  assert.deepEqual(cs(restoreConfig(simpleCs, opts)), simpleCs);
  const jointCs: ConfState = {
    voters: [1, 2, 4],
    learners: [5],
    votersOutgoing: [1, 2, 3],
    learnersNext: [3],
    autoLeave: true,
  };
  const restored = restoreConfig(jointCs, opts);
  assert.deepEqual(cs(restored), jointCs);
  assert.equal(restored.progress.size, 5);
  assert.deepEqual(cs(restoreConfig(cs(empty()), opts)), cs(empty()));
});
