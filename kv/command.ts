/**
 * The KV command carried in the data of a raft log entry, and its binary codec.
 *
 * Layout (all integers big-endian):
 *
 *   offset size  field
 *   0      1     version (1)
 *   1      1     op: 1 = put, 2 = delete
 *   2      1     condition kind: 0 none, 1 ifMatch revision, 2 ifMatch list, 3 ifMatch "*",
 *                4 ifNoneMatch "*"
 *   3      1     requestId length in bytes (UTF-8), 0..255
 *   4      2     key length, 1..4096
 *   6      4     value length (0 for delete)
 *   10     ...   condition payload: kind 1: u64 revision; kind 2: u16 count (1..64), count x u64
 *          ...   requestId bytes, key bytes, value bytes; nothing after.
 *
 * Revisions are written as u64 but must be safe integers.
 */
import { SlabAllocator } from "../bytes/mod.ts";

export const COMMAND_VERSION = 1;
export const KEY_BYTES_MAX = 4096;
/** A sanity cap for decoding; the REST API enforces its own, smaller, body limit. */
export const COMMAND_VALUE_BYTES_MAX = 64 * 1024 * 1024;
export const REQUEST_ID_BYTES_MAX = 255;
export const IF_MATCH_REVISIONS_MAX = 64;

/**
 * A write condition. `ifMatch`: the key exists with this revision (one of these; any revision for
 * "*"). `ifNoneMatch`: the key is absent.
 */
export type KvCondition =
  | { ifMatch: number | number[] | "*" }
  | { ifNoneMatch: true };

export interface KvCommand {
  /** Lets the proposer match the applied entry to its waiting request. */
  requestId: string;
  op: "put" | "delete";
  key: Uint8Array;
  /** Required for put, absent for delete. */
  value?: Uint8Array;
  condition?: KvCondition;
}

/** The data of an entry is not a valid KV command. */
export class KvCommandDecodeError extends Error {
  override name = "KvCommandDecodeError";
}

const OP_PUT = 1;
const OP_DELETE = 2;
const COND_NONE = 0;
const COND_IF_MATCH = 1;
const COND_IF_MATCH_LIST = 2;
const COND_IF_MATCH_ANY = 3;
const COND_IF_NONE_MATCH = 4;
const HEADER_BYTES = 10;
const TWO_32 = 2 ** 32;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

function checkRevision(revision: number): void {
  if (!Number.isSafeInteger(revision) || revision < 0) {
    throw new RangeError(
      `Cannot encode KV command: revision ${revision} is not a safe integer >= 0`,
    );
  }
}

const NO_REVISIONS: readonly number[] = [];

/** UTF-8 length of `s` if it is ASCII (one byte per char), else -1. */
function asciiLength(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return -1;
  return s.length;
}

/** `data[start, end)` as text when every byte is ASCII (no decoder call), else undefined. */
function asciiText(data: Uint8Array, start: number, end: number): string | undefined {
  for (let i = start; i < end; i++) if (data[i]! > 0x7f) return undefined;
  // One flat string (a waiter table hashes it), at most REQUEST_ID_BYTES_MAX chars.
  return String.fromCharCode.apply(null, data.subarray(start, end) as unknown as number[]);
}

/** Encoded commands are carved from a shared slab (one allocation per 64 KiB, not per write). */
const slabs = new SlabAllocator();

function writeU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = (v >>> 16) & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = v & 0xff;
}

function readU32(data: Uint8Array, at: number): number {
  return ((data[at]! << 24) >>> 0) + (data[at + 1]! << 16) + (data[at + 2]! << 8) + data[at + 3]!;
}

function conditionRevisions(condition: KvCondition | undefined): readonly number[] {
  if (condition === undefined || !("ifMatch" in condition)) return NO_REVISIONS;
  const m = condition.ifMatch;
  if (m === "*") return NO_REVISIONS;
  return typeof m === "number" ? [m] : m;
}

/**
 * Encodes `cmd`; throws RangeError/TypeError when it breaks the limits above. The result may be a
 * view into a larger buffer (mind its `byteOffset`).
 */
export function encodeCommand(cmd: KvCommand): Uint8Array {
  // Request ids are ASCII in practice: written char by char, no encoder call and no copy.
  const asciiIdBytes = asciiLength(cmd.requestId);
  const requestId = asciiIdBytes < 0 ? textEncoder.encode(cmd.requestId) : undefined;
  const requestIdBytes = requestId?.length ?? asciiIdBytes;
  if (requestIdBytes > REQUEST_ID_BYTES_MAX) {
    throw new RangeError(
      `Cannot encode KV command: requestId is ${requestIdBytes} bytes, max ${REQUEST_ID_BYTES_MAX}`,
    );
  }
  if (cmd.key.length < 1 || cmd.key.length > KEY_BYTES_MAX) {
    throw new RangeError(
      `Cannot encode KV command: key is ${cmd.key.length} bytes, must be 1..${KEY_BYTES_MAX}`,
    );
  }
  let op: number;
  let value: Uint8Array;
  if (cmd.op === "put") {
    if (cmd.value === undefined) throw new TypeError("Cannot encode KV command: put without value");
    op = OP_PUT;
    value = cmd.value;
  } else if (cmd.op === "delete") {
    if (cmd.value !== undefined) {
      throw new TypeError("Cannot encode KV command: delete with a value");
    }
    op = OP_DELETE;
    value = new Uint8Array(0);
  } else {
    throw new TypeError(`Cannot encode KV command: unknown op ${String(cmd.op)}`);
  }
  if (value.length > COMMAND_VALUE_BYTES_MAX) {
    throw new RangeError(
      `Cannot encode KV command: value is ${value.length} bytes, max ${COMMAND_VALUE_BYTES_MAX}`,
    );
  }
  const c = cmd.condition;
  let kind = COND_NONE;
  let condBytes = 0;
  const revisions = conditionRevisions(c);
  if (c !== undefined) {
    if ("ifNoneMatch" in c) {
      kind = COND_IF_NONE_MATCH;
    } else if (c.ifMatch === "*") {
      kind = COND_IF_MATCH_ANY;
    } else if (typeof c.ifMatch === "number") {
      kind = COND_IF_MATCH;
      condBytes = 8;
    } else {
      if (revisions.length < 1 || revisions.length > IF_MATCH_REVISIONS_MAX) {
        throw new RangeError(
          `Cannot encode KV command: ifMatch list has ${revisions.length} revisions, must be 1..${IF_MATCH_REVISIONS_MAX}`,
        );
      }
      kind = COND_IF_MATCH_LIST;
      condBytes = 2 + 8 * revisions.length;
    }
  }
  for (const r of revisions) checkRevision(r);

  const total = HEADER_BYTES + condBytes + requestIdBytes + cmd.key.length + value.length;
  const out = slabs.allocate(total);
  out[0] = COMMAND_VERSION;
  out[1] = op;
  out[2] = kind;
  out[3] = requestIdBytes;
  out[4] = cmd.key.length >>> 8;
  out[5] = cmd.key.length & 0xff;
  writeU32(out, 6, value.length);
  let at = HEADER_BYTES;
  if (kind === COND_IF_MATCH_LIST) {
    out[at] = revisions.length >>> 8;
    out[at + 1] = revisions.length & 0xff;
    at += 2;
  }
  for (const r of revisions) {
    writeU32(out, at, Math.floor(r / TWO_32));
    writeU32(out, at + 4, r % TWO_32);
    at += 8;
  }
  if (requestId === undefined) {
    const id = cmd.requestId;
    for (let i = 0; i < requestIdBytes; i++) out[at + i] = id.charCodeAt(i);
  } else {
    out.set(requestId, at);
  }
  at += requestIdBytes;
  out.set(cmd.key, at);
  at += cmd.key.length;
  out.set(value, at);
  at += value.length;
  if (at !== total) throw new Error(`Invariant: encoded ${at} bytes of ${total}`);
  return out;
}

function fail(data: Uint8Array, why: string): never {
  throw new KvCommandDecodeError(`Cannot decode KV command of ${data.length} bytes: ${why}`);
}

/**
 * Decodes and validates an encoded command. Throws `KvCommandDecodeError` on any malformed input.
 * The key and value returned are views into `data` (no copies: `KvStore.apply` copies what it
 * keeps), so `data` must not be modified while the command is in use.
 */
export function decodeCommand(data: Uint8Array): KvCommand {
  if (!(data instanceof Uint8Array)) {
    throw new KvCommandDecodeError("Cannot decode KV command: data is not a Uint8Array");
  }
  if (data.length < HEADER_BYTES) fail(data, `shorter than the ${HEADER_BYTES}-byte header`);
  const version = data[0]!;
  if (version !== COMMAND_VERSION) fail(data, `unknown version ${version}`);
  const opByte = data[1]!;
  if (opByte !== OP_PUT && opByte !== OP_DELETE) fail(data, `unknown op ${opByte}`);
  const kind = data[2]!;
  const requestIdBytes = data[3]!;
  const keyBytes = (data[4]! << 8) | data[5]!;
  const valueBytes = readU32(data, 6);
  if (keyBytes < 1 || keyBytes > KEY_BYTES_MAX) {
    fail(data, `key length ${keyBytes} is not in 1..${KEY_BYTES_MAX}`);
  }
  if (opByte === OP_DELETE && valueBytes !== 0) {
    fail(data, `delete with a ${valueBytes}-byte value`);
  }
  if (valueBytes > COMMAND_VALUE_BYTES_MAX) {
    fail(data, `value length ${valueBytes} is over ${COMMAND_VALUE_BYTES_MAX}`);
  }
  let at = HEADER_BYTES;
  const readRevision = (): number => {
    if (at + 8 > data.length) fail(data, `truncated revision at byte ${at}`);
    const hi = readU32(data, at);
    const lo = readU32(data, at + 4);
    if (hi >= 2 ** 21) fail(data, `revision at byte ${at} is not a safe integer`);
    at += 8;
    return hi * TWO_32 + lo;
  };
  let condition: KvCondition | undefined;
  switch (kind) {
    case COND_NONE:
      break;
    case COND_IF_MATCH:
      condition = { ifMatch: readRevision() };
      break;
    case COND_IF_MATCH_LIST: {
      if (at + 2 > data.length) fail(data, "truncated ifMatch list");
      const count = (data[at]! << 8) | data[at + 1]!;
      at += 2;
      if (count < 1 || count > IF_MATCH_REVISIONS_MAX) {
        fail(data, `ifMatch list of ${count} revisions, must be 1..${IF_MATCH_REVISIONS_MAX}`);
      }
      const list: number[] = [];
      for (let i = 0; i < count; i++) list.push(readRevision());
      condition = { ifMatch: list };
      break;
    }
    case COND_IF_MATCH_ANY:
      condition = { ifMatch: "*" };
      break;
    case COND_IF_NONE_MATCH:
      condition = { ifNoneMatch: true };
      break;
    default:
      fail(data, `unknown condition kind ${kind}`);
  }
  const expected = at + requestIdBytes + keyBytes + valueBytes;
  if (expected !== data.length) {
    fail(data, `lengths in the header add up to ${expected} bytes`);
  }
  let requestId = asciiText(data, at, at + requestIdBytes);
  if (requestId === undefined) {
    try {
      requestId = textDecoder.decode(data.subarray(at, at + requestIdBytes));
    } catch {
      fail(data, "requestId is not valid UTF-8");
    }
  }
  at += requestIdBytes;
  const key = data.subarray(at, at + keyBytes);
  at += keyBytes;
  const cmd: KvCommand = {
    requestId,
    op: opByte === OP_PUT ? "put" : "delete",
    key,
  };
  if (opByte === OP_PUT) cmd.value = data.subarray(at, at + valueBytes);
  if (condition !== undefined) cmd.condition = condition;
  return cmd;
}
