import { deepEqual, throws } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Members } from "../../server/members.ts";
import { KvStore } from "../../kv/mod.ts";
import {
  checkSnapshotImage,
  decodeSnapshotData,
  decodeSnapshotPrevious,
  encodeSnapshotData,
  SNAPSHOT_DATA_HEAD_BYTES,
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
  const badKind = good.slice();
  badKind[5] = 7;
  throws(() => decodeSnapshotData(badKind), /unknown kind 7/);
  const badLength = good.slice();
  badLength[22] = 0xff;
  throws(() => decodeSnapshotData(badLength), /runs past the end/);
  const badVersion = good.slice();
  badVersion[4] = 9;
  throws(() => decodeSnapshotData(badVersion), /unknown version 9/);
});

Deno.test("a change set names the snapshot it follows; an image names none", () => {
  const store = new Uint8Array([9, 8, 7]);
  const changes = decodeSnapshotData(
    encodeSnapshotData(new Members(), store, { previous: { index: 300, term: 4 } }),
  );
  deepEqual(changes.previous, { index: 300, term: 4 });
  deepEqual([...changes.store], [...store]);
  deepEqual(decodeSnapshotData(encodeSnapshotData(new Members(), store)).previous, undefined);
});

Deno.test("the link to the previous snapshot reads from the data's first bytes alone", () => {
  const store = new Uint8Array(1000);
  const changes = encodeSnapshotData(new Members(), store, { previous: { index: 300, term: 4 } });
  deepEqual(decodeSnapshotPrevious(changes.subarray(0, SNAPSHOT_DATA_HEAD_BYTES)), {
    index: 300,
    term: 4,
  });
  const image = encodeSnapshotData(new Members(), store);
  deepEqual(decodeSnapshotPrevious(image.subarray(0, SNAPSHOT_DATA_HEAD_BYTES)), undefined);
  throws(
    () => decodeSnapshotPrevious(changes.subarray(0, SNAPSHOT_DATA_HEAD_BYTES - 1)),
    /shorter/,
  );
  const badKind = changes.slice(0, SNAPSHOT_DATA_HEAD_BYTES);
  badKind[5] = 7;
  throws(() => decodeSnapshotPrevious(badKind), /unknown kind 7/);
});

Deno.test("version 1 snapshot data (an image, no kind) still reads", () => {
  const members = new TextEncoder().encode(JSON.stringify(new Members().toJSON()));
  const v1 = new Uint8Array(9 + members.length + 2);
  v1.set([0x52, 0x4b, 0x56, 0x4e, 1], 0);
  new DataView(v1.buffer).setUint32(5, members.length);
  v1.set(members, 9);
  v1.set([5, 6], 9 + members.length);
  const decoded = decodeSnapshotData(v1);
  deepEqual(decoded.previous, undefined);
  deepEqual([...decoded.store], [5, 6]);
});

Deno.test("a follower installs only whole images whose CRC holds", () => {
  const store = new KvStore();
  store.apply(1, {
    requestId: "r",
    op: "put",
    key: new Uint8Array([1]),
    value: new Uint8Array([2]),
  });
  const image = encodeSnapshotData(new Members(), store.snapshot());
  checkSnapshotImage(image);
  const damaged = image.slice();
  damaged[damaged.length - 6]! ^= 1;
  throws(() => checkSnapshotImage(damaged), /CRC mismatch/);
  const changes = encodeSnapshotData(new Members(), store.takeChanges(), {
    previous: { index: 1, term: 1 },
  });
  throws(() => checkSnapshotImage(changes), /a change set, not an image/);
  throws(() => checkSnapshotImage(undefined), SnapshotDataError);
});

Deno.test("store bytes larger than one copy slice arrive whole and in order", () => {
  const store = new Uint8Array(20 * 1024 * 1024 + 3);
  for (let i = 0; i < store.length; i += 4093) store[i] = (i / 4093) & 0xff;
  const decoded = decodeSnapshotData(encodeSnapshotData(new Members(), store));
  deepEqual(decoded.store.length, store.length);
  deepEqual(Buffer.compare(decoded.store, store), 0);
});
