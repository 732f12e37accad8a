import assert from "node:assert/strict";
import {
  decodeBatch,
  decodeMessage,
  encodeBatch,
  encodedMessageSize,
  encodeMessage,
  encodeMessageParts,
  MessageDecodeError,
} from "../../transport/mod.ts";
import type { Message } from "../../raft/types.ts";
import { randomBytes, randomInt, randomMessage, seededRandom } from "./random_messages.ts";

const SEED = 20261126;

function expectDecodeError(f: () => unknown, note: string): void {
  try {
    f();
  } catch (e) {
    if (e instanceof MessageDecodeError) return;
    throw new Error(`${note}: threw ${e} instead of MessageDecodeError`);
  }
  throw new Error(`${note}: decoded without an error`);
}

function emptyMessage(over: Partial<Message> = {}): Message {
  return {
    type: 8,
    to: 2,
    from: 1,
    term: 3,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 7,
    reject: false,
    rejectHint: 0,
    context: new Uint8Array(0),
    ...over,
  };
}

Deno.test("a random message survives encode and decode unchanged", () => {
  const random = seededRandom(SEED);
  for (let i = 0; i < 2000; i++) {
    const m = randomMessage(random);
    const b = encodeMessage(m);
    assert.equal(b.length, encodedMessageSize(m), `seed ${SEED} message ${i}`);
    assert.deepStrictEqual(decodeMessage(b), m, `seed ${SEED} message ${i}`);
  }
});

Deno.test("a random batch survives encode and decode unchanged", () => {
  const random = seededRandom(SEED + 1);
  for (let i = 0; i < 200; i++) {
    const ms = Array.from({ length: randomInt(random, 20) }, () => randomMessage(random));
    assert.deepStrictEqual(decodeBatch(encodeBatch(ms)), ms, `seed ${SEED + 1} batch ${i}`);
  }
});

Deno.test("encodeMessageParts concatenated equals encodeMessage", () => {
  const random = seededRandom(SEED + 2);
  for (let i = 0; i < 300; i++) {
    const m = randomMessage(random);
    const [head, tail] = encodeMessageParts(m);
    const joined = new Uint8Array(head.length + tail.length);
    joined.set(head);
    joined.set(tail, head.length);
    assert.deepStrictEqual(joined, encodeMessage(m));
  }
});

Deno.test("decoded entry data are views into the received buffer, not copies", () => {
  const m = emptyMessage({
    type: 3,
    entries: [{ term: 1, index: 5, type: 0, data: new Uint8Array([1, 2, 3]) }],
  });
  const b = encodeMessage(m);
  const d = decodeMessage(b);
  assert.equal(d.entries[0]!.data.buffer, b.buffer);
});

Deno.test("every truncation of a valid message or batch is rejected with MessageDecodeError", () => {
  const random = seededRandom(SEED + 3);
  for (let i = 0; i < 40; i++) {
    const m = randomMessage(random);
    const b = encodeMessage(m);
    for (let n = 0; n < b.length; n++) {
      expectDecodeError(() => decodeMessage(b.subarray(0, n)), `message ${i} cut at ${n}`);
    }
    const batch = encodeBatch([m, randomMessage(random)]);
    for (let n = 0; n < batch.length; n++) {
      expectDecodeError(() => decodeBatch(batch.subarray(0, n)), `batch ${i} cut at ${n}`);
    }
  }
});

Deno.test("random bytes and mutated encodings never throw anything but MessageDecodeError", () => {
  const random = seededRandom(SEED + 4);
  const attempt = (b: Uint8Array) => {
    for (const decode of [decodeMessage, decodeBatch]) {
      try {
        decode(b);
      } catch (e) {
        if (!(e instanceof MessageDecodeError)) throw e;
      }
    }
  };
  for (let i = 0; i < 5000; i++) {
    const b = randomBytes(random, 200);
    if (b.length > 0 && random() < 0.5) b[0] = 1; // get past the version byte more often
    attempt(b);
  }
  for (let i = 0; i < 3000; i++) {
    const b = random() < 0.5
      ? encodeMessage(randomMessage(random))
      : encodeBatch([randomMessage(random), randomMessage(random)]);
    const flips = 1 + randomInt(random, 3);
    for (let k = 0; k < flips; k++) b[randomInt(random, b.length - 1)] = randomInt(random, 255);
    attempt(b);
  }
});

Deno.test("declared lengths beyond the limits are refused before any allocation", () => {
  // A batch that claims 2^40 messages in 10 bytes.
  expectDecodeError(
    () => decodeBatch(new Uint8Array([1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0, 0, 0])),
    "huge count",
  );
  // A message whose context claims 2^50 bytes.
  const head = [1, 8, 0, 2, 1, 3, 0, 0, 7, 0];
  const hugeLen = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
  expectDecodeError(() => decodeMessage(new Uint8Array([...head, ...hugeLen, 0])), "huge context");
  // Entry count over a small configured limit.
  const many = emptyMessage({
    type: 3,
    entries: Array.from({ length: 10 }, (_, i) => ({
      term: 1,
      index: i + 1,
      type: 0 as const,
      data: new Uint8Array(0),
    })),
  });
  expectDecodeError(
    () => decodeMessage(encodeMessage(many), { entriesPerMessageMax: 9 }),
    "entries over limit",
  );
  expectDecodeError(
    () => decodeBatch(encodeBatch([many, many]), { entriesPerBatchMax: 15 }),
    "entries over batch limit",
  );
  expectDecodeError(
    () => decodeMessage(encodeMessage(many), { messageBytesMax: 10 }),
    "message over byte limit",
  );
  expectDecodeError(
    () => decodeBatch(encodeBatch([many, many, many]), { batchMessagesMax: 2 }),
    "batch over message limit",
  );
});

Deno.test("unknown versions, types, flags and trailing bytes are refused with a clear message", () => {
  const b = encodeMessage(emptyMessage());
  const cases: Array<[number, number, RegExp]> = [
    [0, 2, /unsupported version 2/],
    [1, 200, /unknown message type 200/],
    [2, 0x80, /unknown flags/],
  ];
  for (const [at, value, pattern] of cases) {
    const c = b.slice();
    c[at] = value;
    assert.throws(
      () => decodeMessage(c),
      (e) => e instanceof MessageDecodeError && pattern.test(e.message),
    );
  }
  const longer = new Uint8Array(b.length + 1);
  longer.set(b);
  assert.throws(() => decodeMessage(longer), /1 trailing bytes/);
});

Deno.test("encoding a message with a field that is not a safe integer throws RangeError", () => {
  assert.throws(() => encodeMessage(emptyMessage({ term: -1 })), RangeError);
  assert.throws(() => encodeMessage(emptyMessage({ index: 1.5 })), RangeError);
  assert.throws(() => encodeMessage(emptyMessage({ commit: 2 ** 53 })), RangeError);
  assert.throws(() => encodeMessage(emptyMessage({ type: 99 as never })), RangeError);
});
