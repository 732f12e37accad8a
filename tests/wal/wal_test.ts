import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { Wal, WalCorruptError } from "../../wal/mod.ts";
import { encodeBatch } from "../../wal/batch.ts";
import { makeEntries, makeEntry, recordingLogger, withTempDir } from "./helpers.ts";

const metadata = { nodeId: 3, clusterId: "cluster-é" };
/** Small segments keep the preallocated files (and the tests) small. */
const small = { segmentBytesMax: 1 << 16 };

async function segmentFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".wal")) names.push(e.name);
  return names.sort();
}

Deno.test("a saved hard state and entries read back after reopen", async () => {
  await withTempDir(async (root) => {
    const dir = `${root}/wal`;
    strictEqual(await Wal.exists(dir), false);
    const wal = await Wal.create(dir, { ...small, metadata });
    strictEqual(await Wal.exists(dir), true);
    await wal.save({ term: 1, vote: 2, commit: 0 }, makeEntries(1, 3, 1));
    await wal.save({ term: 2, vote: 2, commit: 3 }, [makeEntry(4, 2, 1000)], { sync: false });
    await wal.save(undefined, [{ index: 5, term: 2, type: 1, data: new Uint8Array(0) }]);
    await wal.close();
    await wal.close(); // idempotent
    await rejects(wal.save(undefined, [makeEntry(6, 2)]), /closed/);

    const r = await Wal.open(dir, small);
    deepStrictEqual(r.metadata, metadata);
    deepStrictEqual(r.hardState, { term: 2, vote: 2, commit: 3 });
    deepStrictEqual(r.entries, [
      ...makeEntries(1, 3, 1),
      makeEntry(4, 2, 1000),
      { index: 5, term: 2, type: 1, data: new Uint8Array(0) },
    ]);
    // Appending continues where the log ended.
    await r.wal.save({ term: 3, vote: 0, commit: 5 }, [makeEntry(6, 3)]);
    await r.wal.close();
    const r2 = await Wal.open(dir, small);
    strictEqual(r2.entries.length, 6);
    deepStrictEqual(r2.hardState, { term: 3, vote: 0, commit: 5 });
    await r2.wal.close();
  });
});

Deno.test("a new WAL has an empty hard state and no entries", async () => {
  await withTempDir(async (root) => {
    await (await Wal.create(root, { ...small, metadata })).close();
    const r = await Wal.open(root, small);
    deepStrictEqual(r.hardState, { term: 0, vote: 0, commit: 0 });
    deepStrictEqual(r.entries, []);
    await r.wal.close();
    await rejects(Wal.create(root, { ...small, metadata }), /already has one/);
  });
});

Deno.test("segments rotate past segmentBytesMax, named by sequence and first index", async () => {
  await withTempDir(async (dir) => {
    const wal = await Wal.create(dir, { metadata, segmentBytesMax: 4096 });
    for (let i = 1; i <= 200; i++) {
      await wal.save({ term: 1, vote: 1, commit: i - 1 }, [makeEntry(i, 1)]);
    }
    await wal.close();
    const names = await segmentFiles(dir);
    ok(names.length >= 4, `${names.length} segments`);
    deepStrictEqual(await segmentFiles(dir), wal.segmentFiles());
    let prevFirst = -1;
    names.forEach((name, seq) => {
      const [s, f] = name.replace(".wal", "").split("-") as [string, string];
      strictEqual(parseInt(s, 16), seq);
      ok(parseInt(f, 16) > prevFirst);
      prevFirst = parseInt(f, 16);
    });
    strictEqual(names[0], "0000000000000000-0000000000000000.wal");
    // Sealed segments are truncated to their last record; only the last keeps its zeros.
    for (const name of names.slice(0, -1)) {
      const size = (await Deno.stat(`${dir}/${name}`)).size;
      ok(size >= 4096 && size < 4096 + 128, `${name} is ${size} bytes`);
    }
    strictEqual((await Deno.stat(`${dir}/${names.at(-1)}`)).size, 4096);
    const r = await Wal.open(dir, { segmentBytesMax: 4096 });
    deepStrictEqual(r.entries, makeEntries(1, 200, 1));
    deepStrictEqual(r.hardState, { term: 1, vote: 1, commit: 199 });
    await r.wal.close();
  });
});

Deno.test("a batch larger than a segment goes in whole, then a new segment starts", async () => {
  await withTempDir(async (dir) => {
    const wal = await Wal.create(dir, { metadata, segmentBytesMax: 1024, preallocate: false });
    await wal.save({ term: 1, vote: 1, commit: 0 }, makeEntries(1, 100, 1, 50));
    await wal.save(undefined, makeEntries(101, 102, 1));
    await wal.close();
    deepStrictEqual(wal.segmentFiles(), [
      "0000000000000000-0000000000000000.wal",
      "0000000000000001-0000000000000065.wal",
    ]);
    const r = await Wal.open(dir, small);
    deepStrictEqual(r.entries, [...makeEntries(1, 100, 1, 50), ...makeEntries(101, 102, 1)]);
    await r.wal.close();
  });
});

Deno.test("a later entry at index i replaces the conflicting suffix from i on", async () => {
  await withTempDir(async (dir) => {
    const wal = await Wal.create(dir, { metadata, segmentBytesMax: 2048 });
    await wal.save({ term: 1, vote: 1, commit: 2 }, makeEntries(1, 40, 1));
    await wal.save({ term: 2, vote: 2, commit: 2 }, makeEntries(6, 8, 2));
    await wal.save(undefined, makeEntries(9, 30, 2));
    await wal.save({ term: 3, vote: 3, commit: 2 }, makeEntries(4, 4, 3));
    await wal.close();
    ok(wal.segmentFiles().length >= 2, "the overwrite crossed a segment boundary");
    const r = await Wal.open(dir, small);
    deepStrictEqual(r.entries, [...makeEntries(1, 3, 1), makeEntry(4, 3)]);
    deepStrictEqual(r.hardState, { term: 3, vote: 3, commit: 2 });
    // Appends continue after the overwrite: index 5 follows 4.
    await r.wal.save(undefined, makeEntries(5, 6, 3));
    await r.wal.close();
    const r2 = await Wal.open(dir, small);
    deepStrictEqual(r2.entries, [...makeEntries(1, 3, 1), ...makeEntries(4, 6, 3)]);
    await r2.wal.close();
  });
});

Deno.test("save refuses entries out of order or leaving a gap, and over-large ones", async () => {
  await withTempDir(async (dir) => {
    const wal = await Wal.create(dir, { ...small, metadata });
    await wal.save(undefined, makeEntries(1, 3, 1));
    await rejects(wal.save(undefined, [makeEntry(5, 1)]), RangeError);
    await rejects(wal.save(undefined, [makeEntry(4, 1), makeEntry(6, 1)]), RangeError);
    const huge = { index: 4, term: 1, type: 0 as const, data: new Uint8Array(64 * 1024 * 1024) };
    await rejects(wal.save(undefined, [huge]), /over the 67108847 limit/);
    // The refused calls wrote nothing; the WAL still works.
    await wal.save(undefined, [makeEntry(4, 1)]);
    await wal.close();
    const r = await Wal.open(dir, small);
    deepStrictEqual(r.entries, makeEntries(1, 4, 1));
    await r.wal.close();
  });
});

Deno.test("opening at a snapshot returns metadata, last hard state and entries after it", async () => {
  await withTempDir(async (dir) => {
    const wal = await Wal.create(dir, { metadata, segmentBytesMax: 2048 });
    await wal.save({ term: 1, vote: 1, commit: 10 }, makeEntries(1, 30, 1));
    await wal.saveSnapshot({ index: 10, term: 1 });
    await wal.save({ term: 2, vote: 1, commit: 25 }, makeEntries(31, 60, 2));
    await wal.saveSnapshot({ index: 25, term: 1 });
    await wal.saveSnapshot({ index: 55, term: 2 }); // not committed yet: not offered
    await wal.close();

    deepStrictEqual(await Wal.readSnapshotMarkers(dir), [
      { index: 10, term: 1 },
      { index: 25, term: 1 },
    ]);
    const r = await Wal.open(dir, { ...small, snapshot: { index: 25, term: 1 } });
    deepStrictEqual(r.metadata, metadata);
    deepStrictEqual(r.hardState, { term: 2, vote: 1, commit: 25 });
    deepStrictEqual(r.entries, [...makeEntries(26, 30, 1), ...makeEntries(31, 60, 2)]);
    await r.wal.close();
    await rejects(
      Wal.open(dir, { ...small, snapshot: { index: 25, term: 2 } }),
      /has term 1, not 2/,
    );
    await rejects(
      Wal.open(dir, { ...small, snapshot: { index: 26, term: 1 } }),
      /no snapshot marker/,
    );
  });
});

Deno.test("released segments are removed, a few kept, and the WAL reopens at the snapshot", async () => {
  await withTempDir(async (dir) => {
    const logger = recordingLogger();
    const wal = await Wal.create(dir, { metadata, segmentBytesMax: 1024, logger });
    for (let i = 1; i <= 120; i++) {
      await wal.save({ term: 1, vote: 1, commit: i }, [makeEntry(i, 1)]);
      if (i === 100) await wal.saveSnapshot({ index: 100, term: 1 });
    }
    const before = wal.segmentFiles();
    ok(before.length > 8, `${before.length} segments`);
    await wal.releaseTo(100);
    const after = wal.segmentFiles();
    deepStrictEqual(await segmentFiles(dir), after);
    // Kept: the segment holding index 100, everything after it, and 2 segments before it.
    const holder = before.findLastIndex((n) => parseInt(n.slice(17, 33), 16) <= 100);
    deepStrictEqual(after, before.slice(holder - 2));
    ok(logger.lines.some((l) => l.includes("released")));
    await wal.releaseTo(1_000_000); // never removes the segment being written
    ok(wal.segmentFiles().length >= 1);
    await wal.close();

    const markers = await Wal.readSnapshotMarkers(dir);
    deepStrictEqual(markers, [{ index: 100, term: 1 }]);
    const r = await Wal.open(dir, { ...small, snapshot: { index: 100, term: 1 } });
    deepStrictEqual(r.entries, makeEntries(101, 120, 1));
    deepStrictEqual(r.hardState, { term: 1, vote: 1, commit: 120 });
    await r.wal.close();
    await rejects(Wal.open(dir, small), /segments start later/);
  });
});

Deno.test("foreign files are ignored and a leftover temporary segment is removed", async () => {
  await withTempDir(async (dir) => {
    const wal = await Wal.create(dir, { ...small, metadata });
    await wal.save({ term: 1, vote: 1, commit: 1 }, makeEntries(1, 2, 1));
    await wal.close();
    await Deno.writeTextFile(`${dir}/notes.txt`, "hello");
    await Deno.writeTextFile(`${dir}/0001-0002.wal`, "not a segment name");
    await Deno.writeTextFile(`${dir}/0000000000000001-0000000000000003.wal.tmp`, "half");
    await Deno.mkdir(`${dir}/0000000000000002-0000000000000003.wal`);
    const r = await Wal.open(dir, small);
    deepStrictEqual(r.entries, makeEntries(1, 2, 1));
    await r.wal.close();
    const names = new Set<string>();
    for await (const e of Deno.readDir(dir)) names.add(e.name);
    ok(names.has("notes.txt") && names.has("0001-0002.wal"));
    ok(!names.has("0000000000000001-0000000000000003.wal.tmp"));
  });
});

Deno.test("an empty directory, an empty segment or a missing segment is refused", async () => {
  await withTempDir(async (dir) => {
    await rejects(Wal.open(`${dir}/nothing`), /no segment files/);
    await Deno.writeFile(`${dir}/0000000000000000-0000000000000000.wal`, new Uint8Array(0));
    const err = await rejects(Wal.open(dir, small), WalCorruptError);
    void err;
    await Deno.remove(`${dir}/0000000000000000-0000000000000000.wal`);

    const wal = await Wal.create(dir, { metadata, segmentBytesMax: 1024 });
    for (let i = 1; i <= 60; i++) await wal.save(undefined, [makeEntry(i, 1)]);
    await wal.close();
    const names = wal.segmentFiles();
    ok(names.length >= 3);
    await Deno.remove(`${dir}/${names[1]}`);
    await rejects(Wal.open(dir, small), (e: unknown) => {
      ok(e instanceof WalCorruptError);
      strictEqual(e.file, `${dir}/${names[2]}`);
      ok(e.message.includes("segment 1 is missing"), e.message);
      return true;
    });
  });
});

Deno.test("a reused encoding buffer leaves no stale bytes behind", () => {
  const input = { entries: makeEntries(1, 5, 1, 3), hardState: { term: 1, vote: 1, commit: 1 } };
  const fresh = encodeBatch(input, 1234);
  const dirty = new Uint8Array(4096).fill(0xff);
  const reused = encodeBatch(input, 1234, dirty);
  deepStrictEqual(reused.bytes, fresh.bytes);
  strictEqual(reused.crc, fresh.crc);
  strictEqual(reused.bytes.buffer, dirty.buffer);
});

Deno.test("appends fill the sparse preallocated segment ahead of them with written zeros", async () => {
  await withTempDir(async (root) => {
    const dir = `${root}/wal`;
    const segmentBytesMax = 8 << 20;
    const wal = await Wal.create(dir, { segmentBytesMax, metadata });
    const [name] = await segmentFiles(dir);
    const path = `${dir}/${name}`;
    const allocated = async () => (await Deno.stat(path)).blocks! * 512;
    strictEqual((await Deno.stat(path)).size, segmentBytesMax);
    ok(await allocated() < 1 << 20, "a new segment is sparse");
    await wal.save({ term: 1, vote: 1, commit: 0 }, makeEntries(1, 10, 1, 100));
    ok(await allocated() >= 1 << 20, "the first append fills a MiB ahead");
    ok(await allocated() < 4 << 20, "and not the whole segment");
    // Past the filled part, the next append fills the next stretch; the data reads back.
    await wal.save(undefined, makeEntries(11, 12, 1, 1536 * 1024));
    ok(await allocated() >= (1 << 20) + 2 * 1536 * 1024);
    await wal.close();
    const r = await Wal.open(dir, { segmentBytesMax });
    deepStrictEqual(r.entries, [
      ...makeEntries(1, 10, 1, 100),
      ...makeEntries(11, 12, 1, 1536 * 1024),
    ]);
    await r.wal.close();
  });
});

Deno.test("readSnapshotMarkers with segmentsMax reads only the newest segments", async () => {
  await withTempDir(async (root) => {
    const dir = `${root}/wal`;
    const wal = await Wal.create(dir, { segmentBytesMax: 4096, metadata });
    for (let i = 1; i <= 60; i += 10) {
      await wal.save({ term: 1, vote: 1, commit: i + 9 }, makeEntries(i, i + 9, 1, 300));
      await wal.saveSnapshot({ index: i + 9, term: 1 });
    }
    const segments = wal.segmentFiles().length;
    await wal.close();
    ok(segments >= 4, `${segments} segments`);
    const all = await Wal.readSnapshotMarkers(dir);
    deepStrictEqual(all.map((m) => m.index), [10, 20, 30, 40, 50, 60]);
    const newest = await Wal.readSnapshotMarkers(dir, { segmentsMax: 1 });
    ok(newest.length >= 1 && newest.length < all.length, JSON.stringify(newest));
    deepStrictEqual(newest, all.slice(-newest.length));
    deepStrictEqual(await Wal.readSnapshotMarkers(dir, { segmentsMax: 1000 }), all);
    await rejects(Wal.readSnapshotMarkers(dir, { segmentsMax: 0 }), RangeError);
  });
});
