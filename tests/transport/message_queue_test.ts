import assert from "node:assert/strict";
import { silentLogger } from "../../raft/logger.ts";
import { type Entry, EntryType, type Message, MessageType } from "../../raft/types.ts";
import { decodeBatch, encodeBatch, encodedMessageSize } from "../../transport/codec.ts";
import { MessageQueue } from "../../transport/message_queue.ts";
import { msg } from "../raft/network.ts";
import { randomBytes, randomInt, seededRandom } from "./random_messages.ts";

const LIMITS = { queueMessagesMax: 64, queueBytesMax: 1 << 20, batchBytesMax: 1 << 20 };

function message(type: MessageType, fields: Partial<Message> = {}): Message {
  return msg({ type, from: 1, to: 2, ...fields });
}

function entry(data: Uint8Array, type: EntryType = EntryType.Normal): Entry {
  return { term: 0, index: 0, type, data };
}

function proposal(...data: number[]): Message {
  return message(MessageType.MsgProp, { entries: data.map((d) => entry(new Uint8Array([d]))) });
}

Deno.test("forwarded proposals queued back to back become one message, whose size stays exact", () => {
  const queue = new MessageQueue(LIMITS);
  const first = proposal(0);
  assert.ok(queue.push(first, 2, silentLogger));
  assert.ok(queue.push(proposal(1, 2), 2, silentLogger));
  assert.ok(queue.push(proposal(3), 2, silentLogger));
  assert.equal(queue.length, 1);
  assert.equal(first.entries.length, 1, "the message raft handed over keeps its own entries");

  const [only] = queue.takeBatch();
  assert.deepStrictEqual(only!.message.entries.map((e) => e.data[0]), [0, 1, 2, 3]);
  assert.equal(only!.bytes, encodedMessageSize(only!.message));
  assert.equal(queue.length, 0);

  // Past 127 entries the entry count takes a second byte.
  for (let n = 0; n < 200; n++) assert.ok(queue.push(proposal(n), 2, silentLogger));
  const [large] = queue.takeBatch();
  assert.equal(large!.message.entries.length, 200);
  assert.equal(large!.bytes, encodedMessageSize(large!.message));

  // A proposal queued after the take starts a new message.
  assert.ok(queue.push(proposal(4), 2, silentLogger));
  assert.equal(queue.takeBatch()[0]!.message.entries.length, 1);
});

Deno.test("proposals do not merge across another message, another leader or another term", () => {
  const queue = new MessageQueue(LIMITS);
  const pushed = [
    proposal(0),
    message(MessageType.MsgAppResp, { term: 3, index: 7 }),
    proposal(1),
    { ...proposal(2), to: 3 },
    { ...proposal(3), to: 3, term: 1 },
    message(MessageType.MsgReadIndex, { entries: [entry(new Uint8Array([9]))] }),
    message(MessageType.MsgReadIndex, { entries: [entry(new Uint8Array([8]))] }),
  ];
  for (const m of pushed) assert.ok(queue.push(m, 2, silentLogger));
  assert.equal(queue.length, pushed.length);
  assert.deepStrictEqual(queue.takeBatch().map((q) => q.message), pushed);
});

Deno.test("a merge that would pass the queue's byte limit is refused like any message", () => {
  const one = encodedMessageSize(proposal(0));
  const queue = new MessageQueue({ ...LIMITS, queueBytesMax: one + 3 });
  assert.ok(queue.push(proposal(0), 2, silentLogger));
  assert.equal(queue.push(proposal(1), 2, silentLogger), false);
  assert.equal(queue.length, 1);
  const [only] = queue.takeBatch();
  assert.equal(only!.message.entries.length, 1);
});

Deno.test("random proposal runs: the entries arrive in order, and every queued size is exact (seeded)", () => {
  for (let seed = 1; seed <= 50; seed++) {
    const random = seededRandom(seed);
    const queue = new MessageQueue(LIMITS);
    const sent: Uint8Array[] = [];
    const received: Uint8Array[] = [];
    const drain = () => {
      const batch = queue.takeBatch();
      for (const q of batch) assert.equal(q.bytes, encodedMessageSize(q.message), `seed ${seed}`);
      const bytes = encodeBatch(batch.map((q) => q.message), batch.map((q) => q.bytes));
      for (const m of decodeBatch(bytes)) {
        if (m.type === MessageType.MsgProp) received.push(...m.entries.map((e) => e.data));
      }
    };
    for (let step = 0; step < 200; step++) {
      const r = random();
      if (r < 0.7) {
        const entries = Array.from(
          { length: 1 + randomInt(random, 3) },
          () =>
            entry(
              randomBytes(random, 300),
              random() < 0.1 ? EntryType.ConfChange : EntryType.Normal,
            ),
        );
        sent.push(...entries.map((e) => e.data));
        assert.ok(queue.push(message(MessageType.MsgProp, { entries }), 2, silentLogger));
      } else if (r < 0.85) {
        assert.ok(queue.push(message(MessageType.MsgHeartbeatResp, { term: 2 }), 2, silentLogger));
      } else if (queue.length > 0) {
        drain();
      }
    }
    while (queue.length > 0) drain();
    assert.deepStrictEqual(received, sent, `seed ${seed}`);
  }
});
