import assert from "node:assert/strict";
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  decodeConfChange,
  encodeConfChange,
} from "../../raft/mod.ts";
import { mulberry32 } from "../../raft/util.ts";

const samples: ConfChange[] = [
  { transition: ConfChangeTransition.Auto, changes: [], context: new Uint8Array() },
  {
    transition: ConfChangeTransition.Auto,
    changes: [{ type: ConfChangeType.AddNode, nodeId: 1 }],
    context: new TextEncoder().encode("http://127.0.0.1:12380"),
  },
  {
    transition: ConfChangeTransition.JointExplicit,
    changes: [
      { type: ConfChangeType.AddLearnerNode, nodeId: 2 ** 40 },
      { type: ConfChangeType.RemoveNode, nodeId: 127 },
      { type: ConfChangeType.AddNode, nodeId: 128 },
      { type: ConfChangeType.AddNode, nodeId: Number.MAX_SAFE_INTEGER },
    ],
    context: new Uint8Array([0, 255, 7]),
  },
];

Deno.test("ConfChange codec round-trips every transition, type and large node ids", () => {
  for (const cc of samples) {
    const data = encodeConfChange(cc);
    assert.equal(data[0], 1, "version byte");
    assert.deepEqual(decodeConfChange(data), cc);
  }
});

Deno.test("ConfChange decode rejects truncations, trailing bytes, bad versions and bad values", () => {
  const good = encodeConfChange(samples[2]!);
  for (let n = 0; n < good.length; n++) {
    assert.throws(() => decodeConfChange(good.subarray(0, n)), RangeError, `truncated to ${n}`);
  }
  assert.throws(() => decodeConfChange(new Uint8Array([...good, 0])), /trailing/);
  assert.throws(() => decodeConfChange(new Uint8Array([2, 0, 0, 0])), /unknown version 2/);
  assert.throws(() => decodeConfChange(new Uint8Array([1, 3, 0, 0])), /transition/);
  assert.throws(() => decodeConfChange(new Uint8Array([1, 0, 1, 9, 1, 0])), /change type/);
  // A varint that never ends, and one that overflows a safe integer.
  assert.throws(() =>
    decodeConfChange(new Uint8Array([1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))
  );
  assert.throws(
    () =>
      decodeConfChange(
        new Uint8Array([1, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0]),
      ),
    /safe integer/,
  );
  assert.throws(() => decodeConfChange(new Uint8Array([1, 0, 0x80, 0x00, 0])), /non-canonical/);
  // A context length beyond the input.
  assert.throws(() => decodeConfChange(new Uint8Array([1, 0, 0, 50, 1, 2])), /context length/);
  assert.throws(() => decodeConfChange("nope" as unknown as Uint8Array), TypeError);
});

Deno.test("ConfChange decode of random garbage throws only TypeError or RangeError", () => {
  const rand = mulberry32(42);
  for (let k = 0; k < 20000; k++) {
    const len = Math.floor(rand() * 24);
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) b[i] = Math.floor(rand() * 256);
    if (len > 0 && rand() < 0.5) b[0] = 1;
    try {
      const cc = decodeConfChange(b);
      // Whatever decodes must re-encode to the same bytes.
      assert.deepEqual(encodeConfChange(cc), b);
    } catch (err) {
      assert.ok(err instanceof RangeError || err instanceof TypeError, String(err));
    }
  }
});

Deno.test("ConfChange encode refuses invalid node ids", () => {
  assert.throws(
    () =>
      encodeConfChange({
        transition: ConfChangeTransition.Auto,
        changes: [{ type: ConfChangeType.AddNode, nodeId: -1 }],
        context: new Uint8Array(),
      }),
    RangeError,
  );
});
