import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type { Entry, HardState } from "../../raft/types.ts";
import { Wal } from "../../wal/mod.ts";
import { recordBytes, RecordType, scanSegment } from "../../wal/record.ts";
import { decodeEntry, decodeHardState } from "../../wal/codec.ts";
import { makeEntries, makeEntry, recordingLogger, withTempDir } from "./helpers.ts";

const metadata = { nodeId: 1, clusterId: "c" };
const segmentBytesMax = 2048;

/** Builds a WAL of a few segments whose last segment ends in `tailRecords` entry/state records. */
async function buildLog(dir: string, preallocate: boolean): Promise<string> {
  const wal = await Wal.create(dir, { metadata, segmentBytesMax, preallocate });
  let i = 1;
  for (; i <= 60; i += 3) {
    await wal.save({ term: 1, vote: 1, commit: i }, makeEntries(i, i + 2, 1, 9 + (i % 13)));
  }
  // The last batches: the records the cuts land in.
  await wal.save({ term: 2, vote: 1, commit: i }, makeEntries(i, i + 1, 2, 30));
  await wal.save({ term: 2, vote: 1, commit: i + 2 }, [makeEntry(i + 2, 2, 70)]);
  await wal.close();
  const segs = wal.segmentFiles();
  ok(segs.length >= 3, `${segs.length} segments`);
  return `${dir}/${segs.at(-1)}`;
}

interface Expected {
  entries: Entry[];
  hardState: HardState;
}

/** What a reader should see if the last segment ended at `cut`: records wholly before it. */
function expectedAt(all: Expected, lastBytes: Uint8Array, cut: number): Expected {
  const scan = scanSegment(lastBytes, true);
  const entries = [...all.entries];
  let hardState = all.hardState;
  // Drop from the full log every record of the last segment that ends after the cut.
  const dropped = scan.records.filter((r) => r.offset + recordBytes(r.payload.length) > cut);
  const keptStates = scan.records.filter(
    (r) => r.type === RecordType.HardState && r.offset + recordBytes(r.payload.length) <= cut,
  );
  for (const r of dropped) {
    if (r.type === RecordType.Entry) {
      const e = decodeEntry(r.payload);
      const at = entries.findIndex((x) => x.index === e.index);
      if (at >= 0) entries.length = Math.min(entries.length, at);
    }
  }
  if (dropped.some((r) => r.type === RecordType.HardState)) {
    hardState = decodeHardState(keptStates.at(-1)!.payload);
  }
  return { entries, hardState };
}

for (const preallocate of [true, false]) {
  Deno.test(`a last segment cut at every byte of its last records recovers exactly the records before the cut (preallocate: ${preallocate})`, async () => {
    await withTempDir(async (dir) => {
      const lastPath = await buildLog(dir, preallocate);
      const full = await Deno.readFile(lastPath);
      const all = await Wal.open(dir, { segmentBytesMax });
      await all.wal.close();
      const scan = scanSegment(full, true);
      // The last four records: two entries + state, one entry + state.
      const firstCut = scan.records.at(-5)!.offset;
      const boundaries = new Set(
        scan.records.map((r) => r.offset).concat(scan.validEnd),
      );
      let appended = 0;
      for (let cut = firstCut; cut <= scan.validEnd; cut++) {
        await Deno.writeFile(lastPath, full.subarray(0, cut));
        const logger = recordingLogger();
        const want = expectedAt(all, full, cut);
        const appendHere = cut % 8 === 0;
        const r = await Wal.open(dir, { logger, segmentBytesMax, preallocate });
        deepStrictEqual(r.entries, want.entries, `cut at ${cut}`);
        deepStrictEqual(r.hardState, want.hardState, `cut at ${cut}`);
        const warned = logger.lines.filter((l) => l.startsWith("warn") && l.includes("torn tail"));
        strictEqual(warned.length, boundaries.has(cut) ? 0 : 1, `cut at ${cut}: ${logger.lines}`);
        if (!boundaries.has(cut)) {
          const recStart = [...boundaries].filter((b) => b < cut).sort((a, b) => b - a)[0];
          ok(warned[0]!.includes(`at byte ${recStart}`), warned[0]);
        }
        // Every 8th cut: appending after the repair works and survives a reopen.
        if (appendHere) {
          const next = (want.entries.at(-1)?.index ?? 0) + 1;
          await r.wal.save({ term: 3, vote: 1, commit: next }, [makeEntry(next, 3, 40)]);
          await r.wal.close();
          const r2 = await Wal.open(dir, { segmentBytesMax });
          deepStrictEqual(r2.entries, [...want.entries, makeEntry(next, 3, 40)]);
          await r2.wal.close();
          appended++;
        } else {
          await r.wal.close();
        }
      }
      ok(appended > 10);
    });
  });
}

Deno.test("a torn write that left a zero sector inside the last batch is cut at that record", async () => {
  await withTempDir(async (dir) => {
    const wal = await Wal.create(dir, { metadata, segmentBytesMax: 1 << 16 });
    await wal.save({ term: 1, vote: 1, commit: 1 }, makeEntries(1, 10, 1, 100));
    // The last batch: 20 entries of 600 bytes, spanning many sectors.
    await wal.save({ term: 1, vote: 1, commit: 30 }, makeEntries(11, 30, 1, 600));
    await wal.close();
    const path = `${dir}/${wal.segmentFiles()[0]}`;
    const bytes = await Deno.readFile(path);
    const scan = scanSegment(bytes, true);
    // The sector holding part of entry 15's data never reached the disk.
    const rec15 = scan.records.find((r) =>
      r.type === RecordType.Entry && decodeEntry(r.payload).index === 15
    )!;
    const sector = Math.ceil((rec15.offset + 100) / 512) * 512;
    bytes.fill(0, sector, sector + 512);
    await Deno.writeFile(path, bytes);
    const logger = recordingLogger();
    const r = await Wal.open(dir, { logger, segmentBytesMax: 1 << 16 });
    // The first record touching the zeroed sector is torn; everything before it survives.
    const torn = scan.records.find((x) => x.offset + recordBytes(x.payload.length) > sector)!;
    const before = scan.records.filter((x) =>
      x.offset < torn.offset && x.type === RecordType.Entry
    );
    const expectedLast = decodeEntry(before.at(-1)!.payload).index;
    ok(expectedLast >= 11 && expectedLast <= 15, `${expectedLast}`);
    deepStrictEqual(r.entries, [
      ...makeEntries(1, 10, 1, 100),
      ...makeEntries(11, expectedLast, 1, 600),
    ]);
    deepStrictEqual(r.hardState, { term: 1, vote: 1, commit: 1 });
    ok(
      logger.lines.some((l) => l.includes("cut") && l.includes("zero sector")),
      logger.lines.join(),
    );
    await r.wal.close();
  });
});

Deno.test("a zero header followed by data in the last segment is a torn tail, cut with a log line", async () => {
  await withTempDir(async (dir) => {
    const wal = await Wal.create(dir, { metadata, segmentBytesMax: 1 << 16 });
    await wal.save({ term: 1, vote: 1, commit: 1 }, makeEntries(1, 5, 1));
    await wal.save({ term: 1, vote: 1, commit: 5 }, makeEntries(6, 8, 1));
    await wal.close();
    const path = `${dir}/${wal.segmentFiles()[0]}`;
    const bytes = await Deno.readFile(path);
    const scan = scanSegment(bytes, true);
    const rec6 = scan.records.find((r) =>
      r.type === RecordType.Entry && decodeEntry(r.payload).index === 6
    )!;
    bytes.fill(0, rec6.offset, rec6.offset + 16);
    await Deno.writeFile(path, bytes);
    const logger = recordingLogger();
    const r = await Wal.open(dir, { logger, segmentBytesMax: 1 << 16 });
    deepStrictEqual(r.entries, makeEntries(1, 5, 1));
    ok(logger.lines.some((l) => l.includes(`at byte ${rec6.offset}`)), logger.lines.join());
    await r.wal.close();
    // The cut tail is gone: reopening logs nothing more.
    const logger2 = recordingLogger();
    const r2 = await Wal.open(dir, { logger: logger2, segmentBytesMax: 1 << 16 });
    deepStrictEqual(r2.entries, makeEntries(1, 5, 1));
    deepStrictEqual(logger2.lines.filter((l) => l.startsWith("warn")), []);
    await r2.wal.close();
  });
});

Deno.test("an entry holding MiBs of zeros in the last segment reads back whole", async () => {
  await withTempDir(async (dir) => {
    const options = { segmentBytesMax: 16 << 20 };
    const wal = await Wal.create(dir, { ...options, metadata });
    const zeros = { index: 2, term: 1, type: 0 as const, data: new Uint8Array(3 << 20) };
    await wal.save({ term: 1, vote: 1, commit: 1 }, [makeEntry(1, 1), zeros, makeEntry(3, 1)]);
    await wal.close();
    const r = await Wal.open(dir, options);
    deepStrictEqual(r.entries, [makeEntry(1, 1), zeros, makeEntry(3, 1)]);
    await r.wal.close();
  });
});

Deno.test("stray bytes far into the preallocated tail are zeroed on open, not appended over", async () => {
  await withTempDir(async (dir) => {
    const options = { segmentBytesMax: 4 << 20 };
    const wal = await Wal.create(dir, { ...options, metadata });
    await wal.save({ term: 1, vote: 1, commit: 1 }, makeEntries(1, 3, 1));
    await wal.close();
    const path = `${dir}/${wal.segmentFiles()[0]}`;
    const f = await Deno.open(path, { write: true });
    await f.seek(3 << 20, Deno.SeekMode.Start);
    await f.write(new Uint8Array(100).fill(0xee));
    f.close();
    const r = await Wal.open(dir, options);
    deepStrictEqual(r.entries, makeEntries(1, 3, 1));
    await r.wal.save(undefined, makeEntries(4, 5, 1));
    await r.wal.close();
    const bytes = await Deno.readFile(path);
    strictEqual(bytes.length, 4 << 20);
    ok(bytes.subarray(3 << 20, (3 << 20) + 100).every((b) => b === 0));
    const r2 = await Wal.open(dir, options);
    deepStrictEqual(r2.entries, makeEntries(1, 5, 1));
    await r2.wal.close();
  });
});
