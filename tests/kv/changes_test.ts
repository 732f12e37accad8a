import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { KvChangesCorruptError, type KvCommand, KvStore } from "../../kv/mod.ts";

const enc = new TextEncoder();
const put = (key: string, value: string): KvCommand => ({
  requestId: "r",
  op: "put",
  key: enc.encode(key),
  value: enc.encode(value),
});
const del = (key: string): KvCommand => ({ requestId: "r", op: "delete", key: enc.encode(key) });

/** A seeded stream of puts, overwrites and deletes over a small key space. */
function applyRandom(store: KvStore, from: number, count: number, seed: number): number {
  let x = seed;
  const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let index = from;
  for (let n = 0; n < count; n++) {
    index++;
    const key = `k${Math.floor(next() * 50)}`;
    if (next() < 0.25) store.apply(index, del(key));
    else store.apply(index, put(key, "v".repeat(Math.floor(next() * 40)) + index));
  }
  return index;
}

Deno.test("changes: an image plus the change sets after it rebuilds the same state, byte for byte", () => {
  const leader = new KvStore();
  let index = applyRandom(leader, 0, 300, 1);
  const replica = new KvStore();
  replica.restore(leader.snapshot());
  leader.resetChanges();
  assert.equal(leader.changesSince, index);
  for (let round = 0; round < 5; round++) {
    index = applyRandom(leader, index, 120, 10 + round);
    assert.ok(leader.changedKeys > 0 && leader.changedKeys <= 50);
    const changes = leader.takeChanges();
    assert.equal(leader.changesSince, index);
    assert.equal(leader.changedKeys, 0);
    replica.applyChanges(changes);
    assert.equal(replica.appliedIndex, index);
    assert.equal(Buffer.compare(replica.snapshot(), leader.snapshot()), 0);
  }
});

Deno.test("changes: a key created and deleted in one interval, and a deleted old key, are both gone", () => {
  const leader = new KvStore();
  leader.apply(1, put("old", "x"));
  const replica = new KvStore();
  replica.restore(leader.snapshot());
  leader.resetChanges();
  leader.apply(2, put("brief", "y"));
  leader.apply(3, del("brief"));
  leader.apply(4, del("old"));
  leader.apply(5, put("new", "z"));
  replica.applyChanges(leader.takeChanges());
  assert.equal(replica.size, 1);
  assert.equal(replica.get(enc.encode("old")), undefined);
  assert.equal(replica.get(enc.encode("brief")), undefined);
  assert.equal(replica.get(enc.encode("new"))?.revision, 5);
  assert.equal(Buffer.compare(replica.snapshot(), leader.snapshot()), 0);
});

Deno.test("changes: a change set that starts elsewhere, or any damaged byte, is refused and changes nothing", () => {
  const leader = new KvStore();
  leader.apply(1, put("a", "1"));
  const replica = new KvStore();
  replica.restore(leader.snapshot());
  const before = replica.snapshot();
  leader.resetChanges();
  leader.apply(2, put("a", "2"));
  leader.apply(3, put("b", "3"));
  const changes = leader.takeChanges();
  leader.apply(4, put("c", "4"));
  const later = leader.takeChanges();
  assert.throws(() => replica.applyChanges(later), /from index 3: the store is at 1/);
  for (let i = 0; i < changes.length; i++) {
    const bad = changes.slice();
    bad[i]! ^= 0x40;
    assert.throws(() => replica.applyChanges(bad), KvChangesCorruptError, `byte ${i}`);
  }
  assert.throws(() => replica.applyChanges(changes.subarray(0, 20)), /shorter than its header/);
  assert.equal(Buffer.compare(replica.snapshot(), before), 0);
  replica.applyChanges(changes);
  assert.equal(replica.appliedIndex, 3);
});

Deno.test("changes: an image begun with resetChanges tracks changes from its own index, while it runs", async () => {
  const store = new KvStore();
  let index = applyRandom(store, 0, 200, 7);
  const imageIndex = index;
  const image = store.snapshotAsync({ resetChanges: true, sliceMs: 1 });
  assert.equal(store.changesSince, imageIndex);
  index = applyRandom(store, index, 100, 8);
  const { data, index: taken } = await image;
  assert.equal(taken, imageIndex);
  const replica = new KvStore();
  replica.restore(data);
  replica.applyChanges(store.takeChanges());
  assert.equal(replica.appliedIndex, index);
  assert.equal(Buffer.compare(replica.snapshot(), store.snapshot()), 0);
});

Deno.test("changes: a restore starts tracking afresh at the image's index", () => {
  const store = new KvStore();
  store.apply(1, put("a", "1"));
  const image = store.snapshot();
  store.apply(2, put("b", "2"));
  store.restore(image);
  assert.equal(store.changesSince, 1);
  assert.equal(store.changedKeys, 0);
});

Deno.test("changes: takeChangesAsync captures at the call; later writes go to the next change set", async () => {
  const store = new KvStore();
  const replica = new KvStore();
  replica.restore(store.snapshot());
  for (let i = 1; i <= 2500; i++) store.apply(i, put(`k${i % 1200}`, `v${i}`));
  const expected = new KvStore();
  expected.restore(store.snapshot());
  const pending = store.takeChangesAsync();
  // Keys past the first slice of the encoding, which runs at the call.
  store.apply(2501, put("k1150", "after"));
  store.apply(2502, del("k1160"));
  // New values of the replaced ones' size: they must not take their records before the encode.
  for (let i = 0; i < 4; i++) store.apply(2503 + i, put(`new${i}`, `w${i}xyz`));
  replica.applyChanges(await pending);
  assert.equal(Buffer.compare(replica.snapshot(), expected.snapshot()), 0);
  replica.applyChanges(store.takeChanges());
  assert.equal(Buffer.compare(replica.snapshot(), store.snapshot()), 0);
});

Deno.test("store: headroom puts zeros before an image or a change set, which are the same bytes", async () => {
  const store = new KvStore();
  const index = applyRandom(store, 0, 3000, 11);
  const image = store.snapshot();
  const roomy = await store.snapshotAsync({ headroom: 37, sliceMs: 1, resetChanges: true });
  assert.equal(roomy.data.length, 37 + image.length);
  assert.ok(roomy.data.subarray(0, 37).every((byte) => byte === 0), "headroom is not zero");
  assert.equal(Buffer.compare(roomy.data.subarray(37), image), 0);
  // The CRC covers the image alone: it restores from its offset.
  const copy = new KvStore();
  copy.restore(roomy.data.subarray(37));
  assert.equal(Buffer.compare(copy.snapshot(), image), 0);

  applyRandom(store, index, 500, 12);
  const expected = new KvStore();
  expected.restore(image);
  const framed = await store.takeChangesAsync({ headroom: 5 });
  assert.ok(framed.subarray(0, 5).every((byte) => byte === 0), "headroom is not zero");
  expected.applyChanges(framed.subarray(5));
  assert.equal(Buffer.compare(expected.snapshot(), store.snapshot()), 0);
});

Deno.test("store: restoreAsync gives the state restore gives; the old state stays readable until it ends", async () => {
  const source = new KvStore();
  const index = applyRandom(source, 0, 5000, 3);
  for (let i = 0; i < 5000; i++) source.apply(index + 1 + i, put(`bulk${i}`, "x".repeat(64)));
  const image = source.snapshot();
  const target = new KvStore();
  target.apply(1, put("old", "state"));
  const restoring = target.restoreAsync(image, { sliceMs: 0.05 });
  let sawOld = 0;
  let finished = false;
  restoring.then(() => finished = true);
  while (!finished) {
    if (target.get(enc.encode("old")) !== undefined) sawOld++;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  await restoring;
  assert.ok(sawOld > 0, "reads ran between the slices");
  assert.equal(target.get(enc.encode("old")), undefined);
  assert.equal(Buffer.compare(target.snapshot(), image), 0);

  const damaged = image.slice();
  damaged[damaged.length - 1]! ^= 1;
  const before = target.snapshot();
  await assert.rejects(target.restoreAsync(damaged), /CRC mismatch/);
  assert.equal(Buffer.compare(target.snapshot(), before), 0);
});
