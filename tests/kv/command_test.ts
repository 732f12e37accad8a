import assert from "node:assert/strict";
import {
  decodeCommand,
  encodeCommand,
  type KvCommand,
  KvCommandDecodeError,
} from "../../kv/mod.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

const samples: KvCommand[] = [
  { requestId: "r1", op: "put", key: bytes("a"), value: bytes("hello") },
  { requestId: "", op: "put", key: new Uint8Array([0, 255, 128]), value: new Uint8Array(0) },
  { requestId: "ü-id", op: "delete", key: bytes("k") },
  { requestId: "x", op: "put", key: bytes("k"), value: bytes("v"), condition: { ifMatch: 42 } },
  {
    requestId: "x",
    op: "put",
    key: bytes("k"),
    value: bytes("v"),
    condition: { ifMatch: Number.MAX_SAFE_INTEGER },
  },
  { requestId: "x", op: "put", key: bytes("k"), value: bytes("v"), condition: { ifMatch: [1, 2] } },
  { requestId: "x", op: "delete", key: bytes("k"), condition: { ifMatch: "*" } },
  {
    requestId: "x",
    op: "put",
    key: bytes("k"),
    value: bytes("v"),
    condition: { ifNoneMatch: true },
  },
  { requestId: "big", op: "put", key: new Uint8Array(4096).fill(7), value: new Uint8Array(70000) },
];

Deno.test("command codec round-trips every op and condition", () => {
  for (const cmd of samples) {
    assert.deepEqual(decodeCommand(encodeCommand(cmd)), cmd);
  }
});

Deno.test("command codec decodes from a subarray at an offset", () => {
  const enc = encodeCommand(samples[3]!);
  const buf = new Uint8Array(enc.length + 10);
  buf.set(enc, 5);
  assert.deepEqual(decodeCommand(buf.subarray(5, 5 + enc.length)), samples[3]);
});

Deno.test("command encode rejects keys out of 1..4096 bytes and bad revisions", () => {
  assert.throws(
    () => encodeCommand({ requestId: "", op: "delete", key: new Uint8Array(0) }),
    RangeError,
  );
  assert.throws(
    () => encodeCommand({ requestId: "", op: "delete", key: new Uint8Array(4097) }),
    RangeError,
  );
  assert.throws(
    () =>
      encodeCommand({
        requestId: "",
        op: "put",
        key: bytes("k"),
        value: bytes("v"),
        condition: { ifMatch: -1 },
      }),
    RangeError,
  );
  assert.throws(() => encodeCommand({ requestId: "", op: "put", key: bytes("k") }), TypeError);
});

Deno.test("command decode rejects every truncation and trailing bytes", () => {
  for (const cmd of samples) {
    const enc = encodeCommand(cmd);
    for (let n = 0; n < Math.min(enc.length, 200); n++) {
      assert.throws(() => decodeCommand(enc.subarray(0, n)), KvCommandDecodeError);
    }
    const longer = new Uint8Array(enc.length + 1);
    longer.set(enc);
    assert.throws(() => decodeCommand(longer), KvCommandDecodeError);
  }
});

Deno.test("command decode rejects bad version, op, condition kind and lengths", () => {
  const enc = encodeCommand(samples[3]!);
  const mutate = (i: number, v: number) => {
    const c = enc.slice();
    c[i] = v;
    return c;
  };
  assert.throws(() => decodeCommand(mutate(0, 2)), /unknown version 2/);
  assert.throws(() => decodeCommand(mutate(1, 9)), /unknown op 9/);
  assert.throws(() => decodeCommand(mutate(2, 9)), /unknown condition kind 9/);
  assert.throws(() => decodeCommand(mutate(4, 0xff)), KvCommandDecodeError);
  assert.throws(() => decodeCommand(mutate(10, 0xff)), /not a safe integer/);
});

Deno.test("command decode never crashes on random garbage (seeded)", () => {
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let i = 0; i < 5000; i++) {
    const len = Math.floor(rand() * 64);
    const data = new Uint8Array(len);
    for (let j = 0; j < len; j++) data[j] = Math.floor(rand() * 256);
    if (len > 0 && rand() < 0.5) data[0] = 1;
    try {
      const cmd = decodeCommand(data);
      // Whatever decodes must re-encode to the same bytes.
      assert.deepEqual(encodeCommand(cmd), data);
    } catch (e) {
      assert.ok(e instanceof KvCommandDecodeError, String(e));
    }
  }
});
