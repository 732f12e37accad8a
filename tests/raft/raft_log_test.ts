import assert from "node:assert/strict";
import { type Entry, EntryType, MemoryStorage, silentLogger } from "../../raft/mod.ts";
import { RaftLog } from "../../raft/raft_log.ts";
import { CompactedError } from "../../raft/errors.ts";

function ent(index: number, term: number, size = 0): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array(size) };
}

function ids(entries: Entry[]): string[] {
  return entries.map((e) => `${e.index}/${e.term}`);
}

/** A log with entries 1..3 at terms 1, 2, 3 (unstable). */
function newLog(maxApplying = 1 << 20): RaftLog {
  const log = new RaftLog(new MemoryStorage(), silentLogger, maxApplying);
  log.append([ent(1, 1), ent(2, 2), ent(3, 3)]);
  return log;
}

Deno.test("findConflict returns the first new or conflicting index, 0 when all match", () => {
  const log = newLog();
  assert.equal(log.findConflict([]), 0);
  assert.equal(log.findConflict([ent(1, 1), ent(2, 2), ent(3, 3)]), 0);
  assert.equal(log.findConflict([ent(2, 2), ent(3, 3), ent(4, 4)]), 4);
  assert.equal(log.findConflict([ent(2, 2), ent(3, 4)]), 3);
  assert.equal(log.findConflict([ent(1, 4), ent(2, 4)]), 1);
});

Deno.test("maybeAppend applies the §5.3 consistency check and truncates only a conflicting suffix", () => {
  // Mismatch at the previous entry: rejected, nothing changes.
  let log = newLog();
  assert.equal(log.maybeAppend(3, 2, 3, [ent(4, 4)]), undefined);
  assert.equal(log.lastIndex(), 3);
  // Match, new entries appended, commit limited to the last new entry.
  log = newLog();
  assert.equal(log.maybeAppend(3, 3, 10, [ent(4, 4), ent(5, 4)]), 5);
  assert.equal(log.committed, 5);
  // Entries already present (a duplicate MsgApp) do not truncate later ones.
  log = newLog();
  assert.equal(log.maybeAppend(1, 1, 0, [ent(2, 2)]), 2);
  assert.equal(log.lastIndex(), 3);
  // A conflict replaces the suffix.
  log = newLog();
  assert.equal(log.maybeAppend(1, 1, 0, [ent(2, 4)]), 2);
  assert.deepEqual(ids(log.slice(1, 3, 1 << 20)), ["1/1", "2/4"]);
  assert.equal(log.lastIndex(), 2);
});

Deno.test("maybeAppend refuses to overwrite a committed entry", () => {
  const log = newLog();
  log.commitTo(2);
  assert.throws(() => log.maybeAppend(1, 1, 2, [ent(2, 9)]), /committed/);
});

Deno.test("maybeCommit commits only an index whose entry has the given term (§5.4.2)", () => {
  const log = newLog();
  assert.equal(log.maybeCommit(3, 2), false);
  assert.equal(log.committed, 0);
  assert.equal(log.maybeCommit(2, 2), true);
  assert.equal(log.committed, 2);
  assert.equal(log.maybeCommit(1, 1), false, "never moves backwards");
  assert.equal(log.committed, 2);
});

Deno.test("findConflictByTerm finds the last index with term <= the given term", () => {
  const log = new RaftLog(new MemoryStorage(), silentLogger, 1 << 20);
  log.append([ent(1, 1), ent(2, 1), ent(3, 4), ent(4, 4), ent(5, 5), ent(6, 5)]);
  assert.deepEqual(log.findConflictByTerm(6, 5), { index: 6, term: 5 });
  assert.deepEqual(log.findConflictByTerm(6, 4), { index: 4, term: 4 });
  assert.deepEqual(log.findConflictByTerm(6, 3), { index: 2, term: 1 });
  assert.deepEqual(log.findConflictByTerm(6, 0), { index: 0, term: 0 });
});

Deno.test("findConflictByTerm reports term 0 at the compaction point", () => {
  const storage = new MemoryStorage();
  storage.append([ent(1, 1), ent(2, 2), ent(3, 3), ent(4, 4)]);
  storage.createSnapshot(2, undefined, new Uint8Array());
  storage.compact(2);
  const log = new RaftLog(storage, silentLogger, 1 << 20);
  // Index 2 is the compaction point: its term is still known.
  assert.deepEqual(log.findConflictByTerm(4, 1), { index: 1, term: 0 });
  assert.deepEqual(log.findConflictByTerm(4, 3), { index: 3, term: 3 });
});

Deno.test("isUpToDate compares last term first, then last index (§5.4.1)", () => {
  const log = newLog();
  assert.equal(log.isUpToDate(2, 4), true);
  assert.equal(log.isUpToDate(3, 3), true);
  assert.equal(log.isUpToDate(4, 3), true);
  assert.equal(log.isUpToDate(2, 3), false);
  assert.equal(log.isUpToDate(9, 2), false);
});

Deno.test("nextCommittedEnts honours the byte limit and returns at least one entry", () => {
  const log = new RaftLog(new MemoryStorage(), silentLogger, 250);
  log.append([1, 2, 3, 4, 5].map((i) => ent(i, 1, 100)));
  log.commitTo(5);
  const first = log.nextCommittedEnts();
  assert.ok(first.length >= 1 && first.length < 5, `limited batch: ${first.length}`);
  log.acceptApplying(first[first.length - 1]!.index);
  const rest: Entry[] = [];
  for (let k = 0; k < 10 && log.hasNextCommittedEnts(); k++) {
    const b = log.nextCommittedEnts();
    rest.push(...b);
    log.acceptApplying(b[b.length - 1]!.index);
  }
  assert.deepEqual([...first, ...rest].map((e) => e.index), [1, 2, 3, 4, 5]);
  // One huge entry still comes out alone.
  const big = new RaftLog(new MemoryStorage(), silentLogger, 10);
  big.append([ent(1, 1, 1000)]);
  big.commitTo(1);
  assert.equal(big.nextCommittedEnts().length, 1);
});

Deno.test("appliedTo keeps applied <= committed", () => {
  const log = newLog();
  log.commitTo(2);
  log.appliedTo(2);
  assert.equal(log.applied, 2);
  assert.throws(() => log.appliedTo(3), /applied/);
});

Deno.test("slice spans stable storage and unstable entries, and reports compaction", () => {
  const storage = new MemoryStorage();
  storage.append([ent(1, 1), ent(2, 1), ent(3, 1)]);
  storage.createSnapshot(1, undefined, new Uint8Array());
  storage.compact(1);
  const log = new RaftLog(storage, silentLogger, 1 << 20);
  log.append([ent(4, 2), ent(5, 2)]);
  assert.deepEqual(ids(log.slice(2, 6, 1 << 20)), ["2/1", "3/1", "4/2", "5/2"]);
  assert.deepEqual(ids(log.slice(4, 6, 1 << 20)), ["4/2", "5/2"]);
  assert.deepEqual(ids(log.slice(2, 6, 0)), ["2/1"]);
  assert.throws(() => log.slice(1, 3, 1 << 20), CompactedError);
  assert.equal(log.maybeTerm(1), 1);
  assert.equal(log.maybeTerm(0), undefined);
});

Deno.test("restore moves the log to a snapshot: committed = snapshot index", () => {
  const log = newLog();
  log.restore({
    data: new Uint8Array(),
    metadata: {
      index: 10,
      term: 5,
      confState: {
        voters: [1],
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      },
    },
  });
  assert.equal(log.committed, 10);
  assert.equal(log.lastIndex(), 10);
  assert.equal(log.firstIndex(), 11);
  assert.equal(log.lastTerm(), 5);
  assert.equal(log.hasNextCommittedEnts(), false);
});
