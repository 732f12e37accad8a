/** Segment file names: `<seq 16 hex>-<first index 16 hex>.wal`. */

export interface SegmentName {
  seq: number;
  /** The index the segment's first entry was expected to have (last index + 1 when cut). */
  firstIndex: number;
  name: string;
}

const PATTERN = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
export const TMP_SUFFIX = ".tmp";

function hex16(n: number): string {
  return n.toString(16).padStart(16, "0");
}

export function segmentName(seq: number, firstIndex: number): SegmentName {
  return { seq, firstIndex, name: `${hex16(seq)}-${hex16(firstIndex)}.wal` };
}

/** Parses a segment file name; undefined for anything else (foreign files are ignored). */
export function parseSegmentName(name: string): SegmentName | undefined {
  const m = PATTERN.exec(name);
  if (!m) return undefined;
  const seq = parseInt(m[1]!, 16);
  const firstIndex = parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(firstIndex)) return undefined;
  return { seq, firstIndex, name };
}
