import assert from "node:assert/strict";
import { SortedKeys, sortStringsInSteps } from "../../kv/sorted_keys.ts";
import { mulberry32 } from "../../raft/util.ts";

function entries<T>(s: SortedKeys<T>, from = ""): [string, T][] {
  const out: [string, T][] = [];
  s.scanFrom(from, (k, v) => {
    out.push([k, v]);
    return true;
  });
  return out;
}

function key(i: number): string {
  // Binary strings with chars above 0x7f, padded so that numeric and byte order agree.
  return String.fromCharCode(0x80 + (i >> 8) % 128, i & 0xff);
}

Deno.test("sorted keys: ascending, descending and shuffled inserts across chunk splits", () => {
  const n = 10_000; // Several splits of 2048-key chunks.
  const orders = {
    ascending: [...Array(n).keys()],
    descending: [...Array(n).keys()].reverse(),
    shuffled: [...Array(n).keys()].map((i) => (i * 7919) % n),
  };
  for (const [name, order] of Object.entries(orders)) {
    const s = new SortedKeys<number>(key);
    for (const i of order) s.add(i);
    assert.equal(s.size, n);
    const all = entries(s);
    assert.deepEqual(all.map(([, v]) => v), [...Array(n).keys()], name);
    assert.deepEqual(entries(s, key(n - 2)).map(([, v]) => v), [n - 2, n - 1]);
    assert.deepEqual(entries(s, "\uffff"), []);
  }
});

Deno.test("sorted keys: deleting everything, in any order, empties chunks cleanly", () => {
  const n = 6000;
  for (const step of [1, 7, 4999]) {
    const s = new SortedKeys<number>(key);
    for (let i = 0; i < n; i++) s.add(i);
    const removed = new Set<number>();
    for (let j = 0; j < n; j++) {
      const i = (j * step) % n;
      if (removed.has(i)) continue;
      assert.ok(s.delete(key(i)));
      removed.add(i);
      if (j % 997 === 0) {
        const left = entries(s).map(([, v]) => v);
        assert.deepEqual(left, [...Array(n).keys()].filter((x) => !removed.has(x)));
      }
    }
    for (let i = 0; i < n; i++) {
      if (!removed.has(i)) assert.ok(s.delete(key(i)));
    }
    assert.equal(s.size, 0);
    assert.deepEqual(entries(s), []);
    assert.equal(s.delete(key(1)), false);
    s.add(0x7f80);
    assert.deepEqual(entries(s), [[key(0x7f80), 0x7f80]]);
  }
});

Deno.test("sorted keys: scanFrom stops when the visitor says so; fromSorted checks order", () => {
  const letter = (n: number) => "abcd"[n - 1]!;
  const s = SortedKeys.fromSorted(["a", "b", "c", "d"], [1, 2, 3, 4], { keyOf: letter });
  const seen: string[] = [];
  s.scanFrom("b", (k) => {
    seen.push(k);
    return k < "c";
  });
  assert.deepEqual(seen, ["b", "c"]);
  const keyOf = letter;
  assert.throws(
    () => SortedKeys.fromSorted(["b", "a"], [2, 1], { keyOf }),
    /not strictly ascending/,
  );
  assert.throws(
    () => SortedKeys.fromSorted(["a", "a"], [1, 1], { keyOf }),
    /not strictly ascending/,
  );
  assert.throws(() => SortedKeys.fromSorted(["a"], [], { keyOf }), RangeError);
  const big = SortedKeys.fromSorted(
    [...Array(5000).keys()].map(key),
    [...Array(5000).keys()],
    { keyOf: key },
  );
  big.add(5000);
  big.delete(key(0));
  assert.deepEqual(entries(big).map(([, v]) => v), [...Array(5000).keys()].map((i) => i + 1));
});

Deno.test("sorted keys: lazy adds merge right in small and large batches, with deletes between", () => {
  const s = new SortedKeys<{ k: string; round: number }>((v) => v.k);
  const model = new Map<string, { k: string; round: number }>();
  let seed = 3;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let round = 0; round < 60; round++) {
    // Batches from 1 key (one-by-one inserts) to thousands (sort and merge).
    const batch = [1, 5, 33, 500, 3000][round % 5]!;
    for (let j = 0; j < batch; j++) {
      const k = key(rand(20000));
      if (model.has(k)) {
        assert.ok(s.delete(k));
        model.delete(k);
      } else {
        s.add({ k, round });
        model.set(k, { k, round });
      }
    }
    // Delete some keys that may still be pending.
    for (const k of [...model.keys()].slice(0, 3)) {
      assert.ok(s.delete(k));
      model.delete(k);
    }
    assert.equal(s.size, model.size);
    if (round % 3 === 0) continue; // Let pending keys pile up across rounds.
    const expected = [...model.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1));
    assert.deepEqual(entries(s), expected, `round ${round}`);
  }
});

Deno.test("sorted keys: a key added twice is a broken invariant caught at the merge", () => {
  for (const extra of [0, 100]) {
    const s = new SortedKeys<string>((k) => k);
    s.add("a");
    s.forEach(() => {});
    for (let i = 0; i < extra; i++) s.add(`b${i}`);
    s.add("a");
    assert.throws(() => s.forEach(() => {}), /added twice/);
  }
});

Deno.test("sorted keys: keys merged by a scan and keys still pending both delete", () => {
  const n = 9000;
  const s = new SortedKeys<number>(key);
  for (let i = 0; i < n; i++) {
    s.add((i * 7919) % n);
    if (i === 5000) s.forEach(() => {}); // Merges the first 5001; the rest stay pending.
  }
  for (let i = 0; i < n; i += 3) assert.ok(s.delete(key(i)));
  assert.equal(s.delete(key(0)), false);
  assert.equal(s.size, n - Math.ceil(n / 3));
  assert.deepEqual(entries(s).map(([, v]) => v), [...Array(n).keys()].filter((i) => i % 3 !== 0));
});

Deno.test("sorted keys: flushSteps stays exact with adds, deletes, re-adds and scans between steps (seeded)", () => {
  for (const seed of [1, 2, 3, 4]) {
    const next = mulberry32(seed); // A failing seed replays exactly.
    const rand = (n: number) => Math.floor(next() * n);
    const s = new SortedKeys<{ k: string; gen: number }>((v) => v.k);
    const model = new Map<string, { k: string; gen: number }>();
    const flip = (k: string, gen: number) => {
      if (model.has(k)) {
        assert.ok(s.delete(k));
        model.delete(k);
      } else {
        const value = { k, gen };
        s.add(value);
        model.set(k, value);
      }
    };
    // Some keys in chunks, then many pending: the steps list, sort and merge them in groups.
    for (let i = 0; i < 3000; i++) flip(key(rand(30_000)), 0);
    s.forEach(() => {});
    for (let i = 0; i < 12_000; i++) flip(key(rand(30_000)), 1);
    let steps = 0;
    for (const _ of s.flushSteps()) {
      steps++;
      // Between steps: keys flip (a deleted key may come back with a new value), and now and
      // then, once the merge is under way, a scan merges whatever is pending at once.
      for (let j = rand(4); j > 0; j--) flip(key(rand(30_000)), 2 + steps);
      if (steps > 8 && rand(8) === 0) s.forEach(() => {});
      assert.equal(s.size, model.size, `seed ${seed}, step ${steps}`);
    }
    assert.ok(steps > 12, `only ${steps} steps`);
    const expected = [...model.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1));
    const got = entries(s);
    assert.deepEqual(got.map(([k]) => k), expected.map(([k]) => k), `seed ${seed}`);
    // The very values the map holds: a key added again merges with its newest value.
    assert.ok(got.every(([k, v]) => v === model.get(k)), `seed ${seed}: a stale value`);
  }
});

Deno.test("sorted keys: flushSteps merges into an empty map and past the last chunk", () => {
  const s = new SortedKeys<number>(key);
  for (let i = 9999; i >= 0; i--) s.add(i);
  for (const _ of s.flushSteps());
  assert.deepEqual(entries(s).map(([, v]) => v), [...Array(10_000).keys()]);
  for (let i = 10_000; i < 15_000; i++) s.add(i);
  for (const _ of s.flushSteps());
  assert.deepEqual(entries(s).map(([, v]) => v), [...Array(15_000).keys()]);
});

Deno.test("sorted keys: sortStringsInSteps sorts like Array.prototype.sort, equal keys and skew included", () => {
  const next = mulberry32(7);
  const random = Array.from({ length: 30_000 }, () => key(Math.floor(next() * 32_768)));
  const cases: Record<string, string[]> = {
    random,
    ascending: random.slice().sort(),
    descending: random.slice().sort().reverse(),
    // One key in most places: a bucket far over its size goes to the merge sort.
    "mostly equal": random.map((k, i) => (i % 10 === 0 ? k : "\u00ff")),
    "all equal": Array(10_000).fill("a"),
    small: random.slice(0, 100),
    empty: [],
  };
  for (const [name, keys] of Object.entries(cases)) {
    const expected = keys.slice().sort();
    const steps = sortStringsInSteps(keys);
    let result = steps.next();
    let count = 0;
    for (; !result.done; result = steps.next()) count++;
    assert.equal(result.value, keys, `${name}: sorted in place`);
    assert.deepEqual(keys, expected, name);
    if (keys.length > 20_000) assert.ok(count > 10, `${name}: only ${count} steps`);
  }
});

Deno.test("sorted keys: lent runs stay as they were while keys are deleted, inserted and merged, until given back", () => {
  const s = new SortedKeys<number>(key);
  const n = 6000; // Three chunks or more.
  for (let i = 0; i < n; i += 2) s.add(i);
  const before = entries(s);
  const lent = s.lend();
  const lentEntries = () =>
    lent.keys.flatMap((run, r) => run.map((k, i): [string, number] => [k, lent.values[r]![i]!]));
  assert.deepEqual(lentEntries(), before);
  assert.throws(() => s.lend(), /already lent/);
  // A delete and a one-by-one insert change a chunk in place; a large merge replaces chunks,
  // and inserts past CHUNK_KEYS_MAX split one.
  for (let i = 0; i < n; i += 10) assert.ok(s.delete(key(i)));
  s.add(1);
  assert.equal(entries(s).length, before.length - n / 10 + 1);
  for (let i = 3; i < n; i += 2) s.add(i);
  for (const _ of s.flushSteps());
  for (let i = n; i < n + 3000; i++) {
    s.add(i);
    entries(s, key(n + 3000)); // A scan merges each add one by one.
  }
  assert.deepEqual(lentEntries(), before);
  s.giveBack();
  const now = entries(s);
  s.delete(key(2));
  assert.deepEqual(entries(s), now.filter(([k]) => k !== key(2)));
  // Lent again after giving back: the runs are the state now.
  const again = s.lend();
  assert.equal(again.keys.reduce((sum, run) => sum + run.length, 0), s.size);
  s.giveBack();
});
