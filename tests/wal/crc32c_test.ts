import { strictEqual } from "node:assert/strict";
import { crc32c } from "../../wal/crc32c.ts";

/** Bit-at-a-time reference implementation to check the sliced one against. */
function crc32cSlow(data: Uint8Array, prev = 0): number {
  let c = ~prev >>> 0;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

Deno.test("crc32c matches the known check value and RFC 3720 vectors", () => {
  strictEqual(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  strictEqual(crc32c(new Uint8Array(0)), 0);
  strictEqual(crc32c(new Uint8Array(32)), 0x8a9136aa);
  strictEqual(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  strictEqual(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  strictEqual(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
});

Deno.test("crc32c agrees with a bitwise reference at every length and alignment", () => {
  const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 0xff);
  for (let start = 0; start < 9; start++) {
    for (let len = 0; start + len <= data.length; len += 1 + (len >> 3)) {
      const part = data.subarray(start, start + len);
      strictEqual(crc32c(part), crc32cSlow(part), `start ${start} len ${len}`);
    }
  }
});

Deno.test("crc32c continues a CRC: crc(b, crc(a)) = crc(a ++ b)", () => {
  const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 97 + 3) & 0xff);
  const whole = crc32c(data);
  for (let cut = 0; cut <= data.length; cut += 37) {
    strictEqual(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), whole, `cut ${cut}`);
  }
});

Deno.test("crc32c chained over slices of any size equals the one-shot CRC", () => {
  // As the snapshotter CRCs a large buffer: slice by slice, each continuing the last.
  const data = Uint8Array.from({ length: 3 * 1024 * 1024 + 13 }, (_, i) => (i * 131 + 7) & 0xff);
  const whole = crc32c(data);
  strictEqual(whole, crc32cSlow(data));
  for (const slice of [15, 16, 17, 4093, 65536, 1024 * 1024, data.length, data.length + 1]) {
    let c = 0;
    for (let o = 0; o < data.length; o += slice) c = crc32c(data.subarray(o, o + slice), c);
    strictEqual(c, whole, `slice ${slice}`);
  }
  // A byte at a time, over a prefix (3 MiB of one-byte calls shows nothing more).
  const prefix = data.subarray(0, 100_000);
  let c = 0;
  for (let o = 0; o < prefix.length; o++) c = crc32c(prefix.subarray(o, o + 1), c);
  strictEqual(c, crc32c(prefix));
});
