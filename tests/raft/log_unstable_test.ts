import assert from "node:assert/strict";
import { LogUnstable } from "../../raft/log_unstable.ts";
import { type Entry, EntryType, silentLogger, type Snapshot } from "../../raft/mod.ts";

function ent(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array() };
}

function snap(index: number, term: number): Snapshot {
  return {
    data: new Uint8Array(),
    metadata: {
      index,
      term,
      confState: {
        voters: [1],
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      },
    },
  };
}

function unstable(offset: number, entries: Entry[], s?: Snapshot): LogUnstable {
  const u = new LogUnstable(offset, silentLogger);
  if (s !== undefined) u.restore(s);
  u.truncateAndAppend(entries);
  return u;
}

function ids(entries: Entry[]): string[] {
  return entries.map((e) => `${e.index}/${e.term}`);
}

Deno.test("unstable first/last index and term come from entries or the snapshot", () => {
  const u = unstable(5, [ent(5, 1)]);
  assert.equal(u.maybeFirstIndex(), undefined);
  assert.equal(u.maybeLastIndex(), 5);
  assert.equal(u.maybeTerm(5), 1);
  assert.equal(u.maybeTerm(4), undefined);
  assert.equal(u.maybeTerm(6), undefined);

  const v = unstable(5, [ent(5, 1)], snap(4, 1));
  assert.equal(v.maybeFirstIndex(), 5);
  assert.equal(v.maybeLastIndex(), 5);
  assert.equal(v.maybeTerm(4), 1);
  assert.equal(v.maybeTerm(3), undefined);

  const w = unstable(5, [], snap(4, 2));
  assert.equal(w.maybeLastIndex(), 4);
  assert.equal(w.maybeTerm(4), 2);
});

Deno.test("truncateAndAppend appends, replaces all, or truncates a conflicting suffix", () => {
  const u = unstable(5, [ent(5, 1)]);
  u.truncateAndAppend([ent(6, 1), ent(7, 1)]);
  assert.deepEqual(ids(u.entries), ["5/1", "6/1", "7/1"]);
  u.truncateAndAppend([ent(6, 2)]);
  assert.deepEqual(ids(u.entries), ["5/1", "6/2"]);
  u.truncateAndAppend([ent(4, 3), ent(5, 3)]);
  assert.equal(u.offset, 4);
  assert.deepEqual(ids(u.entries), ["4/3", "5/3"]);
});

Deno.test("stableTo drops persisted entries and ignores a stale term or unknown index", () => {
  const u = unstable(5, [ent(5, 1), ent(6, 1), ent(7, 2)]);
  u.stableTo(6, 2); // wrong term: ignored
  assert.equal(u.offset, 5);
  u.stableTo(9, 2); // beyond: ignored
  assert.equal(u.offset, 5);
  u.stableTo(6, 1);
  assert.equal(u.offset, 7);
  assert.deepEqual(ids(u.entries), ["7/2"]);
  u.stableTo(7, 2);
  assert.equal(u.entries.length, 0);
  assert.equal(u.offset, 8);
});

Deno.test("nextEntries hands each entry out once; a truncation re-hands the replaced ones", () => {
  const u = unstable(1, [ent(1, 1), ent(2, 1)]);
  assert.deepEqual(ids(u.nextEntries()), ["1/1", "2/1"]);
  u.acceptInProgress();
  assert.equal(u.hasNextEntries(), false);
  assert.deepEqual(u.nextEntries(), []);
  u.truncateAndAppend([ent(3, 1)]);
  assert.deepEqual(ids(u.nextEntries()), ["3/1"]);
  u.acceptInProgress();
  // A new leader overwrites index 2 before it was persisted.
  u.truncateAndAppend([ent(2, 2)]);
  assert.deepEqual(ids(u.nextEntries()), ["2/2"]);
  // The old Ready's stableTo(3, 1) no longer matches anything: ignored.
  u.stableTo(3, 1);
  assert.equal(u.offset, 1);
});

Deno.test("nextEntries returns a copy that later appends do not change", () => {
  const u = unstable(1, [ent(1, 1)]);
  const handed = u.nextEntries();
  u.truncateAndAppend([ent(2, 1)]);
  assert.equal(handed.length, 1);
});

Deno.test("restore installs a snapshot; stableSnapTo clears it only for the same index", () => {
  const u = unstable(5, [ent(5, 1)]);
  u.restore(snap(9, 3));
  assert.equal(u.offset, 10);
  assert.equal(u.entries.length, 0);
  assert.equal(u.nextSnapshot()?.metadata.index, 9);
  u.acceptInProgress();
  assert.equal(u.nextSnapshot(), undefined);
  u.stableSnapTo(8);
  assert.notEqual(u.snapshot, undefined);
  u.stableSnapTo(9);
  assert.equal(u.snapshot, undefined);
});
