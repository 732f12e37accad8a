import { Buffer } from "node:buffer";
import assert from "node:assert/strict";
import {
  decodeCommand,
  encodeCommand,
  type KvCommand,
  type KvCondition,
  KvSnapshotCorruptError,
  KvStore,
} from "../../kv/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string) => enc.encode(s);

function put(key: Uint8Array | string, value: string, condition?: KvCondition): KvCommand {
  const cmd: KvCommand = {
    requestId: "r",
    op: "put",
    key: typeof key === "string" ? b(key) : key,
    value: b(value),
  };
  if (condition) cmd.condition = condition;
  return cmd;
}
function del(key: string, condition?: KvCondition): KvCommand {
  const cmd: KvCommand = { requestId: "r", op: "delete", key: b(key) };
  if (condition) cmd.condition = condition;
  return cmd;
}
const keysOf = (s: KvStore, prefix: Uint8Array, limit = 1000) =>
  s.range(prefix, limit).items.map((i) => Array.from(i.key));

Deno.test("store: a put's revision is the entry's log index; get returns value and revision", () => {
  const s = new KvStore();
  assert.deepEqual(s.apply(3, put("a", "1")), { ok: true, revision: 3 });
  assert.deepEqual(s.apply(5, put("a", "2")), { ok: true, revision: 5 });
  const got = s.get(b("a"))!;
  assert.equal(dec.decode(got.value), "2");
  assert.equal(got.revision, 5);
  assert.equal(s.get(b("b")), undefined);
  assert.equal(s.appliedIndex, 5);
  assert.equal(s.size, 1);
});

Deno.test("store: If-Match applies only at the current revision, lists and * too", () => {
  const s = new KvStore();
  s.apply(1, put("k", "v1"));
  assert.deepEqual(s.apply(2, put("k", "x", { ifMatch: 7 })), {
    ok: false,
    code: "precondition_failed",
    currentRevision: 1,
  });
  assert.equal(s.appliedIndex, 2, "a failed command still advances appliedIndex");
  assert.deepEqual(s.apply(3, put("k", "v3", { ifMatch: 1 })), { ok: true, revision: 3 });
  assert.deepEqual(s.apply(4, put("k", "v4", { ifMatch: [9, 3] })), { ok: true, revision: 4 });
  assert.deepEqual(s.apply(5, put("k", "v5", { ifMatch: "*" })), { ok: true, revision: 5 });
  assert.deepEqual(s.apply(6, put("absent", "v", { ifMatch: "*" })), {
    ok: false,
    code: "precondition_failed",
    currentRevision: 0,
  });
  assert.deepEqual(s.apply(7, put("absent", "v", { ifMatch: 0 })), {
    ok: false,
    code: "precondition_failed",
    currentRevision: 0,
  });
  assert.equal(s.get(b("absent")), undefined);
  assert.equal(dec.decode(s.get(b("k"))!.value), "v5");
});

Deno.test("store: If-None-Match * creates only an absent key", () => {
  const s = new KvStore();
  assert.deepEqual(s.apply(1, put("k", "a", { ifNoneMatch: true })), { ok: true, revision: 1 });
  assert.deepEqual(s.apply(2, put("k", "b", { ifNoneMatch: true })), {
    ok: false,
    code: "precondition_failed",
    currentRevision: 1,
  });
  assert.equal(dec.decode(s.get(b("k"))!.value), "a");
});

Deno.test("store: delete removes, reports not_found for an absent key, honours If-Match", () => {
  const s = new KvStore();
  s.apply(1, put("k", "v"));
  assert.deepEqual(s.apply(2, del("k", { ifMatch: 5 })), {
    ok: false,
    code: "precondition_failed",
    currentRevision: 1,
  });
  assert.deepEqual(s.apply(3, del("k", { ifMatch: 1 })), { ok: true, revision: 3, deleted: true });
  assert.equal(s.get(b("k")), undefined);
  assert.deepEqual(s.apply(4, del("k")), { ok: false, code: "not_found", currentRevision: 0 });
  assert.deepEqual(s.apply(5, del("k", { ifMatch: 1 })), {
    ok: false,
    code: "precondition_failed",
    currentRevision: 0,
  });
  assert.equal(s.size, 0);
  assert.deepEqual(s.range(new Uint8Array(0), 10), { items: [], more: false });
});

Deno.test("store: apply rejects an index at or below appliedIndex (invariant)", () => {
  const s = new KvStore();
  s.apply(2, put("k", "v"));
  assert.throws(() => s.apply(2, put("k", "v")), /Invariant/);
  assert.throws(() => s.advanceTo(1), /Invariant/);
  s.advanceTo(3);
  assert.equal(s.appliedIndex, 3);
});

Deno.test("store: range returns keys in byte order, binary keys and edge cases included", () => {
  const s = new KvStore();
  const keys: number[][] = [
    [0x61],
    [0x61, 0x00],
    [0x61, 0x7f],
    [0x61, 0x80],
    [0x61, 0xff],
    [0x61, 0xff, 0xff],
    [0x62],
    [0x00],
    [0xff],
    [0xc3, 0xa9], // "é" in UTF-8
    [0xe2, 0x82, 0xac], // "€": UTF-16 ordering would differ from byte ordering vs 0xf0 keys
    [0xf0, 0x9f, 0x98, 0x80], // an emoji, a surrogate pair in UTF-16
    [0xef, 0xbd, 0xa1], // U+FF61, above the surrogates in UTF-16 but below 0xf0 in bytes
  ];
  let i = 1;
  for (const k of [...keys].reverse()) s.apply(i++, put(new Uint8Array(k), "v"));
  const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  assert.deepEqual(keysOf(s, new Uint8Array(0)), expected);
  assert.deepEqual(keysOf(s, new Uint8Array([0x61])), [
    [0x61],
    [0x61, 0x00],
    [0x61, 0x7f],
    [0x61, 0x80],
    [0x61, 0xff],
    [0x61, 0xff, 0xff],
  ]);
  assert.deepEqual(keysOf(s, new Uint8Array([0x61, 0xff])), [[0x61, 0xff], [0x61, 0xff, 0xff]]);
  assert.deepEqual(keysOf(s, new Uint8Array([0xff])), [[0xff]]);
  assert.deepEqual(keysOf(s, new Uint8Array([0x63])), []);
});

Deno.test("store: range limit sets more only when more keys with the prefix follow", () => {
  const s = new KvStore();
  let i = 1;
  for (const k of ["p/1", "p/2", "p/3", "q/1"]) s.apply(i++, put(k, k));
  const r2 = s.range(b("p/"), 2);
  assert.deepEqual(r2.items.map((x) => dec.decode(x.key)), ["p/1", "p/2"]);
  assert.equal(r2.more, true);
  const r3 = s.range(b("p/"), 3);
  assert.equal(r3.items.length, 3);
  assert.equal(r3.more, false, "q/1 follows but is outside the prefix");
  assert.equal(r3.items[2]!.revision, 3);
  assert.equal(dec.decode(r3.items[2]!.value), "p/3");
  assert.throws(() => s.range(b(""), 0), RangeError);
  assert.throws(() => s.range(b(""), 1.5), RangeError);
});

Deno.test("store: range stops at bytesMax but always returns one item", () => {
  const s = new KvStore({ rangeBytesMax: 10 });
  for (let i = 1; i <= 5; i++) s.apply(i, put(`k${i}`, "123456"));
  const r = s.range(b("k"), 100);
  assert.equal(r.items.length, 2);
  assert.equal(r.more, true);
  const one = s.range(b("k"), 100, { bytesMax: 1 });
  assert.equal(one.items.length, 1);
  assert.equal(one.more, true);
});

Deno.test("store: sorted index stays right across many random puts and deletes (seeded)", () => {
  const s = new KvStore();
  const model = new Map<string, number>();
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let index = 1; index <= 30000; index++) {
    const len = 1 + rand(3);
    const key = new Uint8Array(len);
    for (let j = 0; j < len; j++) key[j] = rand(40) + (rand(2) ? 0 : 200);
    const hex = Buffer.from(key).toString("hex");
    if (rand(3) === 0) {
      const r = s.apply(index, { requestId: "", op: "delete", key });
      assert.equal(r.ok, model.delete(hex));
    } else {
      s.apply(index, { requestId: "", op: "put", key, value: new Uint8Array([1]) });
      model.set(hex, index);
    }
  }
  const expected = [...model.keys()].sort((x, y) =>
    Buffer.compare(Buffer.from(x, "hex"), Buffer.from(y, "hex"))
  );
  const got = s.range(new Uint8Array(0), 100000).items.map((i) =>
    Buffer.from(i.key).toString("hex")
  );
  assert.deepEqual(got, expected);
  assert.equal(s.size, model.size);
  const prefixed = s.range(new Uint8Array([205]), 100000).items.map((i) =>
    Buffer.from(i.key).toString("hex")
  );
  assert.deepEqual(prefixed, expected.filter((h) => h.startsWith("cd")));
});

Deno.test("store: snapshot and restore round-trip state, revisions and appliedIndex", () => {
  const s = new KvStore();
  s.apply(1, put(new Uint8Array([0, 255]), "bin"));
  for (let i = 2; i < 3000; i++) s.apply(i, put(`key/${i}`, `value ${i}`));
  s.apply(3000, del("key/10"));
  s.advanceTo(3001);
  const snap = s.snapshot();
  const r = new KvStore();
  r.apply(1, put("will-vanish", "x"));
  r.restore(snap);
  assert.equal(r.appliedIndex, 3001);
  assert.equal(r.size, s.size);
  assert.equal(r.get(b("will-vanish")), undefined);
  assert.deepEqual(r.range(b(""), 100000), s.range(b(""), 100000));
  assert.deepEqual(r.snapshot(), snap);
  // The restored store keeps working.
  r.apply(3002, put("key/10", "back"));
  assert.equal(r.get(b("key/10"))!.revision, 3002);
  // An empty store round-trips too.
  const e = new KvStore();
  e.restore(new KvStore().snapshot());
  assert.equal(e.size, 0);
});

Deno.test("store: a corrupt or truncated snapshot is rejected and changes nothing", () => {
  const s = new KvStore();
  for (let i = 1; i <= 50; i++) s.apply(i, put(`k${i}`, `v${i}`));
  const snap = s.snapshot();
  const target = new KvStore();
  target.apply(1, put("mine", "x"));
  const before = target.snapshot();
  for (let n = 0; n < snap.length; n += 7) {
    assert.throws(() => target.restore(snap.subarray(0, n)), KvSnapshotCorruptError);
  }
  for (let at = 0; at < snap.length; at += 11) {
    const bad = snap.slice();
    bad[at] = bad[at]! ^ 0x40;
    assert.throws(() => target.restore(bad), KvSnapshotCorruptError);
  }
  assert.throws(() => target.restore(new Uint8Array(100)), /bad magic/);
  assert.deepEqual(target.snapshot(), before);
});

Deno.test("store: applies what decodeCommand returns", () => {
  const s = new KvStore();
  const cmd = decodeCommand(encodeCommand(put("x", "y", { ifNoneMatch: true })));
  assert.deepEqual(s.apply(1, cmd), { ok: true, revision: 1 });
});

Deno.test("store: the same commands give byte-identical snapshots (determinism)", () => {
  const make = () => {
    const s = new KvStore();
    let seed = 99;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let index = 1; index <= 5000; index++) {
      const key = b(`k${rand(500)}`);
      const r = rand(10);
      if (r === 0) s.apply(index, { requestId: "", op: "delete", key });
      else if (r === 1) s.advanceTo(index);
      else {
        // Values of changing sizes exercise the snapshot size accounting.
        s.apply(index, { requestId: "", op: "put", key, value: new Uint8Array(rand(300)) });
      }
    }
    return s;
  };
  const a = make().snapshot();
  const c = make().snapshot();
  assert.deepEqual(a, c);
  const r = new KvStore();
  r.restore(a);
  assert.deepEqual(r.snapshot(), a);
});

Deno.test("store: every byte value survives put, get, range, snapshot and restore", () => {
  const all = new Uint8Array(256).map((_, i) => i);
  const long = new Uint8Array(5000).map((_, i) => (i * 31) % 256);
  const s = new KvStore();
  s.apply(1, { requestId: "", op: "put", key: all.subarray(1), value: all });
  s.apply(2, { requestId: "", op: "put", key: all.subarray(128), value: long });
  assert.deepEqual(s.get(all.subarray(1))!.value, all);
  assert.deepEqual(s.get(all.subarray(128))!.value, long);
  const r = new KvStore();
  r.restore(s.snapshot());
  const items = r.range(new Uint8Array(0), 10).items;
  assert.deepEqual(items.map((i) => i.key), [all.slice(1), all.slice(128)]);
  assert.deepEqual(items.map((i) => i.value), [all, long]);
});
