import assert from "node:assert/strict";
import { SlabAllocator } from "../../bytes/mod.ts";

Deno.test("slab: small arrays are aligned, disjoint views of one buffer", () => {
  const slabs = new SlabAllocator({ slabBytes: 64, itemBytesMax: 16 });
  const a = slabs.allocate(5);
  const b = slabs.allocate(16);
  assert.equal(a.length, 5);
  assert.equal(b.length, 16);
  assert.equal(a.buffer, b.buffer);
  assert.equal(a.byteOffset % 8, 0);
  assert.equal(b.byteOffset, 8);
  a.fill(0xaa);
  assert.ok(b.every((x) => x === 0));
});

Deno.test("slab: a full slab is replaced and the views already given keep their bytes", () => {
  const slabs = new SlabAllocator({ slabBytes: 32, itemBytesMax: 16 });
  const first = slabs.allocate(16).fill(1);
  const second = slabs.allocate(16).fill(2);
  const third = slabs.allocate(16).fill(3);
  assert.equal(first.buffer, second.buffer);
  assert.notEqual(third.buffer, first.buffer);
  assert.deepEqual([first[0], second[0], third[0]], [1, 2, 3]);
});

Deno.test("slab: an array above itemBytesMax gets a buffer of its own", () => {
  const slabs = new SlabAllocator({ slabBytes: 64, itemBytesMax: 16 });
  const big = slabs.allocate(17);
  assert.equal(big.length, 17);
  assert.equal(big.byteOffset, 0);
  assert.equal(big.buffer.byteLength, 17);
});

Deno.test("slab: sizes that cannot work are refused", () => {
  assert.throws(() => new SlabAllocator({ itemBytesMax: 0 }), RangeError);
  assert.throws(() => new SlabAllocator({ slabBytes: 8, itemBytesMax: 16 }), RangeError);
});
