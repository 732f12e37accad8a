/**
 * The unstable part of the log: entries (and possibly a snapshot) that raft has accepted but the
 * caller has not yet persisted. `offset` is the index of entries[0]. Entries at and above
 * `offsetInProgress` have not been handed out in a Ready yet; those below it are being persisted.
 */
import type { Logger } from "./logger.ts";
import type { Entry, Snapshot } from "./types.ts";
import { assert, sizeLimitedEnd } from "./util.ts";

export class LogUnstable {
  /** An incoming snapshot, when there is one; it precedes all entries. */
  snapshot: Snapshot | undefined = undefined;
  entries: Entry[] = [];
  offset: number;
  snapshotInProgress = false;
  offsetInProgress: number;
  #logger: Logger;

  constructor(offset: number, logger: Logger) {
    assert(offset >= 1, "unstable offset is at least 1");
    this.offset = offset;
    this.offsetInProgress = offset;
    this.#logger = logger;
  }

  /** The first index if there is a snapshot (the index after it), else undefined. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  /** The last index if there are entries or a snapshot, else undefined. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length !== 0) return this.offset + this.entries.length - 1;
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index;
  }

  /** The term of entry i if the unstable log knows it. */
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      const snap = this.snapshot;
      if (snap !== undefined && snap.metadata.index === i) return snap.metadata.term;
      return undefined;
    }
    const k = i - this.offset;
    if (k >= this.entries.length) return undefined;
    return this.entries[k]!.term;
  }

  /** Entries not yet handed out for persisting (a copy: later appends must not alter it). */
  nextEntries(): Entry[] {
    const inProgress = this.offsetInProgress - this.offset;
    assert(inProgress >= 0 && inProgress <= this.entries.length, "offsetInProgress in range");
    if (inProgress === this.entries.length) return [];
    return this.entries.slice(inProgress);
  }

  hasNextEntries(): boolean {
    return this.offsetInProgress - this.offset < this.entries.length;
  }

  nextSnapshot(): Snapshot | undefined {
    if (this.snapshot === undefined || this.snapshotInProgress) return undefined;
    return this.snapshot;
  }

  /** Marks everything currently unstable as handed out in a Ready. */
  acceptInProgress(): void {
    if (this.entries.length > 0) {
      this.offsetInProgress = this.offset + this.entries.length;
    }
    if (this.snapshot !== undefined) this.snapshotInProgress = true;
  }

  /**
   * The entries up to (i, t) have been persisted. Ignored when the entry at i has since been
   * replaced (another term) or is not in the unstable log.
   */
  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i);
    if (gt === undefined) {
      this.#logger.debug(`entry at index ${i} missing from unstable log; ignoring stableTo`);
      return;
    }
    if (i < this.offset) {
      // It matched the unstable snapshot, not an entry: the snapshot is handled by stableSnapTo.
      return;
    }
    if (gt !== t) {
      this.#logger.debug(`entry at (${i}, ${t}) was overwritten by term ${gt}; ignoring stableTo`);
      return;
    }
    const num = i + 1 - this.offset;
    this.entries = num === this.entries.length ? [] : this.entries.slice(num);
    this.offset = i + 1;
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset);
    assert(this.offsetInProgress <= this.offset + this.entries.length, "offsetInProgress bound");
  }

  stableSnapTo(i: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === i) {
      this.snapshot = undefined;
      this.snapshotInProgress = false;
    }
  }

  /** Replaces everything by an incoming snapshot. */
  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = s;
    this.snapshotInProgress = false;
  }

  /** Appends entries, first truncating whatever conflicts with them (they may start earlier). */
  truncateAndAppend(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const fromIndex = ents[0]!.index;
    const end = this.offset + this.entries.length;
    if (fromIndex === end) {
      // The common case: a plain append, in place.
      for (let k = 0; k < ents.length; k++) this.entries.push(ents[k]!);
    } else if (fromIndex <= this.offset) {
      // Replace the whole unstable log. A fresh array: the caller may keep `ents`.
      this.offset = fromIndex;
      this.offsetInProgress = this.offset;
      this.entries = ents.slice();
    } else {
      assert(fromIndex < end, "no gap between unstable entries and appended ones");
      this.#logger.info(`truncating unstable entries at index ${fromIndex}`);
      this.entries = this.entries.slice(0, fromIndex - this.offset);
      for (let k = 0; k < ents.length; k++) this.entries.push(ents[k]!);
      this.offsetInProgress = Math.min(this.offsetInProgress, fromIndex);
    }
    assert(
      this.entries[this.entries.length - 1]!.index === this.offset + this.entries.length - 1,
      "unstable entries are contiguous",
    );
  }

  /**
   * Entries in [lo, hi), which must lie within the unstable entries, at most `maxBytes` (at
   * least one). A fresh array holding only what is returned.
   */
  slice(lo: number, hi: number, maxBytes = Number.MAX_SAFE_INTEGER): Entry[] {
    assert(lo <= hi, "unstable slice lo <= hi");
    assert(
      lo >= this.offset && hi <= this.offset + this.entries.length,
      "unstable slice within bounds",
    );
    const start = lo - this.offset;
    return this.entries.slice(
      start,
      sizeLimitedEnd(this.entries, start, hi - this.offset, maxBytes),
    );
  }
}
