/**
 * When a node takes its snapshots: every `--snapshot-count` applied entries, at a phase that
 * depends on the node's id.
 */

/** Where in every `count` entries a node's snapshots fall (see `snapshotPhase`). */
export interface SnapshotPhase {
  count: number;
  offset: number;
}

/**
 * Snapshots are due every `count` applied entries, at indexes offset by a fraction of `count`
 * that depends on the node's id (the golden ratio spreads any ids). Every node applies the same
 * entries at about the same moment: in phase, all of them would encode and write a snapshot at
 * once, and the leader, which needs one follower's acknowledgement per commit, would find every
 * follower busy. Out of phase, a busy follower is covered by another, and nodes that share a
 * machine do not burst together. The phase survives restarts: it depends on the index only.
 */
export function snapshotPhase(id: number, count: number): SnapshotPhase {
  return { count, offset: Math.floor(idFraction(id) * count) };
}

/**
 * A fraction in [0, 1) set by the node's id: the golden ratio spreads any ids. It places the
 * node's snapshots (`snapshotPhase`) and lowers its image limits (`SnapshotChain.imageNeed`).
 */
export function idFraction(id: number): number {
  return (id * 0.6180339887498949) % 1;
}

/** True when a phase point lies in (snapshotIndex, appliedIndex]. */
export function snapshotDue(
  snapshotIndex: number,
  appliedIndex: number,
  phase: SnapshotPhase,
): boolean {
  const period = (index: number) => Math.floor((index - phase.offset) / phase.count);
  return period(appliedIndex) > period(snapshotIndex);
}
