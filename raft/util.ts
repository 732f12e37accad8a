/** Small helpers shared by the raft core: assertions, sizes and the default seeded PRNG. */
import type { ConfState, Entry, HardState, SoftState } from "./types.ts";

/** Thrown when an invariant of the raft core does not hold: a bug, never an expected condition. */
export class RaftInvariantError extends Error {
  override name = "RaftInvariantError";
}

/**
 * Crashes on a broken invariant. Pass constant strings on hot paths so that no message is built
 * when the condition holds.
 */
export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new RaftInvariantError(`raft invariant violated: ${message}`);
}

/** Bytes an entry adds to a message besides its payload (term, index, type, length prefix). */
export const ENTRY_OVERHEAD_BYTES = 24;

/** The size of an entry on the wire, used for message and Ready byte limits. */
export function entrySize(e: Entry): number {
  return e.data.byteLength + ENTRY_OVERHEAD_BYTES;
}

/** The payload bytes of entries: what inflight and uncommitted byte limits count (as etcd). */
export function payloadsSize(entries: readonly Entry[]): number {
  let size = 0;
  for (let i = 0; i < entries.length; i++) size += entries[i]!.data.byteLength;
  return size;
}

/**
 * The longest prefix of `entries` whose total size is at most `maxBytes`, but always at least
 * one entry when there is any (a single large entry must still make progress). Returns the same
 * array when nothing is cut, so that no copy is made on the common path.
 */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  if (entries.length <= 1) return entries;
  let size = entrySize(entries[0]!);
  for (let i = 1; i < entries.length; i++) {
    size += entrySize(entries[i]!);
    if (size > maxBytes) return entries.slice(0, i);
  }
  return entries;
}

/**
 * The end (exclusive) of the longest run entries[lo..end) of at most `maxBytes`, and at least one
 * entry (end > lo when lo < hi). Lets callers slice only what they send: no O(n) copy of a long
 * log to keep a few entries.
 */
export function sizeLimitedEnd(
  entries: readonly Entry[],
  lo: number,
  hi: number,
  maxBytes: number,
): number {
  if (hi - lo <= 1) return hi;
  let size = entrySize(entries[lo]!);
  for (let i = lo + 1; i < hi; i++) {
    size += entrySize(entries[i]!);
    if (size > maxBytes) return i;
  }
  return hi;
}

/** mulberry32: a tiny seeded PRNG in [0, 1), so that elections replay exactly from a seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

export function emptyHardState(): HardState {
  return { term: 0, vote: 0, commit: 0 };
}

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === 0 && hs.commit === 0;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function softStateEqual(a: SoftState, b: SoftState): boolean {
  return a.lead === b.lead && a.raftState === b.raftState;
}

export function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A Map key for opaque request contexts (ReadIndex ids are short). */
export function bytesKey(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.byteLength; i++) s += String.fromCharCode(b[i]!);
  return s;
}

export function isSafeIndex(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}
