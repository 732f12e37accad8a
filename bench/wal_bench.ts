/**
 * WAL append throughput against this disk's raw write + fdatasync of the same byte count.
 * Each iteration is one Ready: a batch of 256-byte entries plus a hard state, synced once.
 *
 *   deno bench -A bench/wal_bench.ts
 *
 * Appends per second = iterations per second x batch size; MB/s = bytes per batch / time.
 * The baseline appends to a growing file; a second raw row writes into a preallocated one.
 */
import type { Entry } from "../raft/types.ts";
import { Wal } from "../wal/mod.ts";
import { recordBytes } from "../wal/record.ts";
import { ENTRY_FIXED_BYTES, HARD_STATE_BYTES } from "../wal/codec.ts";

const ENTRY_DATA_BYTES = 256;
const BATCH_SIZES = [1, 16, 256];
/** Iterations per benchmark: many, because fdatasync latency on a shared disk is noisy. */
const ITERATIONS = 2000;

const root = await Deno.makeTempDir({ prefix: "raftkv_wal_bench_" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));

const data = Uint8Array.from({ length: ENTRY_DATA_BYTES }, (_, i) => (i * 13 + 1) & 0xff);

/** Bytes the WAL writes for one batch of `n` entries and a hard state. */
function batchBytes(n: number): number {
  return n * recordBytes(ENTRY_FIXED_BYTES + ENTRY_DATA_BYTES) + recordBytes(HARD_STATE_BYTES);
}

for (const n of BATCH_SIZES) {
  const group = `batch of ${n} x ${ENTRY_DATA_BYTES} B + sync (${batchBytes(n)} B written)`;

  const rawFile = await Deno.open(`${root}/raw-${n}`, { write: true, create: true });
  const rawBuf = new Uint8Array(batchBytes(n)).fill(0x5a);
  Deno.bench({
    name: `raw write+fdatasync, ${n}`,
    group,
    baseline: true,
    n: ITERATIONS,
    warmup: 50,
    async fn() {
      let done = 0;
      while (done < rawBuf.length) done += await rawFile.write(rawBuf.subarray(done));
      await rawFile.syncData();
    },
  });

  // The same writes into a file extended up front, as the WAL's segments are: no size change
  // per sync, so this is the disk's best case.
  const preFile = await Deno.open(`${root}/raw-pre-${n}`, { write: true, create: true });
  await preFile.truncate(Math.ceil(((ITERATIONS + 100) * rawBuf.length) / 4096) * 4096);
  Deno.bench({
    name: `raw write+fdatasync, preallocated file, ${n}`,
    group,
    n: ITERATIONS,
    warmup: 50,
    async fn() {
      let done = 0;
      while (done < rawBuf.length) done += await preFile.write(rawBuf.subarray(done));
      await preFile.syncData();
    },
  });

  const wal = await Wal.create(`${root}/wal-${n}`, { metadata: { nodeId: 1, clusterId: "b" } });
  let next = 1;
  Deno.bench({
    name: `wal save, ${n}`,
    group,
    n: ITERATIONS,
    warmup: 50,
    async fn() {
      const entries: Entry[] = [];
      for (let i = 0; i < n; i++) entries.push({ term: 1, index: next + i, type: 0, data });
      next += n;
      await wal.save({ term: 1, vote: 1, commit: next - 1 }, entries);
    },
  });
}
