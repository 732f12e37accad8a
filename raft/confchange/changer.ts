/**
 * Membership changes (etcd's confchange.Changer): a simple change of at most one voter, or joint
 * consensus (Raft thesis §4.3) entered with any set of changes and left afterwards. Each operation
 * validates and returns a NEW configuration and progress map; on error nothing is changed.
 */
import { isJoint } from "../quorum/joint.ts";
import { Inflights } from "../tracker/inflights.ts";
import { Progress } from "../tracker/progress.ts";
import {
  cloneTrackerConfig,
  configToString,
  emptyTrackerConfig,
  type ProgressMap,
  type TrackerConfig,
} from "../tracker/tracker.ts";
import type { ConfChangeSingle, ConfState } from "../types.ts";
import { ConfChangeType } from "../types.ts";
import { assert } from "../util.ts";

export interface ChangeResult {
  config: TrackerConfig;
  progress: ProgressMap;
}

/** Thrown when a configuration change is invalid for the current configuration. */
export class ConfChangeError extends Error {
  override name = "ConfChangeError";
}

export class Changer {
  readonly #config: TrackerConfig;
  readonly #progress: ProgressMap;
  readonly #lastIndex: number;
  readonly #maxInflight: number;
  readonly #maxInflightBytes: number;

  constructor(
    options: {
      config: TrackerConfig;
      progress: ProgressMap;
      lastIndex: number;
      maxInflight: number;
      maxInflightBytes: number;
    },
  ) {
    this.#config = options.config;
    this.#progress = options.progress;
    this.#lastIndex = options.lastIndex;
    this.#maxInflight = options.maxInflight;
    this.#maxInflightBytes = options.maxInflightBytes;
  }

  /** Enters a joint configuration: the current voters become the outgoing half. */
  enterJoint(autoLeave: boolean, changes: readonly ConfChangeSingle[]): ChangeResult {
    const { config, progress } = this.#checkAndCopy();
    if (isJoint(config.voters)) {
      throw this.#error("config is already joint");
    }
    if (config.voters.incoming.size === 0) {
      // Without voters there is nothing to be joint with: use simple changes to bootstrap.
      throw this.#error("can't make a zero-voter config joint");
    }
    for (const id of config.voters.incoming) config.voters.outgoing.add(id);
    this.#apply(config, progress, changes);
    config.autoLeave = autoLeave;
    return this.#checkAndReturn(config, progress);
  }

  /** Leaves the joint configuration: the outgoing half is dropped, learnersNext become learners. */
  leaveJoint(): ChangeResult {
    const { config, progress } = this.#checkAndCopy();
    if (!isJoint(config.voters)) {
      throw this.#error("can't leave a non-joint config");
    }
    for (const id of config.learnersNext) {
      config.learners.add(id);
      const pr = progress.get(id);
      assert(pr !== undefined, "learnerNext has a progress");
      pr.isLearner = true;
    }
    config.learnersNext.clear();
    for (const id of config.voters.outgoing) {
      const isVoter = config.voters.incoming.has(id);
      const isLearner = config.learners.has(id);
      if (!isVoter && !isLearner) progress.delete(id);
    }
    config.voters.outgoing.clear();
    config.autoLeave = false;
    return this.#checkAndReturn(config, progress);
  }

  /**
   * Applies changes that change at most one voter, outside a joint configuration (Raft §6 single
   * server changes: any two majorities of the old and new configs overlap).
   */
  simple(changes: readonly ConfChangeSingle[]): ChangeResult {
    const { config, progress } = this.#checkAndCopy();
    if (isJoint(config.voters)) {
      throw this.#error("can't apply simple config change in joint config");
    }
    const before = config.voters.incoming;
    const after = new Set(before);
    config.voters.incoming = after;
    this.#apply(config, progress, changes);
    let diff = 0;
    for (const id of before) if (!after.has(id)) diff++;
    for (const id of after) if (!before.has(id)) diff++;
    if (diff > 1) {
      throw this.#error("more than one voter changed without entering joint config");
    }
    return this.#checkAndReturn(config, progress);
  }

  #apply(config: TrackerConfig, progress: ProgressMap, changes: readonly ConfChangeSingle[]) {
    for (const cc of changes) {
      // A node id of 0 is ignored (etcd: a no-op change, e.g. to force a leave).
      if (cc.nodeId === 0) continue;
      switch (cc.type) {
        case ConfChangeType.AddNode:
          this.#makeVoter(config, progress, cc.nodeId);
          break;
        case ConfChangeType.AddLearnerNode:
          this.#makeLearner(config, progress, cc.nodeId);
          break;
        case ConfChangeType.RemoveNode:
          this.#remove(config, progress, cc.nodeId);
          break;
        default:
          throw this.#error(`unknown conf change type ${(cc as ConfChangeSingle).type}`);
      }
    }
    if (config.voters.incoming.size === 0) throw this.#error("removed all voters");
  }

  #makeVoter(config: TrackerConfig, progress: ProgressMap, id: number): void {
    const pr = progress.get(id);
    if (pr === undefined) {
      this.#initProgress(config, progress, id, false);
      return;
    }
    pr.isLearner = false;
    config.learners.delete(id);
    config.learnersNext.delete(id);
    config.voters.incoming.add(id);
  }

  /**
   * A voter of the outgoing config cannot be a learner at the same time: it is staged in
   * learnersNext and becomes a learner when the joint config is left.
   */
  #makeLearner(config: TrackerConfig, progress: ProgressMap, id: number): void {
    const pr = progress.get(id);
    if (pr === undefined) {
      this.#initProgress(config, progress, id, true);
      return;
    }
    if (pr.isLearner) return;
    this.#remove(config, progress, id);
    // remove() may have dropped the progress: keep it, the node stays in the cluster.
    progress.set(id, pr);
    if (config.voters.outgoing.has(id)) {
      config.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      config.learners.add(id);
    }
  }

  #remove(config: TrackerConfig, progress: ProgressMap, id: number): void {
    if (!progress.has(id)) return;
    config.voters.incoming.delete(id);
    config.learners.delete(id);
    config.learnersNext.delete(id);
    // An outgoing voter keeps its progress until the joint config is left.
    if (!config.voters.outgoing.has(id)) progress.delete(id);
  }

  #initProgress(config: TrackerConfig, progress: ProgressMap, id: number, isLearner: boolean) {
    if (isLearner) config.learners.add(id);
    else config.voters.incoming.add(id);
    // Probe from the last index; recently active so that CheckQuorum does not count a new node
    // against the leader before it had a chance to answer.
    const next = Math.max(this.#lastIndex, 1);
    progress.set(
      id,
      new Progress({
        match: 0,
        next,
        inflights: new Inflights(this.#maxInflight, this.#maxInflightBytes),
        isLearner,
        recentActive: true,
      }),
    );
  }

  #checkAndCopy(): ChangeResult {
    const config = cloneTrackerConfig(this.#config);
    const progress: ProgressMap = new Map();
    for (const [id, pr] of this.#progress) progress.set(id, pr.clone());
    checkInvariants(config, progress);
    return { config, progress };
  }

  #checkAndReturn(config: TrackerConfig, progress: ProgressMap): ChangeResult {
    checkInvariants(config, progress);
    return { config, progress };
  }

  #error(reason: string): ConfChangeError {
    return new ConfChangeError(
      `Cannot change configuration ${configToString(this.#config)}: ${reason}`,
    );
  }
}

/** The configuration invariants; a violation is a bug (or a corrupt ConfState). */
export function checkInvariants(config: TrackerConfig, progress: ProgressMap): void {
  const ids = [
    ...config.voters.incoming,
    ...config.voters.outgoing,
    ...config.learners,
    ...config.learnersNext,
  ];
  for (const id of ids) {
    assert(progress.has(id), `no progress for member ${id}`);
  }
  for (const id of config.learnersNext) {
    assert(config.voters.outgoing.has(id), `learnerNext ${id} is not an outgoing voter`);
    assert(progress.get(id)!.isLearner === false, `learnerNext ${id} is already a learner`);
  }
  for (const id of config.learners) {
    assert(!config.voters.outgoing.has(id), `learner ${id} is an outgoing voter`);
    assert(!config.voters.incoming.has(id), `learner ${id} is an incoming voter`);
    assert(progress.get(id)!.isLearner, `learner ${id} progress is not marked learner`);
  }
  if (!isJoint(config.voters)) {
    assert(config.learnersNext.size === 0, "learnersNext outside a joint config");
    assert(!config.autoLeave, "autoLeave outside a joint config");
  }
}

/**
 * Rebuilds a configuration from a ConfState (a snapshot or storage at startup), replaying it as
 * etcd does: the outgoing config by simple changes, then the incoming one as a joint change.
 */
export function restoreConfig(
  cs: ConfState,
  options: { lastIndex: number; maxInflight: number; maxInflightBytes: number },
): ChangeResult {
  let state: ChangeResult = { config: emptyTrackerConfig(), progress: new Map() };
  const step = (fn: (c: Changer) => ChangeResult) => {
    state = fn(new Changer({ ...options, config: state.config, progress: state.progress }));
  };
  const add = (nodeId: number): ConfChangeSingle => ({ type: ConfChangeType.AddNode, nodeId });
  const addLearner = (nodeId: number): ConfChangeSingle => ({
    type: ConfChangeType.AddLearnerNode,
    nodeId,
  });
  if (cs.votersOutgoing.length === 0) {
    // Not joint: add voters then learners one at a time.
    for (const id of cs.voters) step((c) => c.simple([add(id)]));
    for (const id of cs.learners) step((c) => c.simple([addLearner(id)]));
    assert(cs.learnersNext.length === 0, "learnersNext without a joint config");
    return state;
  }
  // Joint: build the outgoing config, then enter the joint config with the incoming one, whose
  // learnersNext are added as learners (they are outgoing voters, so they land in learnersNext).
  for (const id of cs.votersOutgoing) step((c) => c.simple([add(id)]));
  const incoming: ConfChangeSingle[] = [];
  for (const id of cs.votersOutgoing) {
    incoming.push({ type: ConfChangeType.RemoveNode, nodeId: id });
  }
  for (const id of cs.voters) incoming.push(add(id));
  for (const id of cs.learners) incoming.push(addLearner(id));
  for (const id of cs.learnersNext) incoming.push(addLearner(id));
  step((c) => c.enterJoint(cs.autoLeave, incoming));
  return state;
}
