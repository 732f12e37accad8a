import assert from "node:assert/strict";
import { type ConfState, EntryType, MemoryStorage, SnapOutOfDateError } from "../../raft/mod.ts";
import { runStorageConformance } from "./storage_conformance.ts";

runStorageConformance("MemoryStorage", () => new MemoryStorage());

const cs: ConfState = {
  voters: [1, 2],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
};

Deno.test("MemoryStorage.createSnapshot records the term at the index and keeps the entries", () => {
  const s = new MemoryStorage();
  s.append(
    [1, 2, 3].map((i) => ({ index: i, term: i, type: EntryType.Normal, data: new Uint8Array() })),
  );
  const snap = s.createSnapshot(2, cs, new Uint8Array([9]));
  assert.deepEqual(snap.metadata, { index: 2, term: 2, confState: cs });
  assert.equal(s.lastIndex(), 3);
  assert.equal(s.firstIndex(), 1);
  assert.throws(() => s.createSnapshot(2, undefined, new Uint8Array()), SnapOutOfDateError);
  assert.throws(() => s.createSnapshot(4, undefined, new Uint8Array()), RangeError);
  // The ConfState defaults to the previous snapshot's.
  assert.deepEqual(s.createSnapshot(3, undefined, new Uint8Array()).metadata.confState, cs);
});
