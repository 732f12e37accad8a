import assert from "node:assert/strict";
import { type KvCommand, KvStore } from "../../kv/mod.ts";

const enc = new TextEncoder();
const b = (s: string) => enc.encode(s);
const dec = (u: Uint8Array) => new TextDecoder().decode(u);

/** A small seeded generator (mulberry32): the same seed gives the same ops. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
}

/** The expected state, kept independently of KvStore: hex key -> [hex value, revision]. */
type Model = Map<string, [string, number]>;
const hex = (u: Uint8Array) => Array.from(u, (x) => x.toString(16).padStart(2, "0")).join("");

/** Random ops over `keys` keys: puts (new and overwrites), deletes, failed conditions, no-ops. */
function randomOp(rand: (n: number) => number, keys: number, index: number): KvCommand | null {
  const key = b(`k/${rand(keys)}`);
  const r = rand(20);
  if (r < 4) return { requestId: "", op: "delete", key };
  if (r === 4) return null; // An entry without a KV command (advanceTo).
  const cmd: KvCommand = {
    requestId: "",
    op: "put",
    key,
    // Varying sizes, every byte value, and empty values.
    value: new Uint8Array(rand(4) === 0 ? 0 : rand(600)).map((_, i) => (i * 7 + index) & 255),
  };
  if (r === 5) cmd.condition = { ifMatch: 1 }; // Almost always fails: changes nothing.
  if (r === 6) cmd.condition = { ifNoneMatch: true };
  return cmd;
}

function applyTo(s: KvStore, model: Model, index: number, cmd: KvCommand | null): void {
  if (cmd === null) {
    s.advanceTo(index);
    return;
  }
  const r = s.apply(index, cmd);
  if (!r.ok) return;
  const k = hex(cmd.key);
  if (cmd.op === "delete") model.delete(k);
  else model.set(k, [hex(cmd.value!), index]);
}

function assertState(data: Uint8Array, model: Model, index: number): void {
  const r = new KvStore();
  r.restore(data);
  assert.equal(r.appliedIndex, index);
  const got = r.range(new Uint8Array(0), 100_000).items.map((i) =>
    [hex(i.key), hex(i.value), i.revision] as const
  );
  const want = [...model].map(([k, [v, rev]]) => [k, v, rev] as const);
  want.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  assert.deepEqual(got, want);
}

/**
 * A store after `ops` random ops over `keys` keys from `seed`, with a snapshot job begun on it:
 * the generator, the live model, and the state at begin (bytes and model) to check the job by.
 */
function storeWithJob(seed: number, keys: number, ops: number) {
  const rand = rng(seed);
  const s = new KvStore();
  const model: Model = new Map();
  let index = 0;
  for (let n = 0; n < ops; n++) {
    index += 1 + rand(3);
    applyTo(s, model, index, randomOp(rand, keys, index));
  }
  const atBegin = s.snapshot();
  const modelAtBegin: Model = new Map(model);
  const job = s.beginSnapshot();
  assert.equal(job.index, index);
  return { rand, s, model, index, atBegin, modelAtBegin, job };
}

/**
 * Applies `before` random ops, begins a job, then interleaves `after` more ops with steps of
 * 1..stepMax items, and checks the result against the state at begin (the model then, and a
 * synchronous snapshot taken then).
 */
function scenario(
  seed: number,
  options: { keys: number; before: number; after: number; stepMax: number },
): void {
  const begun = storeWithJob(seed, options.keys, options.before);
  const { rand, s, model, atBegin, modelAtBegin, job } = begun;
  let index = begun.index;
  let done = false;
  let overlayMax = 0;
  for (let n = 0; n < options.after; n++) {
    index += 1 + rand(3);
    applyTo(s, model, index, randomOp(rand, options.keys, index));
    if (!done && rand(3) === 0) done = job.step(1 + rand(options.stepMax));
    overlayMax = Math.max(overlayMax, job.overlaySize);
  }
  while (!job.step(1 + rand(options.stepMax)));
  assert.ok(overlayMax > 0, `seed ${seed}: no slot was overwritten during the job`);
  assert.equal(job.overlaySize, 0, "the overlay is freed on completion");
  assert.equal(s.snapshotActive, false);
  const data = job.result();
  assert.deepEqual(data, atBegin, `seed ${seed}: job bytes differ from snapshot() at begin`);
  assertState(data, modelAtBegin, job.index);
  // The live store went on to the final state.
  assertState(s.snapshot(), model, index);
}

Deno.test("snapshot job: bytes are the state at begin after overwrites, deletes, re-inserts (small keyspace)", () => {
  for (const seed of [1, 2, 3]) {
    scenario(seed, { keys: 60, before: 400, after: 2000, stepMax: 5 });
  }
});

Deno.test("snapshot job: bytes are the state at begin, larger store, steps crossing chunk boundaries", () => {
  scenario(42, { keys: 6000, before: 20000, after: 20000, stepMax: 700 });
});

Deno.test("snapshot job: the overlay saves each overwritten slot once and is freed on abort", () => {
  const s = new KvStore();
  for (let i = 1; i <= 100; i++) s.apply(i, put(`k${i}`, "old"));
  const job = s.beginSnapshot();
  assert.equal(s.snapshotActive, true);
  assert.throws(() => s.beginSnapshot(), /the one begun at index 100 is still running/);
  s.apply(101, put("k1", "new"));
  s.apply(102, put("k1", "newer")); // Second overwrite of the same slot: not saved again.
  s.apply(103, put("k2", "new"));
  s.apply(104, put("added", "x")); // A new key: nothing to save.
  s.apply(105, { requestId: "", op: "delete", key: b("k3") }); // A delete: nothing to save.
  assert.equal(job.overlaySize, 2);
  assert.throws(() => job.result(), /it is running/);
  job.abort();
  assert.equal(job.overlaySize, 0);
  assert.equal(s.snapshotActive, false);
  assert.throws(() => job.step(10), /it was aborted/);
  s.apply(106, put("k4", "new")); // No job: nothing saved anywhere.
  assert.equal(job.overlaySize, 0);
  // A new job may begin once the old one is aborted, and completes.
  const at106 = s.snapshot();
  const again = s.beginSnapshot();
  assert.equal(again.index, 106);
  while (!again.step(7));
  assert.equal(again.done, true);
  assert.equal(again.step(7), true, "step after done keeps returning true");
  s.apply(107, put("k5", "new"));
  assert.equal(again.overlaySize, 0, "a completed job saves nothing more");
  assert.deepEqual(again.result(), at106);
  assert.throws(() => again.step(0), RangeError);
});

Deno.test("snapshot job: restore() lets a running job finish on its own, and a new one begin", () => {
  const s = new KvStore();
  for (let i = 1; i <= 3000; i++) s.apply(i, put(`k${i}`, `v${i}`));
  const expected = s.snapshot();
  const job = s.beginSnapshot();
  job.step(1000);
  s.apply(3001, put("k5", "changed")); // Saved in the overlay.
  const other = new KvStore();
  other.apply(7, put("other", "state"));
  s.restore(other.snapshot());
  assert.equal(s.snapshotActive, false);
  s.apply(8, put("other", "again"));
  const second = s.beginSnapshot();
  s.apply(9, put("other", "third"));
  while (!job.step(500));
  assert.deepEqual(job.result(), expected);
  assert.equal(s.snapshotActive, true, "the first job's completion leaves the second's hook");
  while (!second.step(500));
  const r = new KvStore();
  r.restore(second.result());
  assert.equal(new TextDecoder().decode(r.get(b("other"))!.value), "again");
});

Deno.test("snapshot job: snapshot() still works while a job runs, and an empty store snapshots", () => {
  const s = new KvStore();
  const empty = s.beginSnapshot();
  assert.equal(empty.step(1), true);
  assert.deepEqual(empty.result(), new KvStore().snapshot());
  for (let i = 1; i <= 10; i++) s.apply(i, put(`k${i}`, `v${i}`));
  const job = s.beginSnapshot();
  s.apply(11, put("k1", "x"));
  const now = s.snapshot();
  const r = new KvStore();
  r.restore(now);
  assert.equal(r.get(b("k1"))!.revision, 11);
  while (!job.step(3));
  r.restore(job.result());
  assert.equal(r.get(b("k1"))!.revision, 1);
});

Deno.test("snapshotAsync: timers run during a 200k-key snapshot; the data is the state at its index", async () => {
  const s = new KvStore();
  const value = new Uint8Array(256).fill(0x61);
  const keys = 200_000;
  for (let i = 1; i <= keys; i++) {
    s.apply(i, { requestId: "", op: "put", key: b(`key/${i}`), value });
  }
  const expected = s.snapshot();
  let ticks = 0;
  let index = s.appliedIndex;
  // Writes applied during the snapshot, as a node applying committed entries would.
  const timer = setInterval(() => {
    ticks++;
    s.apply(++index, { requestId: "", op: "put", key: b(`key/${ticks}`), value: b("new") });
    s.apply(++index, { requestId: "", op: "delete", key: b(`key/${keys - ticks}`) });
  }, 1);
  let snap: { index: number; data: Uint8Array };
  try {
    snap = await s.snapshotAsync({ sliceMs: 2 });
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks > 0, "no timer callback ran during snapshotAsync");
  assert.equal(snap.index, keys);
  assert.equal(snap.data.length, expected.length);
  assert.ok(snap.data.every((x, i) => x === expected[i]), "snapshotAsync bytes differ");
  assert.equal(s.snapshotActive, false);
  await assert.rejects(() => s.snapshotAsync({ sliceMs: 0 }), RangeError);
});

function put(key: string, value: string): KvCommand {
  return { requestId: "", op: "put", key: b(key), value: b(value) };
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Like `scenario`, through `chunks()`: random ops are applied between chunks (the writer's await),
 * and the chunks, copied as they come (the buffer is reused), add up to the state at begin.
 */
function chunkedScenario(
  seed: number,
  options: { keys: number; before: number; opsPerChunk: number; chunkBytes: number },
): void {
  const begun = storeWithJob(seed, options.keys, options.before);
  const { rand, s, model, atBegin, modelAtBegin, job } = begun;
  let index = begun.index;
  assert.equal(job.totalBytes, atBegin.length);
  const copies: Uint8Array[] = [];
  let overlayMax = 0;
  for (const chunk of job.chunks(options.chunkBytes)) {
    // An item larger than a chunk (keys `k/N`, values up to 600 bytes) comes alone, with the CRC.
    const bound = Math.max(options.chunkBytes, 14 + 5 + 600 + 4);
    assert.ok(chunk.length <= bound, `seed ${seed}: chunk of ${chunk.length} bytes`);
    copies.push(chunk.slice());
    for (let n = 0; n < options.opsPerChunk; n++) {
      index += 1 + rand(3);
      applyTo(s, model, index, randomOp(rand, options.keys, index));
    }
    overlayMax = Math.max(overlayMax, job.overlaySize);
  }
  assert.ok(copies.length > 2, `seed ${seed}: only ${copies.length} chunks`);
  assert.ok(overlayMax > 0, `seed ${seed}: no slot was overwritten during the job`);
  assert.equal(job.done, true);
  assert.equal(s.snapshotActive, false);
  const data = concat(copies);
  assert.deepEqual(data, atBegin, `seed ${seed}: chunks differ from snapshot() at begin`);
  assertState(data, modelAtBegin, job.index);
  assertState(s.snapshot(), model, index);
}

Deno.test("snapshot job chunks: add up to the state at begin while ops run between chunks", () => {
  for (const [seed, chunkBytes] of [[1, 28], [2, 100], [3, 700], [4, 4096]] as const) {
    chunkedScenario(seed, { keys: 300, before: 2000, opsPerChunk: 3, chunkBytes });
  }
});

Deno.test("snapshot job chunks: an item larger than a chunk is a chunk of its own", () => {
  const s = new KvStore();
  s.apply(1, put("a", "small"));
  s.apply(2, { requestId: "", op: "put", key: b("big"), value: new Uint8Array(5000).fill(7) });
  s.apply(3, put("c", "small too"));
  const expected = s.snapshot();
  const job = s.beginSnapshot();
  const sizes: number[] = [];
  const copies: Uint8Array[] = [];
  for (const chunk of job.chunks(64)) {
    sizes.push(chunk.length);
    copies.push(chunk.slice());
  }
  // Header and "a" (24 + 14 + 1 + 5), then the big item alone, then "c" and the CRC.
  assert.deepEqual(sizes, [44, 14 + 3 + 5000, 14 + 1 + 9 + 4]);
  assert.deepEqual(concat(copies), expected);
});

Deno.test("snapshot job chunks: stopping early aborts the job; chunks after step, or tiny, throw", () => {
  const s = new KvStore();
  for (let i = 1; i <= 100; i++) s.apply(i, put(`k${i}`, "v".repeat(50)));
  const job = s.beginSnapshot();
  for (const _chunk of job.chunks(200)) break; // A writer that failed after its first chunk.
  assert.equal(s.snapshotActive, false, "the overlay hook is gone");
  assert.throws(() => job.step(1), /it was aborted/);
  const empty = new KvStore().beginSnapshot();
  assert.deepEqual(concat([...empty.chunks(28)]), new KvStore().snapshot());
  const stepped = s.beginSnapshot();
  stepped.step(1);
  assert.throws(() => stepped.chunks(1024).next(), /into chunks or into one buffer/);
  stepped.abort();
  assert.throws(() => s.beginSnapshot().chunks(27).next(), RangeError);
});

Deno.test("sortKeysAsync: timers run while 60k added keys are sorted in; calls join; ranges stay right", async () => {
  const s = new KvStore();
  const value = b("v");
  let index = 0;
  for (let i = 0; i < 1000; i++) s.apply(++index, put(`a/${i}`, "v"));
  s.range(b(""), 1); // Sorts the first keys in.
  for (let i = 0; i < 60_000; i++) {
    s.apply(++index, { requestId: "", op: "put", key: b(`key/${(i * 7919) % 60_000}`), value });
  }
  let ticks = 0;
  const timer = setInterval(() => {
    ticks++;
    s.apply(++index, put(`key/new/${ticks}`, "n"));
    s.apply(++index, { requestId: "", op: "delete", key: b(`key/${ticks}`) });
  }, 1);
  try {
    const first = s.sortKeysAsync({ sliceMs: 2 });
    assert.equal(s.sortKeysAsync(), first, "a second call joins the running one");
    await first;
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks > 0, "no timer callback ran during sortKeysAsync");
  const keys = s.range(b("key/"), 100_000).items.map((item) => dec(item.key));
  const expected = [
    ...[...Array(60_000).keys()].filter((i) => i < 1 || i > ticks).map((i) => `key/${i}`),
    ...[...Array(ticks).keys()].map((i) => `key/new/${i + 1}`),
  ].sort();
  assert.deepEqual(keys, expected);
  await s.sortKeysAsync(); // Nothing pending: ends at once.
});

Deno.test("snapshot job: a value replaced or deleted during a job keeps its bytes until the job ends, though new values of its size arrive", () => {
  const s = new KvStore();
  for (let i = 1; i <= 50; i++) s.apply(i, put(`k${i}`, `old-${String(i).padStart(3, "0")}`));
  const expected = s.snapshot();
  const job = s.beginSnapshot();
  job.step(10);
  // Each replaced or deleted value frees a record of the size the new values take: reused at
  // once, it would be overwritten under the job.
  s.apply(51, put("k30", "new-030"));
  s.apply(52, { requestId: "", op: "delete", key: b("k40") });
  for (let i = 53; i <= 70; i++) s.apply(i, put(`n${i}`, `new-${i}`));
  while (!job.step(10));
  assert.deepEqual(job.result(), expected);
  const restored = new KvStore();
  restored.restore(job.result());
  assert.equal(dec(restored.get(b("k30"))!.value), "old-030");
  assert.equal(dec(restored.get(b("k40"))!.value), "old-040");
  // Once the job ended, the freed records are reused.
  assert.equal(dec(s.get(b("k30"))!.value), "new-030");
  assert.equal(s.get(b("k40")), undefined);
});
