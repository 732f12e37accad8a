/**
 * A conformance suite for raft `Storage` implementations (etcd semantics), so that MemoryStorage
 * and a WAL-backed storage pass the same tests. Call it from a `*_test.ts` file:
 *
 *   runStorageConformance("MemoryStorage", () => new MemoryStorage());
 *
 * The factory returns an empty storage that also supports the writes raft's caller performs.
 */
import assert from "node:assert/strict";
import {
  CompactedError,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  SnapOutOfDateError,
  type Snapshot,
  type Storage,
  UnavailableError,
} from "../../raft/mod.ts";

export interface WritableStorage extends Storage {
  setHardState(hs: HardState): void | Promise<void>;
  append(entries: Entry[]): void | Promise<void>;
  applySnapshot(snap: Snapshot): void | Promise<void>;
  compact(index: number): void | Promise<void>;
}

function ent(index: number, term: number, size = 0): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array(size) };
}

function confState(voters: number[]): ConfState {
  return { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

function ids(entries: Entry[]): string[] {
  return entries.map((e) => `${e.index}/${e.term}`);
}

/**
 * Builds a storage holding a snapshot at (3, 3) then entries 4..5 at terms 4, 5: etcd's standard
 * fixture, with the dummy entry at index 3.
 */
async function fixture(make: () => WritableStorage | Promise<WritableStorage>) {
  const s = await make();
  await s.applySnapshot({
    data: new Uint8Array(),
    metadata: { index: 3, term: 3, confState: confState([1]) },
  });
  await s.append([ent(4, 4), ent(5, 5)]);
  return s;
}

export function runStorageConformance(
  name: string,
  makeStorage: () => WritableStorage | Promise<WritableStorage>,
): void {
  Deno.test(`${name}: an empty storage has firstIndex 1, lastIndex 0 and term(0) = 0`, async () => {
    const s = await makeStorage();
    assert.equal(s.firstIndex(), 1);
    assert.equal(s.lastIndex(), 0);
    assert.equal(s.term(0), 0);
    assert.throws(() => s.term(1), UnavailableError);
    assert.deepEqual(s.initialState().hardState, { term: 0, vote: 0, commit: 0 });
  });

  Deno.test(`${name}: term() is known from the snapshot index to the last index`, async () => {
    const s = await fixture(makeStorage);
    assert.throws(() => s.term(2), CompactedError);
    assert.equal(s.term(3), 3);
    assert.equal(s.term(4), 4);
    assert.equal(s.term(5), 5);
    assert.throws(() => s.term(6), UnavailableError);
    assert.equal(s.firstIndex(), 4);
    assert.equal(s.lastIndex(), 5);
  });

  Deno.test(`${name}: entries(lo, hi) returns [lo, hi) and CompactedError at or below the snapshot`, async () => {
    const s = await fixture(makeStorage);
    assert.throws(() => s.entries(2, 4), CompactedError);
    assert.throws(() => s.entries(3, 4), CompactedError);
    assert.deepEqual(ids(s.entries(4, 5)), ["4/4"]);
    assert.deepEqual(ids(s.entries(4, 6)), ["4/4", "5/5"]);
    assert.deepEqual(ids(s.entries(5, 6)), ["5/5"]);
    assert.deepEqual(s.entries(6, 6), []);
  });

  Deno.test(`${name}: entries(lo, hi, maxBytes) stops at the byte limit but returns at least one entry`, async () => {
    const s = await makeStorage();
    await s.append([ent(1, 1, 100), ent(2, 1, 100), ent(3, 1, 100), ent(4, 1, 100)]);
    assert.equal(s.entries(1, 5, 0).length, 1);
    assert.equal(s.entries(1, 5, 1).length, 1);
    const all = s.entries(1, 5, Number.MAX_SAFE_INTEGER);
    assert.equal(all.length, 4);
    const two = s.entries(1, 5, 250);
    assert.ok(
      two.length >= 1 && two.length < 4,
      `a 250-byte limit cuts 4x100 bytes: got ${two.length}`,
    );
    assert.deepEqual(ids(two), ids(all.slice(0, two.length)));
  });

  Deno.test(`${name}: append overwrites a conflicting suffix`, async () => {
    const s = await fixture(makeStorage);
    await s.append([ent(5, 6), ent(6, 6)]);
    assert.deepEqual(ids(s.entries(4, 7)), ["4/4", "5/6", "6/6"]);
    await s.append([ent(4, 7)]);
    assert.deepEqual(ids(s.entries(4, 5)), ["4/7"]);
    assert.equal(s.lastIndex(), 4);
  });

  Deno.test(`${name}: append ignores the compacted part of a batch and extends the rest`, async () => {
    const s = await fixture(makeStorage);
    await s.append([ent(2, 2), ent(3, 3), ent(4, 4), ent(5, 5), ent(6, 5)]);
    assert.deepEqual(ids(s.entries(4, 7)), ["4/4", "5/5", "6/5"]);
    // Entirely compacted: a no-op.
    await s.append([ent(1, 1), ent(2, 2)]);
    assert.equal(s.lastIndex(), 6);
  });

  Deno.test(`${name}: append with a gap after the last index is refused`, async () => {
    const s = await fixture(makeStorage);
    await assert.rejects(async () => await s.append([ent(7, 5)]));
    assert.equal(s.lastIndex(), 5);
  });

  Deno.test(`${name}: compact keeps the term of the compaction point and moves firstIndex`, async () => {
    const s = await fixture(makeStorage);
    await s.append([ent(6, 5), ent(7, 5)]);
    await s.compact(5);
    assert.equal(s.firstIndex(), 6);
    assert.equal(s.term(5), 5);
    assert.throws(() => s.term(4), CompactedError);
    assert.deepEqual(ids(s.entries(6, 8)), ["6/5", "7/5"]);
    await assert.rejects(async () => await s.compact(5), CompactedError);
  });

  Deno.test(`${name}: applySnapshot replaces the log and refuses an older snapshot`, async () => {
    const s = await fixture(makeStorage);
    const snap: Snapshot = {
      data: new Uint8Array([1, 2, 3]),
      metadata: { index: 10, term: 7, confState: confState([1, 2, 3]) },
    };
    await s.applySnapshot(snap);
    assert.equal(s.firstIndex(), 11);
    assert.equal(s.lastIndex(), 10);
    assert.equal(s.term(10), 7);
    assert.deepEqual(s.snapshot().metadata, snap.metadata);
    assert.deepEqual(s.initialState().confState, confState([1, 2, 3]));
    await assert.rejects(
      async () =>
        await s.applySnapshot({
          data: new Uint8Array(),
          metadata: { index: 9, term: 7, confState: confState([1]) },
        }),
      SnapOutOfDateError,
    );
    // Entries continue after the snapshot.
    await s.append([ent(11, 7)]);
    assert.deepEqual(ids(s.entries(11, 12)), ["11/7"]);
  });

  Deno.test(`${name}: setHardState is returned by initialState`, async () => {
    const s = await makeStorage();
    await s.setHardState({ term: 3, vote: 2, commit: 0 });
    assert.deepEqual(s.initialState().hardState, { term: 3, vote: 2, commit: 0 });
  });
}
