/**
 * The binary encoding of a ConfChange, the payload of EntryType.ConfChange entries.
 *
 *   byte 0      version (1)
 *   byte 1      transition (0 auto, 1 joint implicit, 2 joint explicit)
 *   varint      number of changes (at most MAX_CHANGES)
 *   per change: byte type (0 add, 1 remove, 2 add learner), varint node id
 *   varint      context length (at most MAX_CONTEXT_BYTES), then the context bytes
 *
 * Varints are unsigned LEB128 of safe integers (at most 8 bytes). Decoding validates every field
 * and that the input is consumed exactly: garbage throws a TypeError/RangeError, never a crash.
 */
import type {
  ConfChange,
  ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
} from "./types.ts";
import { assert } from "./util.ts";

export const CONF_CHANGE_CODEC_VERSION = 1;
/** Bound on the changes of one ConfChange: memberships are small. */
export const MAX_CHANGES = 1024;
/** Bound on the opaque context (raftkv stores a peer URL there). */
export const MAX_CONTEXT_BYTES = 64 * 1024;
const MAX_VARINT_BYTES = 8;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

export function encodeConfChange(cc: ConfChange): Uint8Array {
  if (cc.changes.length > MAX_CHANGES) {
    throw new RangeError(
      `Cannot encode ConfChange: ${cc.changes.length} changes exceed the limit of ${MAX_CHANGES}`,
    );
  }
  if (cc.context.byteLength > MAX_CONTEXT_BYTES) {
    throw new RangeError(
      `Cannot encode ConfChange: context of ${cc.context.byteLength} bytes exceeds ${MAX_CONTEXT_BYTES}`,
    );
  }
  let size = 2 + varintSize(cc.changes.length);
  for (const ch of cc.changes) {
    if (!Number.isSafeInteger(ch.nodeId) || ch.nodeId < 0) {
      throw new RangeError(`Cannot encode ConfChange: node id ${ch.nodeId} is not a safe integer`);
    }
    size += 1 + varintSize(ch.nodeId);
  }
  size += varintSize(cc.context.byteLength) + cc.context.byteLength;
  const buf = new Uint8Array(size);
  let pos = 0;
  buf[pos++] = CONF_CHANGE_CODEC_VERSION;
  buf[pos++] = cc.transition;
  pos = writeVarint(buf, pos, cc.changes.length);
  for (const ch of cc.changes) {
    buf[pos++] = ch.type;
    pos = writeVarint(buf, pos, ch.nodeId);
  }
  pos = writeVarint(buf, pos, cc.context.byteLength);
  buf.set(cc.context, pos);
  pos += cc.context.byteLength;
  assert(pos === size, "encoded ConfChange fills its buffer exactly");
  return buf;
}

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  byte(what: string): number {
    if (this.pos >= this.buf.byteLength) {
      throw new RangeError(`Cannot decode ConfChange: truncated ${what} at byte ${this.pos}`);
    }
    return this.buf[this.pos++]!;
  }

  varint(what: string): number {
    let n = 0;
    let mul = 1;
    for (let k = 0; k < MAX_VARINT_BYTES; k++) {
      const b = this.byte(what);
      n += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        // One encoding per value: a multi-byte varint never ends with a zero byte.
        if (b === 0 && k > 0) {
          throw new RangeError(
            `Cannot decode ConfChange: non-canonical ${what} at byte ${this.pos - 1}`,
          );
        }
        if (!Number.isSafeInteger(n)) {
          throw new RangeError(
            `Cannot decode ConfChange: ${what} is not a safe integer at byte ${this.pos}`,
          );
        }
        return n;
      }
      mul *= 128;
    }
    throw new RangeError(`Cannot decode ConfChange: ${what} varint too long at byte ${this.pos}`);
  }
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (!(data instanceof Uint8Array)) {
    throw new TypeError("Cannot decode ConfChange: input is not a Uint8Array");
  }
  const r = new Reader(data);
  const version = r.byte("version");
  if (version !== CONF_CHANGE_CODEC_VERSION) {
    throw new RangeError(`Cannot decode ConfChange: unknown version ${version} at byte 0`);
  }
  const transition = r.byte("transition");
  if (transition > 2) {
    throw new RangeError(`Cannot decode ConfChange: unknown transition ${transition} at byte 1`);
  }
  const count = r.varint("change count");
  if (count > MAX_CHANGES) {
    throw new RangeError(
      `Cannot decode ConfChange: ${count} changes exceed the limit of ${MAX_CHANGES}`,
    );
  }
  const changes: ConfChangeSingle[] = [];
  for (let k = 0; k < count; k++) {
    const at = r.pos;
    const type = r.byte("change type");
    if (type > 2) {
      throw new RangeError(`Cannot decode ConfChange: unknown change type ${type} at byte ${at}`);
    }
    const nodeId = r.varint("node id");
    changes.push({ type: type as ConfChangeType, nodeId });
  }
  const contextBytes = r.varint("context length");
  if (contextBytes > MAX_CONTEXT_BYTES || r.pos + contextBytes > data.byteLength) {
    throw new RangeError(
      `Cannot decode ConfChange: context length ${contextBytes} exceeds the input at byte ${r.pos}`,
    );
  }
  const context = data.slice(r.pos, r.pos + contextBytes);
  r.pos += contextBytes;
  if (r.pos !== data.byteLength) {
    throw new RangeError(
      `Cannot decode ConfChange: ${data.byteLength - r.pos} trailing bytes at byte ${r.pos}`,
    );
  }
  return { transition: transition as ConfChangeTransition, changes, context };
}
