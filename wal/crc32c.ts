/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-8. `node:zlib`'s crc32 is the
 * IEEE polynomial, which is why this exists. `crc32c(data, prev)` continues a CRC, so
 * `crc32c(b, crc32c(a)) === crc32c(a ++ b)`: the WAL chains records this way.
 */

const POLY = 0x82f63b78;

/** Eight 256-entry tables, table k at [k * 256, k * 256 + 256). */
const TABLE: Uint32Array = makeTable();

function makeTable(): Uint32Array {
  const t = new Uint32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    let c = t[i]!;
    for (let k = 1; k < 8; k++) {
      c = (c >>> 8) ^ t[c & 0xff]!;
      t[k * 256 + i] = c >>> 0;
    }
  }
  return t;
}

/** CRC-32C of `data`, continuing from `prev` (the CRC of the bytes before it; 0 to start). */
export function crc32c(data: Uint8Array, prev = 0): number {
  const t = TABLE;
  let c = ~prev;
  let i = 0;
  const n = data.length;
  const end8 = n - (n % 8);
  while (i < end8) {
    const a = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    c = t[1792 + (a & 0xff)]! ^ t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^ t[1024 + (a >>> 24)]! ^
      t[768 + data[i + 4]!]! ^ t[512 + data[i + 5]!]! ^ t[256 + data[i + 6]!]! ^ t[data[i + 7]!]!;
    i += 8;
  }
  while (i < n) c = t[(c ^ data[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
