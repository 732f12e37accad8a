import { deepEqual, throws } from "node:assert/strict";
import { Members } from "../../server/members.ts";
import {
  decodeSnapshotData,
  encodeSnapshotData,
  SnapshotDataError,
} from "../../server/snapshot_data.ts";

Deno.test("snapshot data round-trips the member table, removed members and the store bytes", () => {
  const members = new Members([
    { id: 1, peerURL: "http://a:1", learner: false },
    { id: 4, peerURL: "http://d:4", learner: true },
  ]);
  members.remove(4);
  const store = new Uint8Array([1, 2, 3, 250]);
  const decoded = decodeSnapshotData(encodeSnapshotData(members, store));
  deepEqual(decoded.members.list(), [{ id: 1, peerURL: "http://a:1", learner: false }]);
  deepEqual(decoded.members.removedURL(4), "http://d:4");
  deepEqual([...decoded.store], [...store]);
});

Deno.test("damaged snapshot data is refused with a clear error", () => {
  const good = encodeSnapshotData(new Members(), new Uint8Array(8));
  throws(() => decodeSnapshotData(good.subarray(0, 5)), SnapshotDataError);
  const badMagic = good.slice();
  badMagic[0] = 0;
  throws(() => decodeSnapshotData(badMagic), /not a raftkv snapshot/);
  const badLength = good.slice();
  badLength[5] = 0xff;
  throws(() => decodeSnapshotData(badLength), /runs past the end/);
});
