import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type KvCommand, KvStore } from "../../kv/mod.ts";
import { type Snapshot } from "../../raft/mod.ts";
import { snapshotFileName, Snapshotter } from "../../snap/mod.ts";
import { Members } from "../../server/members.ts";
import {
  type ChainLink,
  CHANGE_SETS_MAX,
  loadSnapshotChain,
  SnapshotChain,
} from "../../server/snapshot_chain.ts";
import { encodeSnapshotData } from "../../server/snapshot_data.ts";
import { idFraction } from "../../server/snapshot_schedule.ts";

const logs: string[] = [];
const logger = {
  debug: () => {},
  info: () => {},
  warn: (m: string) => logs.push(m),
  error: (m: string) => logs.push(m),
};
const confState = {
  voters: [1],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
};
const put = (key: string, value: string): KvCommand => ({
  requestId: "r",
  op: "put",
  key: new TextEncoder().encode(key),
  value: new TextEncoder().encode(value),
});

/** A chain link of `bytes` at `index`: an image, or a change set. */
const image = (index: number, bytes: number): ChainLink => ({ index, term: 1, bytes, image: true });
const changes = (index: number, bytes: number): ChainLink => ({
  index,
  term: 1,
  bytes,
  image: false,
});

Deno.test("chain: a change set follows the tip; an image starts a new chain", () => {
  const empty = new SnapshotChain();
  assert.equal(empty.imageNeed(0), "now");
  assert.throws(() => empty.then(changes(5, 1)), /cannot follow nothing/);
  let chain = empty.then(image(10, 1000));
  assert.equal(chain.imageNeed(1000), "not yet");
  chain = chain.then(changes(20, 400)).then(changes(30, 500));
  assert.deepEqual(chain.links.map((l) => l.index), [10, 20, 30]);
  assert.throws(() => chain.then(changes(30, 1)), /cannot follow 30/);
  assert.deepEqual(chain.then(image(50, 10)).links.map((l) => l.index), [50]);
  assert.throws(() => new SnapshotChain([changes(1, 1)]), /starts with an image/);
});

Deno.test("chain: a new image now once the chain holds twice the store", () => {
  // 1900 bytes in the chain: new keys only (the store grew to 1900), or overwrites of the image's.
  const chain = new SnapshotChain().then(image(10, 1000)).then(changes(20, 400))
    .then(changes(30, 500));
  assert.equal(chain.imageNeed(1900), "not yet", "new keys: the chain is the store");
  assert.equal(chain.imageNeed(1000), "not yet", "900 bytes overwritten beside a 1000-byte store");
  assert.equal(chain.imageNeed(950), "now", "950 bytes no longer in the store, as many as it has");
  assert.equal(chain.then(changes(40, 100)).imageNeed(1000), "now", "changes as big as the store");
});

Deno.test("chain: after many change sets an image waits for an idle node, then no longer", () => {
  // Growth alone never calls for an image: the number of change sets does.
  let many = new SnapshotChain().then(image(1, 1e6));
  const needAfter = new Map<number, string>();
  const busyMax = 2 * CHANGE_SETS_MAX;
  for (let i = 0; i <= busyMax; i++) {
    needAfter.set(i, many.imageNeed(1e6 + i * 1e5));
    many = many.then(changes(2 + i, 1e5));
  }
  assert.equal(needAfter.get(CHANGE_SETS_MAX - 1), "not yet");
  assert.equal(needAfter.get(CHANGE_SETS_MAX), "when idle", `${CHANGE_SETS_MAX} change sets`);
  assert.equal(needAfter.get(busyMax - 1), "when idle");
  assert.equal(needAfter.get(busyMax), "now", `${busyMax} change sets`);
});

Deno.test("chain: a node's stagger takes its image sooner, never later, and ids spread it", () => {
  // The change-set limit falls from 64 towards 32, the bytes limit from 2 towards 1.5 stores.
  let chain = new SnapshotChain().then(image(1, 1e6));
  for (let i = 0; i < 48; i++) chain = chain.then(changes(2 + i, 1e3));
  assert.equal(chain.imageNeed(2e6, 0), "not yet", "48 change sets, unstaggered");
  assert.equal(chain.imageNeed(2e6, 0.5), "when idle", "48 change sets, the limit at stagger 0.5");
  assert.equal(chain.imageNeed(2e6, 0.49), "not yet", "the limit is 49 just below 0.5");
  const bytes = new SnapshotChain().then(image(1, 1000)).then(changes(2, 800)); // 1800 bytes
  assert.equal(bytes.imageNeed(1000, 0), "not yet");
  assert.equal(bytes.imageNeed(1000, 0.4), "now", "1.8 stores at a limit of 1.8");
  assert.equal(bytes.imageNeed(1000, 0.3), "not yet", "1.8 stores below a limit of 1.85");
  assert.throws(() => bytes.imageNeed(1000, 1), RangeError);
  assert.throws(() => bytes.imageNeed(1000, -0.1), RangeError);
  // Ids 1 to 5 get change-set limits at least 3 apart.
  const limits = [1, 2, 3, 4, 5].map((id) =>
    CHANGE_SETS_MAX - Math.floor(idFraction(id) * CHANGE_SETS_MAX / 2)
  ).sort((a, b) => a - b);
  for (let i = 1; i < limits.length; i++) assert.ok(limits[i]! - limits[i - 1]! >= 3, `${limits}`);
});

/** Writes an image and two change sets of a store, as a node does; returns the final store. */
async function writeChain(snapshotter: Snapshotter): Promise<KvStore> {
  const store = new KvStore();
  const members = new Members([{ id: 1, peerURL: "http://a:1", learner: false }]);
  const save = async (index: number, data: Uint8Array) => {
    const snapshot: Snapshot = { metadata: { index, term: 2, confState }, data };
    await snapshotter.save(snapshot);
  };
  for (let i = 1; i <= 10; i++) store.apply(i, put(`k${i}`, `v${i}`));
  await save(
    10,
    encodeSnapshotData(members, (await store.snapshotAsync({ resetChanges: true })).data),
  );
  for (let i = 11; i <= 20; i++) store.apply(i, put(`k${i % 4}`, `w${i}`));
  await save(
    20,
    encodeSnapshotData(members, store.takeChanges(), { previous: { index: 10, term: 2 } }),
  );
  for (let i = 21; i <= 30; i++) store.apply(i, put(`n${i}`, `x${i}`));
  await save(
    30,
    encodeSnapshotData(members, store.takeChanges(), { previous: { index: 20, term: 2 } }),
  );
  return store;
}

Deno.test("chain: a restart loads the newest marked snapshot through its image and change sets", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const snapshotter = new Snapshotter(dir, { keep: Infinity });
    const expected = await writeChain(snapshotter);
    const markers = [10, 20, 30].map((index) => ({ index, term: 2 }));
    const loaded = await loadSnapshotChain(snapshotter, markers, logger);
    assert.ok(loaded);
    assert.equal(loaded.metadata.index, 30);
    assert.deepEqual(loaded.chain.links.map((l) => [l.index, l.image]), [[10, true], [20, false], [
      30,
      false,
    ]]);
    assert.equal(loaded.members.get(1)?.peerURL, "http://a:1");
    assert.equal(Buffer.compare(loaded.store.snapshot(), expected.snapshot()), 0);
    assert.equal(loaded.store.changesSince, 30, "changes are tracked from the tip");

    // Only marked snapshots count: without the marker of 30 the chain ends at 20.
    const at20 = await loadSnapshotChain(snapshotter, markers.slice(0, 2), logger);
    assert.equal(at20?.metadata.index, 20);
    assert.equal(await loadSnapshotChain(snapshotter, [], logger), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("chain: a missing or damaged link skips to an older snapshot, with a warning", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const snapshotter = new Snapshotter(dir, { keep: Infinity });
    await writeChain(snapshotter);
    const markers = [10, 20, 30].map((index) => ({ index, term: 2 }));
    const middle = `${dir}/${snapshotFileName(2, 20)}`;
    const bytes = await Deno.readFile(middle);
    bytes[bytes.length - 10]! ^= 0xff;
    await Deno.writeFile(middle, bytes);
    logs.length = 0;
    const loaded = await loadSnapshotChain(snapshotter, markers, logger);
    assert.equal(loaded?.metadata.index, 10);
    assert.equal(loaded?.store.size, 10);
    assert.equal(logs.length, 2, logs.join("\n"));
    assert.match(logs[0]!, /Skipping snapshot at index 30 .*0000000000000014\.snap/);

    await Deno.remove(middle);
    const again = await loadSnapshotChain(snapshotter, markers, logger);
    assert.equal(again?.metadata.index, 10);
    assert.match(logs.at(-1)!, /is missing/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("chain: a restart reads a long chain one file at a time", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const snapshotter = new Snapshotter(dir, { keep: Infinity });
    const members = new Members([{ id: 1, peerURL: "http://a:1", learner: false }]);
    const store = new KvStore();
    const save = (index: number, data: Uint8Array) =>
      snapshotter.save({ metadata: { index, term: 2, confState }, data });
    store.apply(1, put("k", "v1"));
    await save(1, encodeSnapshotData(members, store.snapshot()));
    store.resetChanges();
    // Longer than the chain the old loader allowed (4 x CHANGE_SETS_MAX links).
    const length = 4 * CHANGE_SETS_MAX;
    for (let i = 2; i <= length; i++) {
      store.apply(i, put(`k${i % 7}`, `v${i}`));
      await save(
        i,
        encodeSnapshotData(members, store.takeChanges(), { previous: { index: i - 1, term: 2 } }),
      );
    }
    // Every buffer read is released before the next read returns.
    const held: Uint8Array[] = [];
    const read = snapshotter.read.bind(snapshotter);
    snapshotter.read = async (link, options) => {
      const snapshot = await read(link, options);
      assert.ok(held.every((data) => data.length === 0), `read of ${link.index} beside another`);
      held.push(snapshot.data);
      return snapshot;
    };
    const loaded = await loadSnapshotChain(snapshotter, [{ index: length, term: 2 }], logger);
    assert.equal(held.length, length);
    assert.equal(loaded?.chain.links.length, length);
    assert.equal(Buffer.compare(loaded!.store.snapshot(), store.snapshot()), 0);
    // One link more is a loop or a damaged directory.
    store.apply(length + 1, put("k", "last"));
    await save(
      length + 1,
      encodeSnapshotData(members, store.takeChanges(), { previous: { index: length, term: 2 } }),
    );
    logs.length = 0;
    const tooLong = await loadSnapshotChain(snapshotter, [{ index: length + 1, term: 2 }], logger);
    assert.equal(tooLong, undefined);
    assert.match(logs[0]!, /longer than 256 snapshots/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("snapshotter: retain removes every snapshot file not named", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const snapshotter = new Snapshotter(dir, { keep: Infinity });
    await writeChain(snapshotter);
    await snapshotter.retain([{ index: 10, term: 2 }, { index: 30, term: 2 }]);
    assert.deepEqual((await snapshotter.list()).map((l) => l.index), [30, 10]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
