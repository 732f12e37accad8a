import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Wal, WalCorruptError } from "../../wal/mod.ts";
import { recordBytes, scanSegment } from "../../wal/record.ts";
import { makeEntries, snapshotFiles, withTempDir } from "./helpers.ts";

const metadata = { nodeId: 7, clusterId: "corrupt-test" };
const segmentBytesMax = 1024;

/** A changed byte, never zero (a zeroed piece would be a torn write by the format's rule). */
function flip(b: number): number {
  return (b ^ 0x5a) || 0xa5;
}

Deno.test("a flipped byte in any record not at the tail fails opening, naming file and offset, changing nothing", async () => {
  await withTempDir(async (dir) => {
    const wal = await Wal.create(dir, { metadata, segmentBytesMax });
    for (let i = 1; i <= 30; i += 2) {
      await wal.save({ term: 1, vote: 7, commit: i }, makeEntries(i, i + 1, 1, 11 + (i % 5)));
      if (i === 9) await wal.saveSnapshot({ index: 8, term: 1 });
    }
    await wal.close();
    const names = wal.segmentFiles();
    ok(names.length >= 3, `${names.length} segments`);
    const before = await snapshotFiles(dir);
    let flips = 0;
    for (const [si, name] of names.entries()) {
      const path = `${dir}/${name}`;
      const bytes = before.get(name)!;
      const isLast = si === names.length - 1;
      const records = scanSegment(bytes, isLast).records;
      // Every record but the last one of the last segment (a damaged tail record may be torn).
      const targets = isLast ? records.slice(0, -1) : records;
      for (const rec of targets) {
        const end = rec.offset + recordBytes(rec.payload.length);
        for (let at = rec.offset; at < end; at++) {
          const damaged = bytes.slice();
          damaged[at] = flip(damaged[at]!);
          await Deno.writeFile(path, damaged);
          let caught: unknown;
          try {
            const r = await Wal.open(dir, { segmentBytesMax });
            await r.wal.close();
          } catch (e) {
            caught = e;
          }
          ok(
            caught instanceof WalCorruptError,
            `flip at ${name}:${at} was not detected: ${caught}`,
          );
          strictEqual(caught.file, path, `flip at ${name}:${at}`);
          strictEqual(caught.offset, rec.offset, `flip at ${name}:${at}: ${caught.message}`);
          ok(caught.message.includes(name) && caught.message.includes(`byte ${rec.offset}`));
          // Nothing changed but the byte this test flipped.
          const after = await snapshotFiles(dir);
          deepStrictEqual([...after.keys()].sort(), [...before.keys()].sort());
          for (const [n, b] of after) deepStrictEqual(b, n === name ? damaged : before.get(n)!);
          flips++;
        }
      }
      await Deno.writeFile(path, bytes);
    }
    ok(flips > 2000, `${flips} flips`);
    // Restored: the WAL opens again.
    const r = await Wal.open(dir, { segmentBytesMax });
    deepStrictEqual(r.entries.map((e) => e.index), makeEntries(1, 30, 1).map((e) => e.index));
    await r.wal.close();
  });
});

Deno.test("the CRC chain runs across segments: a segment from another WAL does not fit", async () => {
  await withTempDir(async (root) => {
    const build = async (dir: string, term: number) => {
      const wal = await Wal.create(dir, { metadata, segmentBytesMax });
      for (let i = 1; i <= 40; i++) {
        await wal.save({ term, vote: 7, commit: i }, makeEntries(i, i, term));
      }
      await wal.close();
      return wal.segmentFiles();
    };
    const a = await build(`${root}/a`, 1);
    const b = await build(`${root}/b`, 2);
    strictEqual(a[1], b[1]);
    // Same name, same shape, but its seed does not continue a's chain.
    await Deno.copyFile(`${root}/b/${b[1]}`, `${root}/a/${a[1]}`);
    const before = await snapshotFiles(`${root}/a`);
    let caught: unknown;
    try {
      await Wal.open(`${root}/a`, { segmentBytesMax });
    } catch (e) {
      caught = e;
    }
    ok(caught instanceof WalCorruptError, `${caught}`);
    strictEqual(caught.file, `${root}/a/${a[1]}`);
    strictEqual(caught.offset, 0);
    ok(caught.message.includes("CRC chain"), caught.message);
    deepStrictEqual(await snapshotFiles(`${root}/a`), before);
  });
});

Deno.test("garbage in a sealed segment's tail is corruption, not a torn write", async () => {
  await withTempDir(async (dir) => {
    const wal = await Wal.create(dir, { metadata, segmentBytesMax });
    for (let i = 1; i <= 40; i++) await wal.save(undefined, makeEntries(i, i, 1));
    await wal.close();
    const first = `${dir}/${wal.segmentFiles()[0]}`;
    const bytes = await Deno.readFile(first);
    // A sealed segment cut short (as if the last record were torn) is not the log's tail.
    await Deno.writeFile(first, bytes.subarray(0, bytes.length - 5));
    let caught: unknown;
    try {
      await Wal.open(dir, { segmentBytesMax });
    } catch (e) {
      caught = e;
    }
    ok(caught instanceof WalCorruptError, `${caught}`);
    strictEqual(caught.file, first);
    ok(caught.message.includes("cut short"), caught.message);
  });
});
