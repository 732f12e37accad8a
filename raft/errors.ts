/**
 * The conditions a caller of the raft core is expected to catch. Everything else (a broken
 * invariant) is a bug and crashes with `RaftInvariantError`.
 */

/** The requested index is at or below the storage's compaction point. */
export class CompactedError extends Error {
  override name = "CompactedError";
  constructor(index: number, firstIndex: number) {
    super(
      `Cannot read raft log at index ${index}: compacted (first available index is ${firstIndex})`,
    );
  }
}

/** The requested index is beyond the storage's last index. */
export class UnavailableError extends Error {
  override name = "UnavailableError";
  constructor(index: number, lastIndex: number) {
    super(`Cannot read raft log at index ${index}: unavailable (last index is ${lastIndex})`);
  }
}

/** A snapshot is older than the one the storage already holds. */
export class SnapOutOfDateError extends Error {
  override name = "SnapOutOfDateError";
  constructor(index: number, currentIndex: number) {
    super(
      `Cannot use snapshot at index ${index}: out of date (storage holds a snapshot at index ${currentIndex})`,
    );
  }
}

/** The storage cannot produce a snapshot right now; the leader retries later. */
export class SnapshotTemporarilyUnavailableError extends Error {
  override name = "SnapshotTemporarilyUnavailableError";
  constructor(reason = "snapshot is temporarily unavailable") {
    super(`Cannot send snapshot: ${reason}`);
  }
}

/** Raft dropped a proposal: it will never be committed; the caller may retry elsewhere. */
export class ProposalDroppedError extends Error {
  override name = "ProposalDroppedError";
  constructor(reason: string) {
    super(`Cannot propose: ${reason}`);
  }
}
