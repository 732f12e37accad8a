import { deepStrictEqual, match, ok, rejects, strictEqual, throws } from "node:assert/strict";
import type { Snapshot } from "../../raft/types.ts";
import { snapshotFileName, Snapshotter } from "../../snap/mod.ts";
import { writeSnapshotFile } from "../../snap/snapshot_io.ts";
import { withTempDir } from "../wal/helpers.ts";
import { encodeSnapshotFileReference } from "./reference_encoder.ts";

const MiB = 1024 * 1024;

function snap(index: number, term: number, bytes: number): Snapshot {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 7 + (i >>> 12) + index) & 0xff;
  return {
    data,
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

/** Equal bytes, without printing megabytes when they are not. */
function sameBytes(a: Uint8Array, b: Uint8Array, what: string): void {
  strictEqual(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) throw new Error(`${what}: differ at byte ${i}: ${a[i]} != ${b[i]}`);
  }
}

/** Counts setInterval(…, 1) callbacks while `fn` runs. */
async function ticksDuring(fn: () => Promise<void>): Promise<number> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  return ticks;
}

Deno.test("a 20 MB snapshot saved and loaded in 1 MiB slices round-trips, byte for byte", async () => {
  await withTempDir(async (dir) => {
    const s = new Snapshotter(dir); // default slices: 1 MiB
    const big = snap(0x5000, 4, 20 * MiB + 123);
    await s.save(big);
    const file = await Deno.readFile(`${dir}/${snapshotFileName(4, 0x5000)}`);
    // What the one-shot encoder writes.
    sameBytes(file, encodeSnapshotFileReference(big), "file");
    const loaded = await s.load();
    ok(loaded !== undefined);
    deepStrictEqual(loaded.metadata, big.metadata);
    sameBytes(loaded.data, big.data, "data");
  });
});

Deno.test("timers keep firing during a 20 MB save and its load", async () => {
  await withTempDir(async (dir) => {
    const s = new Snapshotter(dir);
    const big = snap(0x5000, 4, 20 * MiB);
    const saveTicks = await ticksDuring(() => s.save(big));
    let loaded: Snapshot | undefined;
    const loadTicks = await ticksDuring(async () => {
      loaded = await s.load();
    });
    ok(saveTicks > 0, `${saveTicks} ticks during the save`);
    ok(loadTicks > 0, `${loadTicks} ticks during the load`);
    strictEqual(loaded?.data.length, big.data.length);
  });
});

Deno.test("the save writes through its slices: timers run even when every write completes at once", async () => {
  // An in-memory file whose writes resolve at once: the only turns of the event loop are the
  // save's own yields between slices (the one-shot encoder gave none).
  const big = snap(7, 1, 8 * MiB + 5);
  const bytes = new Uint8Array(32 + 97 + big.data.length);
  let pos = 0;
  const writes: number[] = [];
  const memFile = {
    write(p: Uint8Array): Promise<number> {
      bytes.set(p, pos);
      writes.push(pos);
      pos += p.length;
      return Promise.resolve(p.length);
    },
    seek(offset: number, whence: Deno.SeekMode): Promise<number> {
      pos = whence === Deno.SeekMode.Start ? offset : pos + offset;
      return Promise.resolve(pos);
    },
  } as unknown as Deno.FsFile;
  let crc = 0;
  const ticks = await ticksDuring(async () => {
    crc = await writeSnapshotFile(memFile, big, { sliceBytes: MiB });
  });
  ok(ticks > 0, `${ticks} ticks`);
  sameBytes(bytes, encodeSnapshotFileReference(big), "file");
  strictEqual(crc, new DataView(bytes.buffer).getUint32(24, true));
  // Header and metadata, nine data slices, then the header again with its CRC.
  deepStrictEqual(writes, [0, ...Array.from({ length: 9 }, (_, k) => 129 + k * MiB), 0]);
});

Deno.test("any slice size writes the reference bytes and loads back, at every boundary", async () => {
  await withTempDir(async (dir) => {
    let index = 1;
    for (const sliceBytes of [1, 7, 100, 4096]) {
      const s = new Snapshotter(dir, { sliceBytes, keep: 1 });
      for (const bytes of [0, 1, 6, 7, 8, 99, 100, 101, 250, 5000]) {
        if (Math.ceil(bytes / sliceBytes) > 40) continue; // each slice yields: keep the test short
        const want = snap(index++, 2, bytes);
        await s.save(want);
        const file = await Deno.readFile(`${dir}/${snapshotFileName(2, want.metadata.index)}`);
        sameBytes(
          file,
          encodeSnapshotFileReference(want),
          `file of ${bytes} in ${sliceBytes}`,
        );
        deepStrictEqual(await s.load(), want, `${bytes} bytes in slices of ${sliceBytes}`);
      }
    }
  });
});

Deno.test("a version 1 file (CRC-32C) still loads; saving its snapshot writes version 2", async () => {
  await withTempDir(async (dir) => {
    const name = snapshotFileName(3, 0x1f40);
    // Written by snap/snapshot_file.ts's encodeSnapshotFile at e1bf8ae, before streamed saves.
    const golden = await Deno.readFile(
      new URL(`./testdata/v1_${name}`, import.meta.url),
    );
    await Deno.mkdir(`${dir}/old`);
    await Deno.writeFile(`${dir}/old/${name}`, golden);
    const loaded = await new Snapshotter(`${dir}/old`).load();
    deepStrictEqual(loaded, snap(0x1f40, 3, 3000));
    sameBytes(encodeSnapshotFileReference(loaded, 1), golden, "the reference encoder, version 1");
    await new Snapshotter(`${dir}/new`, { sliceBytes: 1000 }).save(loaded);
    const saved = await Deno.readFile(`${dir}/new/${name}`);
    sameBytes(saved, encodeSnapshotFileReference(loaded, 2), "file");
    strictEqual(new DataView(saved.buffer).getUint32(8, true), 2);
  });
});

Deno.test("a slice size outside [1, 64 MiB] is a RangeError", () => {
  for (const sliceBytes of [0, -1, 1.5, 64 * MiB + 1, NaN]) {
    throws(() => new Snapshotter("/nonexistent", { sliceBytes }), RangeError, `${sliceBytes}`);
  }
});

Deno.test("a streamed save writes the same file as a buffer's, reusing one chunk buffer", async () => {
  await withTempDir(async (dir) => {
    const want = snap(0x7000, 5, 3 * MiB + 77);
    const reused = new Uint8Array(100_000);
    let chunks = 0;
    function* produce(): Generator<Uint8Array> {
      for (let off = 0; off < want.data.length; off += reused.length) {
        const end = Math.min(off + reused.length, want.data.length);
        reused.set(want.data.subarray(off, end));
        chunks++;
        yield reused.subarray(0, end - off);
      }
    }
    const s = new Snapshotter(dir);
    await s.save({ metadata: want.metadata, dataBytes: want.data.length, chunks: produce() });
    strictEqual(chunks, 32);
    const file = await Deno.readFile(`${dir}/${snapshotFileName(5, 0x7000)}`);
    sameBytes(file, encodeSnapshotFileReference(want), "file");
    deepStrictEqual(await s.load(), want);
  });
});

Deno.test("a stream that does not add up to its dataBytes fails the save, and nothing loads", async () => {
  await withTempDir(async (dir) => {
    const s = new Snapshotter(dir);
    const { metadata } = snap(9, 1, 0);
    const bytes = (n: number) => new Uint8Array(n).fill(1);
    await assertRejects(
      () => s.save({ metadata, dataBytes: 100, chunks: [bytes(60), bytes(30)] }),
      /Snapshot data is 90 bytes, not the 100 its header says/,
    );
    await assertRejects(
      () => s.save({ metadata, dataBytes: 100, chunks: [bytes(60), bytes(60)] }),
      /runs past the 100 bytes its header says/,
    );
    strictEqual(await s.load(), undefined);
    deepStrictEqual((await s.list()).length, 0);
  });
});

async function assertRejects(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  await rejects(fn, (error: unknown) => {
    ok(error instanceof RangeError, `${error}`);
    match(error.message, pattern);
    return true;
  });
}
