/**
 * When a node takes its snapshots: every `--snapshot-count` applied entries, at a phase that
 * depends on the node's id; and how long it must be idle before it takes an image it put off.
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

/**
 * How long a node must have been nearly idle before it takes a deferred image: 0.5 s, plus up to
 * 3 s more by its stagger (`idFraction`). When load stops, every node with a deferred image
 * becomes idle at the same moment: with one window for all, two followers of 1.8 million keys
 * began images of 522 MB within 0.1 s in a 1 s pause and took 6.6-6.9 s, most of it in the writes
 * that followed, leaving the leader short of acknowledgements to commit on: p99 267 ms at 64
 * connections through a follower. With the windows apart (1.2, 2.4 and 3.1 s for nodes 2, 1 and
 * 3), a pause under 2.4 s starts one image at most. (Images that the chain calls for `now`, under
 * load, can still fall close together.)
 */
export function idleWindowMs(stagger: number): number {
  return 500 + Math.round(stagger * 3000);
}
