/**
 * The raft log: stable entries in Storage followed by unstable ones, with the commit and apply
 * cursors. Invariant: applied <= applying <= committed <= lastIndex (Raft §5.3, etcd's raftLog).
 */
import { CompactedError, UnavailableError } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { LogUnstable } from "./log_unstable.ts";
import type { Storage } from "./storage.ts";
import type { Entry, Snapshot } from "./types.ts";
import { assert, limitSize } from "./util.ts";

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: LogUnstable;
  /** The highest index known to be stored on a quorum. */
  committed: number;
  /** The highest index handed out for applying (in a Ready) but maybe not yet applied. */
  applying: number;
  /** The highest index the application has applied. */
  applied: number;
  /** The byte bound on the committed entries of one Ready. */
  readonly maxApplyingEntsSize: number;
  #logger: Logger;

  constructor(storage: Storage, logger: Logger, maxApplyingEntsSize: number) {
    assert(maxApplyingEntsSize > 0, "maxApplyingEntsSize is positive");
    this.storage = storage;
    this.#logger = logger;
    this.maxApplyingEntsSize = maxApplyingEntsSize;
    const firstIndex = storage.firstIndex();
    const lastIndex = storage.lastIndex();
    assert(firstIndex >= 1 && lastIndex >= firstIndex - 1, "storage index range is sane");
    this.unstable = new LogUnstable(lastIndex + 1, logger);
    // Everything up to the snapshot is committed and applied by definition.
    this.committed = firstIndex - 1;
    this.applying = firstIndex - 1;
    this.applied = firstIndex - 1;
  }

  toString(): string {
    return `committed=${this.committed}, applied=${this.applied}, applying=${this.applying}, ` +
      `unstable.offset=${this.unstable.offset}, unstable.entries=${this.unstable.entries.length}`;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** The term of entry i, or undefined when it is compacted or beyond the last index. */
  maybeTerm(i: number): number | undefined {
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    // The valid range is [firstIndex-1, lastIndex]: the entry before firstIndex keeps its term.
    if (i + 1 < this.firstIndex() || i > this.lastIndex()) return undefined;
    try {
      return this.storage.term(i);
    } catch (err) {
      if (err instanceof CompactedError || err instanceof UnavailableError) return undefined;
      throw err;
    }
  }

  /** The term of entry i; throws CompactedError / UnavailableError out of range. */
  term(i: number): number {
    const t = this.maybeTerm(i);
    if (t !== undefined) return t;
    if (i + 1 < this.firstIndex()) throw new CompactedError(i, this.firstIndex());
    throw new UnavailableError(i, this.lastIndex());
  }

  lastTerm(): number {
    const t = this.maybeTerm(this.lastIndex());
    assert(t !== undefined, "the last entry's term is always known");
    return t;
  }

  matchTerm(i: number, t: number): boolean {
    return this.maybeTerm(i) === t;
  }

  /**
   * Appends `ents` after the entry (index, logTerm) if it is in the log (the §5.3 consistency
   * check), truncating a conflicting suffix, and commits up to min(committed, last new index).
   * Returns the last new index, or undefined when the check fails.
   */
  maybeAppend(
    index: number,
    logTerm: number,
    committed: number,
    ents: Entry[],
  ): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      // A committed entry never conflicts: that would break Log Matching (§5.3).
      assert(ci > this.committed, "conflict with a committed entry");
      const offset = index + 1;
      this.append(ci === offset ? ents : ents.slice(ci - offset));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** Appends entries after a possible truncation; returns the new last index. */
  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    assert(after >= this.committed, "append must not overwrite committed entries");
    assert(after <= this.lastIndex(), "append must not leave a gap");
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry of `ents` that is not in the log with the same term (a conflict
   * or a new entry), or 0 when all of them are already there.
   */
  findConflict(ents: readonly Entry[]): number {
    for (let k = 0; k < ents.length; k++) {
      const e = ents[k]!;
      if (!this.matchTerm(e.index, e.term)) {
        if (e.index <= this.lastIndex()) {
          this.#logger.info(
            `found conflict at index ${e.index} [existing term: ${
              this.maybeTerm(e.index) ?? 0
            }, conflicting term: ${e.term}]`,
          );
        }
        return e.index;
      }
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`, with that term: where the logs may
   * agree (fast backtracking, §5.3). An unknown term (compacted) is reported as term 0.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    // Bounded by `index`: each step moves one entry back.
    for (let i = index; i > 0; i--) {
      const ourTerm = this.maybeTerm(i);
      if (ourTerm === undefined) return { index: i, term: 0 };
      if (ourTerm <= term) return { index: i, term: ourTerm };
    }
    return { index: 0, term: 0 };
  }

  /** §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex());
  }

  commitTo(toCommit: number): void {
    // Never decrease the commit index.
    if (this.committed < toCommit) {
      assert(toCommit <= this.lastIndex(), "commit index beyond the last index");
      this.committed = toCommit;
    }
  }

  /**
   * Commits `index` if the entry there has term `term` (§5.4.2: a leader only commits entries of
   * its own term by counting replicas).
   */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.matchTerm(index, term)) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    assert(i >= this.applied && i <= this.committed, "applied index within [applied, committed]");
    this.applied = i;
    this.applying = Math.max(this.applying, i);
  }

  /** The committed entries up to `index` were handed out for applying. */
  acceptApplying(index: number): void {
    assert(index <= this.committed && index > this.applying, "applying advances within committed");
    this.applying = index;
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  hasNextUnstableEnts(): boolean {
    return this.unstable.hasNextEntries();
  }

  nextUnstableEnts(): Entry[] {
    return this.unstable.nextEntries();
  }

  hasNextUnstableSnapshot(): boolean {
    return this.unstable.nextSnapshot() !== undefined;
  }

  nextUnstableSnapshot(): Snapshot | undefined {
    return this.unstable.nextSnapshot();
  }

  /** A snapshot is waiting to be persisted or applied: committed entries must wait for it. */
  hasNextOrInProgressSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  hasNextCommittedEnts(): boolean {
    if (this.hasNextOrInProgressSnapshot()) return false;
    return this.applying < this.committed;
  }

  /**
   * Committed entries not yet handed out, at most maxApplyingEntsSize bytes (at least one).
   * Unstable committed entries are included: the caller persists a Ready before applying it.
   */
  nextCommittedEnts(): Entry[] {
    if (!this.hasNextCommittedEnts()) return [];
    const lo = this.applying + 1;
    const hi = this.committed + 1;
    return this.slice(lo, hi, this.maxApplyingEntsSize);
  }

  /** The latest snapshot: the unstable one if any, else the storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Replaces the log by a snapshot (a follower catching up, §7). */
  restore(s: Snapshot): void {
    this.#logger.info(
      `log [${this.toString()}] starts to restore snapshot [index: ${s.metadata.index}, term: ${s.metadata.term}]`,
    );
    assert(s.metadata.index > this.committed, "a restored snapshot is newer than committed");
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** Entries from i to the last, at most maxBytes (at least one). */
  entries(i: number, maxBytes: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxBytes);
  }

  /**
   * Entries in [lo, hi), at most maxBytes but at least one. Throws CompactedError when lo is
   * compacted. Unstable entries are shared slices: no copy of the log beyond [lo, hi).
   */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo <= hi, "slice lo <= hi");
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo, first);
    assert(hi <= this.lastIndex() + 1, "slice hi within the log");
    if (lo === hi) return [];
    const offset = this.unstable.offset;
    if (lo >= offset) return this.unstable.slice(lo, hi, maxBytes);
    const stableHi = Math.min(hi, offset);
    const stable = this.storage.entries(lo, stableHi, maxBytes);
    // The storage cut the batch short (byte limit): do not add unstable entries after a gap.
    if (stable.length < stableHi - lo || hi <= offset) return stable;
    const rest = this.unstable.slice(offset, hi, maxBytes);
    const all = stable.length === 0 ? rest : stable.concat(rest);
    return limitSize(all, maxBytes);
  }
}
