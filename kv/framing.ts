/**
 * The framing a store image (store.ts) and a change set (changes.ts) share: a u32 magic, a u8
 * version, a fixed header, the body, and a CRC-32 (zlib) of every byte before the last four.
 */
import { crc32 } from "node:zlib";

/**
 * Checks length, magic, version and CRC; `fail` throws the caller's named error. Returns a view
 * of `data` and the offset of the CRC (the end of the body).
 */
export function checkFrame(
  data: Uint8Array,
  frame: { magic: number; version: number; headerBytes: number },
  fail: (why: string) => never,
): { view: DataView; end: number } {
  if (data.length < frame.headerBytes + 4) fail("shorter than its header");
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (view.getUint32(0) !== frame.magic) fail("bad magic");
  if (data[4] !== frame.version) fail(`unknown version ${data[4]}`);
  const end = data.length - 4;
  const stored = view.getUint32(end);
  const actual = crc32(data.subarray(0, end));
  if (stored !== actual) fail(`CRC mismatch (stored ${stored}, computed ${actual})`);
  return { view, end };
}
