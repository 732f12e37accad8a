import assert from "node:assert/strict";
import { KeyTable } from "../../kv/key_table.ts";
import { mulberry32 } from "../../raft/util.ts";

interface Item {
  key: string;
  n: number;
}

for (const [hashBits, shards] of [[1, 1], [3, 4], [30, 1], [30, 16]] as const) {
  Deno.test(`key table: agrees with a Map under random sets, adds, deletes and takes (hashBits ${hashBits}, shards ${shards})`, () => {
    for (const seed of [1, 2, 3]) {
      const next = mulberry32(seed); // A failing seed replays exactly.
      const table = new KeyTable<Item>((item) => item.key, { hashBits, shards });
      const reference = new Map<string, Item>();
      for (let step = 0; step < 3000; step++) {
        // Binary-string keys, some sharing prefixes, some one char apart.
        const key = String.fromCharCode(Math.floor(next() * 4)) + "k" + Math.floor(next() * 200);
        const roll = next();
        if (roll < 0.4) {
          const item = { key, n: step };
          assert.equal(table.set(item), !reference.has(key), `seed ${seed} step ${step}`);
          reference.set(key, item);
        } else if (roll < 0.55) {
          // getOrSet keeps what is there; the table must hold the very object it returns.
          const item = { key, n: step };
          const kept = reference.get(key) ?? item;
          assert.equal(table.getOrSet(item), kept, `seed ${seed} step ${step}`);
          reference.set(key, kept);
        } else if (roll < 0.7) {
          assert.equal(table.delete(key), reference.delete(key), `seed ${seed} step ${step}`);
        } else if (roll < 0.85) {
          // take returns the very object stored, and removes it.
          const stored = reference.get(key);
          reference.delete(key);
          assert.equal(table.take(key), stored, `seed ${seed} step ${step}`);
        } else {
          assert.equal(table.get(key), reference.get(key), `seed ${seed} step ${step}`);
          assert.equal(table.has(key), reference.has(key));
        }
        assert.equal(table.size, reference.size, `seed ${seed} step ${step}`);
      }
      const values = [...table.values()].sort((a, b) => a.n - b.n);
      assert.deepEqual(values, [...reference.values()].sort((a, b) => a.n - b.n));
      table.clear();
      assert.equal(table.size, 0);
      assert.equal(table.get(values[0]!.key), undefined);
      assert.equal(table.set(values[0]!), true, "a cleared table takes values again");
      assert.equal(table.get(values[0]!.key), values[0]);
    }
  });
}

Deno.test("key table: a key is found by its chars, not by the string object", () => {
  const table = new KeyTable<string>((key) => key, { hashBits: 1 });
  table.set("ab");
  table.set("ba");
  assert.equal(table.get(["a", "b"].join("")), "ab");
  assert.equal(table.get("ab\u0000"), undefined);
  assert.equal(table.size, 2);
  assert.throws(() => new KeyTable<string>((key) => key, { hashBits: 31 }), RangeError);
  assert.throws(() => new KeyTable<string>((key) => key, { hashBits: 0 }), RangeError);
  assert.throws(() => new KeyTable<string>((key) => key, { shards: 3 }), /power of two/);
});

Deno.test("key table: refuses an array as a value, which a bucket of collisions would look like", () => {
  const table = new KeyTable<unknown>(() => "k");
  assert.throws(() => table.set(["k"]), /Cannot store an array/);
  assert.throws(() => table.getOrSet(["k"]), /Cannot store an array/);
  assert.equal(table.size, 0);
});
