/** The entries the crash test's child writes: data derived from the index, so it can be checked. */
import type { Entry } from "../../../raft/types.ts";
import { entryData } from "../helpers.ts";

export const CRASH_SEGMENT_BYTES_MAX = 256 * 1024;

export function crashEntry(index: number): Entry {
  return { index, term: 1, type: 0, data: entryData(index, 1, 10 + ((index * 37) % 3000)) };
}
