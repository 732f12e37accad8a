/**
 * Storage: the raft core's read access to the stable log (etcd's `Storage`), and MemoryStorage,
 * an in-memory implementation that the caller appends to after persisting each Ready.
 *
 * Layout (etcd semantics): the log holds a dummy entry at the snapshot position, so that the term
 * of the snapshot index stays readable after compaction. `firstIndex()` is the index after it.
 */
import { CompactedError, SnapOutOfDateError, UnavailableError } from "./errors.ts";
import type { ConfState, Entry, HardState, Snapshot } from "./types.ts";
import { EntryType } from "./types.ts";
import { assert, EMPTY_BYTES, emptyConfState, sizeLimitedEnd } from "./util.ts";

export interface InitialState {
  hardState: HardState;
  confState: ConfState;
}

export interface Storage {
  /** The persisted HardState and the ConfState of the latest snapshot. */
  initialState(): InitialState;
  /**
   * Entries in [lo, hi), at most `maxBytes` in total but at least one if any. Throws
   * CompactedError when lo <= the snapshot index, UnavailableError when the log is empty.
   */
  entries(lo: number, hi: number, maxBytes?: number): Entry[];
  /** The term of entry i, for i in [firstIndex()-1, lastIndex()]. */
  term(i: number): number;
  firstIndex(): number;
  lastIndex(): number;
  /** The latest snapshot (throws SnapshotTemporarilyUnavailableError if it is being built). */
  snapshot(): Snapshot;
}

function dummyEntry(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: EMPTY_BYTES };
}

export class MemoryStorage implements Storage {
  #hardState: HardState = { term: 0, vote: 0, commit: 0 };
  #snapshot: Snapshot = {
    data: EMPTY_BYTES,
    metadata: { index: 0, term: 0, confState: emptyConfState() },
  };
  /** ents[0] is the dummy entry at the snapshot position. */
  #ents: Entry[] = [dummyEntry(0, 0)];

  initialState(): InitialState {
    return { hardState: { ...this.#hardState }, confState: this.#snapshot.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.#hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
  }

  #offset(): number {
    return this.#ents[0]!.index;
  }

  firstIndex(): number {
    return this.#offset() + 1;
  }

  lastIndex(): number {
    return this.#offset() + this.#ents.length - 1;
  }

  term(i: number): number {
    const offset = this.#offset();
    if (i < offset) throw new CompactedError(i, offset + 1);
    if (i - offset >= this.#ents.length) throw new UnavailableError(i, this.lastIndex());
    return this.#ents[i - offset]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number = Number.MAX_SAFE_INTEGER): Entry[] {
    const offset = this.#offset();
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    if (hi > this.lastIndex() + 1) {
      throw new RangeError(
        `Cannot read entries [${lo}, ${hi}): beyond last index ${this.lastIndex()}`,
      );
    }
    if (lo > hi) throw new RangeError(`Cannot read entries [${lo}, ${hi}): lo > hi`);
    // Only the dummy entry: nothing has been appended since the snapshot.
    if (this.#ents.length === 1) throw new UnavailableError(lo, this.lastIndex());
    const end = sizeLimitedEnd(this.#ents, lo - offset, hi - offset, maxBytes);
    return this.#ents.slice(lo - offset, end);
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** Replaces the storage's contents by a snapshot (a follower restoring from its leader). */
  applySnapshot(snap: Snapshot): void {
    const current = this.#snapshot.metadata.index;
    if (current >= snap.metadata.index) throw new SnapOutOfDateError(snap.metadata.index, current);
    this.#snapshot = snap;
    this.#ents = [dummyEntry(snap.metadata.index, snap.metadata.term)];
  }

  /**
   * Records a snapshot of the state machine at `index` (<= lastIndex). `confState` defaults to the
   * previous snapshot's. Compaction is separate (`compact`), so that a few entries may be kept.
   */
  createSnapshot(index: number, confState: ConfState | undefined, data: Uint8Array): Snapshot {
    const current = this.#snapshot.metadata.index;
    if (index <= current) throw new SnapOutOfDateError(index, current);
    if (index > this.lastIndex()) {
      throw new RangeError(
        `Cannot create snapshot at index ${index}: beyond last index ${this.lastIndex()}`,
      );
    }
    const offset = this.#offset();
    // A compacted log still holds the term of entries above the compaction point.
    assert(index > offset, "snapshot index above compaction point");
    this.#snapshot = {
      data,
      metadata: {
        index,
        term: this.#ents[index - offset]!.term,
        confState: confState ?? this.#snapshot.metadata.confState,
      },
    };
    return this.#snapshot;
  }

  /** Discards entries up to and including `compactIndex`, which becomes the dummy entry. */
  compact(compactIndex: number): void {
    const offset = this.#offset();
    if (compactIndex <= offset) throw new CompactedError(compactIndex, offset + 1);
    if (compactIndex > this.lastIndex()) {
      throw new RangeError(
        `Cannot compact to index ${compactIndex}: beyond last index ${this.lastIndex()}`,
      );
    }
    const i = compactIndex - offset;
    const kept = this.#ents.slice(i);
    const at = kept[0]!;
    kept[0] = dummyEntry(at.index, at.term);
    this.#ents = kept;
    assert(this.#offset() === compactIndex, "compact moves the offset");
  }

  /**
   * Appends entries that must be contiguous with (or overlap) the log; a conflicting suffix is
   * replaced. Entries at or below the compaction point are ignored.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return;
    // Skip the part that is already compacted.
    let start = 0;
    if (first > entries[0]!.index) start = first - entries[0]!.index;
    const at = entries[start]!.index - this.#offset();
    if (at > this.#ents.length) {
      throw new RangeError(
        `Cannot append entries at index ${
          entries[start]!.index
        }: missing entries after last index ${this.lastIndex()}`,
      );
    }
    // Truncate a conflicting (or overlapping) suffix, then push in place: no copy of the log.
    if (at < this.#ents.length) this.#ents.length = at;
    for (let k = start; k < entries.length; k++) {
      const e = entries[k]!;
      assert(e.index === this.#offset() + this.#ents.length, "appended entries are contiguous");
      this.#ents.push(e);
    }
    assert(this.lastIndex() === last, "append ends at the last appended entry");
  }
}
