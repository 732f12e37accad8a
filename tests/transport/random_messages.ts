/** Seeded random raft messages for the transport tests. */

import type { Entry, Message, MessageType, Snapshot } from "../../raft/types.ts";

/** mulberry32: a small seeded generator, so that a failure replays from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomInt(random: () => number, max: number): number {
  return Math.floor(random() * (max + 1));
}

/** Small values mostly, and now and then one near the limits of a varint. */
function randomNumber(random: () => number): number {
  const r = random();
  if (r < 0.3) return randomInt(random, 3);
  if (r < 0.8) return randomInt(random, 100_000);
  if (r < 0.95) return randomInt(random, 2 ** 40);
  return Number.MAX_SAFE_INTEGER - randomInt(random, 10);
}

export function randomBytes(random: () => number, max: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(randomInt(random, max));
  for (let i = 0; i < b.length; i++) b[i] = randomInt(random, 255);
  return b;
}

function randomIds(random: () => number): number[] {
  return Array.from({ length: randomInt(random, 4) }, () => randomNumber(random));
}

export function randomMessage(
  random: () => number,
  options: { entriesMax?: number; dataBytesMax?: number } = {},
): Message {
  const entries: Entry[] = [];
  const n = random() < 0.5 ? 0 : randomInt(random, options.entriesMax ?? 8);
  for (let i = 0; i < n; i++) {
    entries.push({
      term: randomNumber(random),
      index: randomNumber(random),
      type: random() < 0.9 ? 0 : 1,
      data: randomBytes(random, options.dataBytesMax ?? 64),
    });
  }
  const m: Message = {
    type: randomInt(random, 18) as MessageType,
    to: randomNumber(random),
    from: randomNumber(random),
    term: randomNumber(random),
    logTerm: randomNumber(random),
    index: randomNumber(random),
    entries,
    commit: randomNumber(random),
    reject: random() < 0.5,
    rejectHint: randomNumber(random),
    context: random() < 0.7 ? new Uint8Array(0) : randomBytes(random, 16),
  };
  if (random() < 0.2) {
    const snapshot: Snapshot = {
      data: randomBytes(random, 256),
      metadata: {
        index: randomNumber(random),
        term: randomNumber(random),
        confState: {
          voters: randomIds(random),
          learners: randomIds(random),
          votersOutgoing: randomIds(random),
          learnersNext: randomIds(random),
          autoLeave: random() < 0.5,
        },
      },
    };
    m.snapshot = snapshot;
  }
  return m;
}
