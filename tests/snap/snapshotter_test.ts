import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import type { Snapshot } from "../../raft/types.ts";
import { SnapshotFileError, snapshotFileName, Snapshotter } from "../../snap/mod.ts";
import { recordingLogger, withTempDir } from "../wal/helpers.ts";

function snap(index: number, term: number, bytes = 100): Snapshot {
  return {
    data: Uint8Array.from({ length: bytes }, (_, i) => (i * 7 + index) & 0xff),
    metadata: {
      index,
      term,
      confState: {
        voters: [1, 2, 3],
        learners: [4],
        votersOutgoing: [1, 2, 5],
        learnersNext: [5],
        autoLeave: true,
      },
    },
  };
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("a saved snapshot loads back whole, under its term-index name", async () => {
  await withTempDir(async (root) => {
    const dir = `${root}/snap`;
    const s = new Snapshotter(dir);
    strictEqual(await s.load(), undefined); // no directory yet
    await s.save(snap(0x1f40, 3, 0));
    await s.save(snap(0x2000, 3, 5000));
    deepStrictEqual(await names(dir), [
      "0000000000000003-0000000000001f40.snap",
      "0000000000000003-0000000000002000.snap",
    ]);
    strictEqual(snapshotFileName(3, 0x2000), "0000000000000003-0000000000002000.snap");
    deepStrictEqual(await s.load(), snap(0x2000, 3, 5000));
    // An empty snapshot is not written.
    await s.save(snap(0, 0));
    strictEqual((await names(dir)).length, 2);
  });
});

Deno.test("only the newest five snapshots are kept", async () => {
  await withTempDir(async (dir) => {
    const s = new Snapshotter(dir);
    for (let i = 1; i <= 8; i++) await s.save(snap(i * 100, 1 + Math.floor(i / 3)));
    const kept = await names(dir);
    strictEqual(kept.length, 5);
    deepStrictEqual(
      kept,
      [4, 5, 6, 7, 8].map((i) => snapshotFileName(1 + Math.floor(i / 3), i * 100)),
    );
  });
});

Deno.test("a corrupt or truncated newest snapshot is skipped with a warning", async () => {
  await withTempDir(async (dir) => {
    const logger = recordingLogger();
    const s = new Snapshotter(dir, { logger });
    await s.save(snap(10, 1));
    await s.save(snap(20, 1));
    await s.save(snap(30, 2));
    const p30 = `${dir}/${snapshotFileName(2, 30)}`;
    const p20 = `${dir}/${snapshotFileName(1, 20)}`;
    const b30 = await Deno.readFile(p30);
    // Truncated newest: skipped.
    await Deno.writeFile(p30, b30.subarray(0, b30.length - 7));
    deepStrictEqual(await s.load(), snap(20, 1));
    ok(logger.lines.some((l) => l.startsWith("warn") && l.includes(p30)), logger.lines.join("\n"));
    // A flipped byte in the next one: skipped too.
    const b20 = await Deno.readFile(p20);
    b20[b20.length - 3] = b20[b20.length - 3]! ^ 0x10;
    await Deno.writeFile(p20, b20);
    deepStrictEqual(await s.load(), snap(10, 1));
    ok(logger.lines.some((l) => l.includes(p20) && l.includes("CRC mismatch")));
    // Every byte of the header and metadata is checked.
    const b10 = await Deno.readFile(`${dir}/${snapshotFileName(1, 10)}`);
    for (let at = 0; at < 120; at++) {
      const bad = b10.slice();
      bad[at] = (bad[at]! ^ 0x5a) || 0xa5;
      await Deno.writeFile(`${dir}/${snapshotFileName(1, 10)}`, bad);
      strictEqual(await s.load(), undefined, `flip at ${at}`);
    }
  });
});

Deno.test("readHead gives the metadata and the first data bytes, without the CRC check", async () => {
  await withTempDir(async (dir) => {
    const s = new Snapshotter(dir);
    const whole = snap(40, 2, 300);
    await s.save(whole);
    const head = await s.readHead({ index: 40, term: 2 }, 10);
    deepStrictEqual(head.metadata, whole.metadata);
    deepStrictEqual([...head.data], [...whole.data.subarray(0, 10)]);
    strictEqual((await s.readHead({ index: 40, term: 2 }, 1000)).data.length, 300);
    // A flipped byte past the head: read fails its CRC check, readHead does not look.
    const path = `${dir}/${snapshotFileName(2, 40)}`;
    const bytes = await Deno.readFile(path);
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0x10;
    await Deno.writeFile(path, bytes);
    deepStrictEqual([...(await s.readHead({ index: 40, term: 2 }, 10)).data], [
      ...whole.data.subarray(0, 10),
    ]);
    await rejects(() => s.read({ index: 40, term: 2 }), /CRC mismatch/);
    // Missing, misnamed, or a header that does not add up: refused like read.
    await rejects(() => s.readHead({ index: 41, term: 2 }, 10), /is missing/);
    await Deno.copyFile(path, `${dir}/${snapshotFileName(3, 50)}`);
    await rejects(() => s.readHead({ index: 50, term: 3 }, 10), /not what its name says/);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 1));
    await rejects(() => s.readHead({ index: 40, term: 2 }, 10), SnapshotFileError);
  });
});

Deno.test("empty files, foreign files and misnamed snapshots are skipped", async () => {
  await withTempDir(async (dir) => {
    const logger = recordingLogger();
    const s = new Snapshotter(dir, { logger });
    await s.save(snap(10, 1));
    await Deno.writeFile(`${dir}/${snapshotFileName(9, 90)}`, new Uint8Array(0));
    await Deno.writeTextFile(`${dir}/README`, "not a snapshot");
    await Deno.writeTextFile(`${dir}/1-2.snap`, "short name");
    await Deno.writeTextFile(`${dir}/${snapshotFileName(8, 80)}`, "x".repeat(100));
    // A valid file under the wrong name is not trusted.
    await Deno.copyFile(`${dir}/${snapshotFileName(1, 10)}`, `${dir}/${snapshotFileName(7, 70)}`);
    deepStrictEqual(await s.load(), snap(10, 1));
    strictEqual(logger.lines.filter((l) => l.startsWith("warn")).length, 3);
  });
});

Deno.test("loadNewestAvailable picks the newest valid snapshot the WAL has a marker for", async () => {
  await withTempDir(async (dir) => {
    const s = new Snapshotter(dir);
    await s.save(snap(10, 1));
    await s.save(snap(20, 1));
    await s.save(snap(30, 2)); // saved, but the WAL marker was never written (crash between)
    const markers = [{ index: 10, term: 1 }, { index: 20, term: 1 }];
    deepStrictEqual(await s.loadNewestAvailable(markers), snap(20, 1));
    deepStrictEqual(await s.loadNewestAvailable([{ index: 30, term: 1 }]), undefined); // wrong term
    deepStrictEqual(await s.loadNewestAvailable([]), undefined);
    // A corrupt snapshot with a marker: the older one with a marker is used.
    const p20 = `${dir}/${snapshotFileName(1, 20)}`;
    await Deno.writeFile(p20, new Uint8Array(10));
    deepStrictEqual(await s.loadNewestAvailable(markers), snap(10, 1));
  });
});

Deno.test("a save leaves no temporary file and replaces a leftover one", async () => {
  await withTempDir(async (dir) => {
    const s = new Snapshotter(dir);
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(`${dir}/${snapshotFileName(1, 5)}.tmp`, "half written");
    await s.save(snap(5, 1));
    deepStrictEqual(await names(dir), [snapshotFileName(1, 5)]);
    throws(() => new Snapshotter(dir, { keep: 0 }), RangeError);
  });
});

Deno.test("concurrent saves all land, and only the newest five stay", async () => {
  await withTempDir(async (dir) => {
    const s = new Snapshotter(dir);
    await Promise.all([1, 2, 3, 4, 5, 6, 7].map((i) => s.save(snap(i * 10, 1))));
    deepStrictEqual(await names(dir), [30, 40, 50, 60, 70].map((i) => snapshotFileName(1, i)));
    deepStrictEqual(await s.load(), snap(70, 1));
  });
});
