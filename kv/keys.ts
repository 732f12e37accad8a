/**
 * Keys as latin1 "binary strings": one char (0..255) per byte. JS compares strings by UTF-16 code
 * unit, so comparing these strings is comparing the bytes, and V8 stores them one byte per char.
 */

/** Bytes to a binary string. */
export function bytesToBinary(bytes: Uint8Array): string {
  if (bytes.length <= 8192) {
    return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192) as unknown as number[]);
  }
  return s;
}

const encoder = new TextEncoder();

/**
 * Writes binary string `s` into `out` at `at`; returns `s.length`. An ASCII string goes through
 * the native UTF-8 encoder (same bytes), others through a char loop.
 */
export function writeBinary(out: Uint8Array, s: string, at: number): number {
  if (s.length > 32) {
    const r = encoder.encodeInto(s, out.subarray(at, at + s.length));
    if (r.read === s.length && r.written === s.length) return s.length;
  }
  for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i);
  return s.length;
}

/** A binary string back to bytes. Chars above 255 are a programmer error. */
export function binaryToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) throw new RangeError(`Not a binary string: char ${c} at ${i}`);
    out[i] = c;
  }
  return out;
}
