/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven, slicing-by-16.
 * `node:zlib`'s crc32 is the IEEE polynomial, which is why this exists. `crc32c(data, prev)`
 * continues a CRC, so `crc32c(b, crc32c(a)) === crc32c(a ++ b)`: the WAL chains records this way.
 */

const POLY = 0x82f63b78;

/** Sixteen 256-entry tables, table k at [k * 256, k * 256 + 256). */
const TABLE: Uint32Array = makeTable();

function makeTable(): Uint32Array {
  const t = new Uint32Array(16 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    let c = t[i]!;
    for (let k = 1; k < 16; k++) {
      c = (c >>> 8) ^ t[c & 0xff]!;
      t[k * 256 + i] = c >>> 0;
    }
  }
  return t;
}

/** CRC-32C of `data`, continuing from `prev` (the CRC of the bytes before it; 0 to start). */
export function crc32c(data: Uint8Array, prev = 0): number {
  return crc32cRange(data, 0, data.length, prev);
}

/** CRC-32C of `data[start, end)` continuing from `prev`, without making a subarray. */
export function crc32cRange(data: Uint8Array, start: number, end: number, prev = 0): number {
  const t = TABLE;
  let c = ~prev;
  let i = start;
  const end16 = end - ((end - start) % 16);
  while (i < end16) {
    const a = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    c = t[3840 + (a & 0xff)]! ^ t[3584 + ((a >>> 8) & 0xff)]! ^
      t[3328 + ((a >>> 16) & 0xff)]! ^ t[3072 + (a >>> 24)]! ^
      t[2816 + data[i + 4]!]! ^ t[2560 + data[i + 5]!]! ^ t[2304 + data[i + 6]!]! ^
      t[2048 + data[i + 7]!]! ^ t[1792 + data[i + 8]!]! ^ t[1536 + data[i + 9]!]! ^
      t[1280 + data[i + 10]!]! ^ t[1024 + data[i + 11]!]! ^ t[768 + data[i + 12]!]! ^
      t[512 + data[i + 13]!]! ^ t[256 + data[i + 14]!]! ^ t[data[i + 15]!]!;
    i += 16;
  }
  while (i < end) c = t[(c ^ data[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
