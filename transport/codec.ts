/**
 * Binary encoding of raft messages for the wire.
 *
 * All integers are unsigned LEB128 varints (at most 8 bytes, values up to 2^53 - 1) unless noted.
 * Byte strings are a varint length followed by the bytes.
 *
 * Message (version 1):
 *   u8 version (= 1) | u8 type | u8 flags (bit 0 reject, bit 1 snapshot present)
 *   to | from | term | logTerm | index | commit | rejectHint
 *   context: bytes
 *   entryCount, then per entry: term | index | u8 type | data: bytes
 *   if flags bit 1, the snapshot: index | term | voters | learners | votersOutgoing |
 *     learnersNext (each a count then ids) | u8 autoLeave | data: bytes
 *   The snapshot data comes last so that a sender can stream it after the head
 *   (see `encodeMessageParts`).
 *
 * Batch (version 1): u8 version (= 1) | messageCount | per message: length | message bytes.
 *
 * Decoding checks every length against the bytes that remain and against stated limits before it
 * allocates anything, and throws `MessageDecodeError` for any malformed input. Decoded `data` and
 * `context` fields are views into the input buffer (no copy): the caller must not reuse it.
 */

import { SlabAllocator } from "../bytes/mod.ts";
import { type Entry, type Message, MessageType, type Snapshot } from "../raft/types.ts";

export const WIRE_VERSION = 1;

/** Default limits of the decoder; every one bounds memory the decoder may allocate. */
export const MESSAGE_BYTES_MAX = 64 * 1024 * 1024;
export const ENTRIES_PER_MESSAGE_MAX = 1 << 17;
/** Across a whole batch: each decoded entry costs an object, so bytes alone do not bound memory. */
export const ENTRIES_PER_BATCH_MAX = 1 << 18;
export const BATCH_MESSAGES_MAX = 1 << 16;
export const CONF_STATE_IDS_MAX = 1 << 16;

const FLAG_REJECT = 1;
const FLAG_SNAPSHOT = 2;
const FLAGS_KNOWN = FLAG_REJECT | FLAG_SNAPSHOT;
const MESSAGE_TYPE_MAX = MessageType.MsgPreVoteResp;
const ENTRY_TYPE_MAX = 1;
const VARINT_BYTES_MAX = 8;
/** Smallest possible encodings, used to reject counts the remaining bytes cannot hold. */
const ENTRY_BYTES_MIN = 4;
const MESSAGE_BYTES_MIN = 12;

/** Malformed bytes from the network: the request is refused, the node carries on. */
export class MessageDecodeError extends Error {
  override name = "MessageDecodeError";
}

export interface DecodeOptions {
  /** Largest encoded message accepted (default 64 MiB). */
  messageBytesMax?: number;
  entriesPerMessageMax?: number;
  entriesPerBatchMax?: number;
  batchMessagesMax?: number;
}

// ---------------------------------------------------------------------------------------------
// Sizes

function varintSize(v: number): number {
  if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v))) {
    throw new RangeError(`Cannot encode raft message: ${v} is not a non-negative safe integer`);
  }
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let n = 4;
  let rest = Math.floor(v / 0x10000000);
  while (rest > 0) {
    n++;
    rest = Math.floor(rest / 0x80);
  }
  return n;
}

function bytesSize(b: Uint8Array): number {
  return varintSize(b.length) + b.length;
}

function idsSize(ids: number[]): number {
  let n = varintSize(ids.length);
  for (const id of ids) n += varintSize(id);
  return n;
}

function entrySize(e: Entry): number {
  return varintSize(e.term) + varintSize(e.index) + 1 + bytesSize(e.data);
}

/** How much `encodedMessageSize(m)` grows when `more` is appended to `m.entries`. */
export function appendedEntriesSize(m: Message, more: readonly Entry[]): number {
  let n = varintSize(m.entries.length + more.length) - varintSize(m.entries.length);
  for (const e of more) n += entrySize(e);
  return n;
}

/** Encoded size of everything but the snapshot data bytes themselves. */
function headSize(m: Message): number {
  let n = 3 + varintSize(m.to) + varintSize(m.from) + varintSize(m.term) +
    varintSize(m.logTerm) + varintSize(m.index) + varintSize(m.commit) +
    varintSize(m.rejectHint) + bytesSize(m.context) + varintSize(m.entries.length);
  for (const e of m.entries) n += entrySize(e);
  const s = m.snapshot;
  if (s !== undefined) {
    const cs = s.metadata.confState;
    n += varintSize(s.metadata.index) + varintSize(s.metadata.term) + idsSize(cs.voters) +
      idsSize(cs.learners) + idsSize(cs.votersOutgoing) + idsSize(cs.learnersNext) + 1 +
      varintSize(s.data.length);
  }
  return n;
}

/** The exact number of bytes `encodeMessage(m)` produces. Throws RangeError on invalid fields. */
export function encodedMessageSize(m: Message): number {
  return headSize(m) + (m.snapshot?.data.length ?? 0);
}

// ---------------------------------------------------------------------------------------------
// Encoding

class Writer {
  pos: number;
  constructor(readonly buf: Uint8Array, pos: number) {
    this.pos = pos;
  }

  u8(v: number): void {
    this.buf[this.pos++] = v;
  }

  varint(v: number): void {
    const buf = this.buf;
    while (v >= 0x80) {
      buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    buf[this.pos++] = v;
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  ids(ids: number[]): void {
    this.varint(ids.length);
    for (const id of ids) this.varint(id);
  }
}

/** Writes everything but the snapshot data (whose length it does write). */
function writeHead(w: Writer, m: Message): void {
  w.u8(WIRE_VERSION);
  w.u8(m.type);
  w.u8((m.reject ? FLAG_REJECT : 0) | (m.snapshot !== undefined ? FLAG_SNAPSHOT : 0));
  w.varint(m.to);
  w.varint(m.from);
  w.varint(m.term);
  w.varint(m.logTerm);
  w.varint(m.index);
  w.varint(m.commit);
  w.varint(m.rejectHint);
  w.bytes(m.context);
  w.varint(m.entries.length);
  for (const e of m.entries) {
    w.varint(e.term);
    w.varint(e.index);
    w.u8(e.type);
    w.bytes(e.data);
  }
  const s = m.snapshot;
  if (s !== undefined) {
    const cs = s.metadata.confState;
    w.varint(s.metadata.index);
    w.varint(s.metadata.term);
    w.ids(cs.voters);
    w.ids(cs.learners);
    w.ids(cs.votersOutgoing);
    w.ids(cs.learnersNext);
    w.u8(cs.autoLeave ? 1 : 0);
    w.varint(s.data.length);
  }
}

function checkEncodable(m: Message): void {
  if (!(m.type >= 0 && m.type <= MESSAGE_TYPE_MAX && Number.isInteger(m.type))) {
    throw new RangeError(`Cannot encode raft message: unknown type ${m.type}`);
  }
  for (const e of m.entries) {
    if (e.type !== 0 && e.type !== 1) {
      throw new RangeError(`Cannot encode raft entry ${e.index}: unknown type ${e.type}`);
    }
  }
}

function writeMessage(w: Writer, m: Message, size: number): void {
  const start = w.pos;
  writeHead(w, m);
  if (m.snapshot !== undefined) {
    w.buf.set(m.snapshot.data, w.pos);
    w.pos += m.snapshot.data.length;
  }
  if (w.pos - start !== size) {
    throw new Error(`Encoded raft message is ${w.pos - start} bytes, expected ${size}`);
  }
}

/** Encodes one message into a buffer of exactly its size. */
export function encodeMessage(m: Message): Uint8Array<ArrayBuffer> {
  checkEncodable(m);
  const size = encodedMessageSize(m);
  const buf = new Uint8Array(size);
  const w = new Writer(buf, 0);
  writeMessage(w, m, size);
  return buf;
}

/**
 * Encodes one message as two parts whose concatenation equals `encodeMessage(m)`: the head and the
 * snapshot data (empty without a snapshot), so that a large snapshot is sent without a copy.
 */
export function encodeMessageParts(m: Message): [Uint8Array, Uint8Array] {
  checkEncodable(m);
  const head = new Uint8Array(headSize(m));
  const w = new Writer(head, 0);
  writeHead(w, m);
  if (w.pos !== head.length) {
    throw new Error(`Encoded raft message head is ${w.pos} bytes, expected ${head.length}`);
  }
  return [head, m.snapshot?.data ?? new Uint8Array(0)];
}

/** The size of `encodeBatch(messages)` given each message's encoded size. */
export function encodedBatchSize(sizes: readonly number[]): number {
  let n = 1 + varintSize(sizes.length);
  for (const s of sizes) n += varintSize(s) + s;
  return n;
}

/** Batches are carved from a shared slab (one allocation per 64 KiB, not per batch). */
const slabs = new SlabAllocator();

/**
 * Encodes messages as one batch into a single buffer (a view: mind its `byteOffset`). `sizes`
 * (from `encodedMessageSize`) may be passed when the caller already computed them.
 */
export function encodeBatch(
  messages: readonly Message[],
  sizes?: readonly number[],
): Uint8Array<ArrayBuffer> {
  if (sizes !== undefined && sizes.length !== messages.length) {
    throw new RangeError(`Got ${sizes.length} sizes for ${messages.length} messages`);
  }
  for (const m of messages) checkEncodable(m);
  const s = sizes ?? messages.map(encodedMessageSize);
  const buf = slabs.allocate(encodedBatchSize(s));
  const w = new Writer(buf, 0);
  w.u8(WIRE_VERSION);
  w.varint(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const size = s[i]!;
    w.varint(size);
    writeMessage(w, messages[i]!, size);
  }
  if (w.pos !== buf.length) {
    throw new Error(`Encoded raft batch is ${w.pos} bytes, expected ${buf.length}`);
  }
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Decoding

interface Limits {
  messageBytesMax: number;
  entriesPerMessageMax: number;
  entriesPerBatchMax: number;
  batchMessagesMax: number;
}

function limitsOf(options: DecodeOptions | undefined): Limits {
  return {
    messageBytesMax: options?.messageBytesMax ?? MESSAGE_BYTES_MAX,
    entriesPerMessageMax: options?.entriesPerMessageMax ?? ENTRIES_PER_MESSAGE_MAX,
    entriesPerBatchMax: options?.entriesPerBatchMax ?? ENTRIES_PER_BATCH_MAX,
    batchMessagesMax: options?.batchMessagesMax ?? BATCH_MESSAGES_MAX,
  };
}

class Reader {
  pos: number;
  /** Entries this reader may still decode (shared across a batch). */
  entriesBudget: number;

  constructor(readonly buf: Uint8Array, pos: number, readonly end: number, entriesBudget: number) {
    this.pos = pos;
    this.entriesBudget = entriesBudget;
  }

  fail(what: string): never {
    throw new MessageDecodeError(`Cannot decode raft message: ${what} at byte ${this.pos}`);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(what: string): number {
    if (this.pos >= this.end) this.fail(`truncated before ${what}`);
    return this.buf[this.pos++]!;
  }

  varint(what: string): number {
    const buf = this.buf;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < VARINT_BYTES_MAX; i++) {
      if (this.pos >= this.end) this.fail(`truncated inside ${what}`);
      const b = buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) this.fail(`${what} exceeds 2^53 - 1`);
        if (b === 0 && i > 0) this.fail(`${what} is not minimally encoded`);
        return result;
      }
      scale *= 0x80;
    }
    return this.fail(`${what} is longer than ${VARINT_BYTES_MAX} bytes`);
  }

  /** A count of items of at least `itemBytesMin` bytes each, at most `max`. */
  count(what: string, max: number, itemBytesMin: number): number {
    const n = this.varint(what);
    if (n > max) this.fail(`${what} ${n} exceeds the limit of ${max}`);
    if (n * itemBytesMin > this.remaining) {
      this.fail(`${what} ${n} cannot fit in the ${this.remaining} remaining bytes`);
    }
    return n;
  }

  /** `what` names the field in errors; with `entry >= 0` it is that entry's data. */
  bytes(what: string, entry = -1): Uint8Array {
    const start = this.pos;
    const buf = this.buf;
    let n: number;
    if (start < this.end && buf[start]! < 0x80) {
      // A length under 128, the usual case: one byte (names are built only on failure).
      n = buf[start]!;
      this.pos = start + 1;
    } else {
      n = this.varint(`${entry < 0 ? what : `entry ${entry} data`} length`);
    }
    if (n > this.remaining) {
      const name = entry < 0 ? what : `entry ${entry} data`;
      this.fail(`${name} length ${n} exceeds the ${this.remaining} remaining bytes`);
    }
    const b = buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  ids(what: string): number[] {
    const n = this.count(`${what} count`, CONF_STATE_IDS_MAX, 1);
    const ids = new Array<number>(n);
    for (let i = 0; i < n; i++) ids[i] = this.varint(what);
    return ids;
  }
}

function readMessage(r: Reader, limits: Limits): Message {
  const version = r.u8("version");
  if (version !== WIRE_VERSION) r.fail(`unsupported version ${version} (expected ${WIRE_VERSION})`);
  const type = r.u8("type");
  if (type > MESSAGE_TYPE_MAX) r.fail(`unknown message type ${type}`);
  const flags = r.u8("flags");
  if ((flags & ~FLAGS_KNOWN) !== 0) r.fail(`unknown flags 0x${flags.toString(16)}`);
  const to = r.varint("to");
  const from = r.varint("from");
  const term = r.varint("term");
  const logTerm = r.varint("logTerm");
  const index = r.varint("index");
  const commit = r.varint("commit");
  const rejectHint = r.varint("rejectHint");
  const context = r.bytes("context");
  const max = Math.min(limits.entriesPerMessageMax, r.entriesBudget);
  const entryCount = r.count("entry count", max, ENTRY_BYTES_MIN);
  r.entriesBudget -= entryCount;
  const entries = new Array<Entry>(entryCount);
  for (let i = 0; i < entryCount; i++) {
    const eTerm = r.varint("entry term");
    const eIndex = r.varint("entry index");
    const eType = r.u8("entry type");
    if (eType > ENTRY_TYPE_MAX) r.fail(`entry ${i} has unknown type ${eType}`);
    const data = r.bytes("entry data", i);
    entries[i] = { term: eTerm, index: eIndex, type: eType as Entry["type"], data };
  }
  const m: Message = {
    type: type as MessageType,
    to,
    from,
    term,
    logTerm,
    index,
    entries,
    commit,
    reject: (flags & FLAG_REJECT) !== 0,
    rejectHint,
    context,
  };
  if ((flags & FLAG_SNAPSHOT) !== 0) m.snapshot = readSnapshot(r);
  return m;
}

function readSnapshot(r: Reader): Snapshot {
  const index = r.varint("snapshot index");
  const term = r.varint("snapshot term");
  const voters = r.ids("voter");
  const learners = r.ids("learner");
  const votersOutgoing = r.ids("outgoing voter");
  const learnersNext = r.ids("next learner");
  const autoLeave = r.u8("autoLeave");
  if (autoLeave > 1) r.fail(`autoLeave is ${autoLeave}, not 0 or 1`);
  const data = r.bytes("snapshot data");
  return {
    data,
    metadata: {
      index,
      term,
      confState: { voters, learners, votersOutgoing, learnersNext, autoLeave: autoLeave === 1 },
    },
  };
}

/** Decodes one message that fills `b` exactly. Throws MessageDecodeError on malformed input. */
export function decodeMessage(b: Uint8Array, options?: DecodeOptions): Message {
  const limits = limitsOf(options);
  if (b.length > limits.messageBytesMax) {
    throw new MessageDecodeError(
      `Cannot decode raft message: ${b.length} bytes exceed the limit of ${limits.messageBytesMax}`,
    );
  }
  const r = new Reader(b, 0, b.length, limits.entriesPerBatchMax);
  const m = readMessage(r, limits);
  if (r.pos !== b.length) r.fail(`${b.length - r.pos} trailing bytes`);
  return m;
}

/** Decodes a batch made by `encodeBatch`. Throws MessageDecodeError on malformed input. */
export function decodeBatch(b: Uint8Array, options?: DecodeOptions): Message[] {
  const limits = limitsOf(options);
  const r = new Reader(b, 0, b.length, limits.entriesPerBatchMax);
  const version = r.u8("batch version");
  if (version !== WIRE_VERSION) {
    r.fail(`unsupported batch version ${version} (expected ${WIRE_VERSION})`);
  }
  const n = r.count("batch message count", limits.batchMessagesMax, MESSAGE_BYTES_MIN + 1);
  const messages = new Array<Message>(n);
  for (let i = 0; i < n; i++) {
    const size = r.varint(`message ${i} length`);
    if (size > limits.messageBytesMax) {
      r.fail(`message ${i} length ${size} exceeds the limit of ${limits.messageBytesMax}`);
    }
    if (size > r.remaining) {
      r.fail(`message ${i} length ${size} exceeds the ${r.remaining} remaining bytes`);
    }
    const end = r.pos + size;
    const sub = new Reader(b, r.pos, end, r.entriesBudget);
    messages[i] = readMessage(sub, limits);
    if (sub.pos !== end) sub.fail(`message ${i} has ${end - sub.pos} trailing bytes`);
    r.entriesBudget = sub.entriesBudget;
    r.pos = end;
  }
  if (r.pos !== b.length) r.fail(`${b.length - r.pos} trailing bytes after the batch`);
  return messages;
}
