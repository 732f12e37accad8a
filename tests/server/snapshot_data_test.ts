import { deepEqual, throws } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Members } from "../../server/members.ts";
import {
  decodeSnapshotData,
  encodeSnapshotData,
  SnapshotDataError,
} from "../../server/snapshot_data.ts";

Deno.test("snapshot data round-trips the member table, removed members and the store bytes", async () => {
  const members = new Members([
    { id: 1, peerURL: "http://a:1", learner: false },
    { id: 4, peerURL: "http://d:4", learner: true },
  ]);
  members.remove(4);
  const store = new Uint8Array([1, 2, 3, 250]);
  const decoded = decodeSnapshotData(await encodeSnapshotData(members, store));
  deepEqual(decoded.members.list(), [{ id: 1, peerURL: "http://a:1", learner: false }]);
  deepEqual(decoded.members.removedURL(4), "http://d:4");
  deepEqual([...decoded.store], [...store]);
});

Deno.test("damaged snapshot data is refused with a clear error", async () => {
  const good = await encodeSnapshotData(new Members(), new Uint8Array(8));
  throws(() => decodeSnapshotData(good.subarray(0, 5)), SnapshotDataError);
  const badMagic = good.slice();
  badMagic[0] = 0;
  throws(() => decodeSnapshotData(badMagic), /not a raftkv snapshot/);
  const badLength = good.slice();
  badLength[5] = 0xff;
  throws(() => decodeSnapshotData(badLength), /runs past the end/);
});

Deno.test("store bytes larger than one copy slice arrive whole and in order", async () => {
  const store = new Uint8Array(20 * 1024 * 1024 + 3);
  for (let i = 0; i < store.length; i += 4093) store[i] = (i / 4093) & 0xff;
  const decoded = decodeSnapshotData(await encodeSnapshotData(new Members(), store));
  deepEqual(decoded.store.length, store.length);
  deepEqual(Buffer.compare(decoded.store, store), 0);
});
