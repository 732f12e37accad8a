/**
 * WAL append throughput against this disk's raw write + fdatasync of the same byte count.
 * Each WAL iteration is one Ready: a batch of 256-byte entries plus a hard state, synced once.
 *
 *   deno bench -A bench/wal_bench.ts
 *
 * Three ways to write the same bytes are compared per batch size: the baseline appends to a
 * growing file, the second raw row writes into a file extended up front (as WAL segments are),
 * and the WAL's `save`. The disk is shared and its fdatasync latency swings a lot over seconds,
 * so every iteration of every bench performs all three writes back to back, timing only its own
 * (`b.start()`/`b.end()`): all three rows see the same I/O pattern. At the end a paired summary
 * prints the median of each kind over all iterations, where the three medians come from writes
 * made side by side.
 *
 * Appends per second = batches per second x batch size; MB/s = bytes written per batch / time.
 */
import type { Entry } from "../raft/types.ts";
import { Wal } from "../wal/mod.ts";
import { recordBytes } from "../wal/record.ts";
import { ENTRY_FIXED_BYTES, HARD_STATE_BYTES } from "../wal/codec.ts";
import { median } from "./report.ts";

const ENTRY_DATA_BYTES = 256;
const BATCH_SIZES = [1, 16, 256];
/** Iterations per benchmark: many, because fdatasync latency on a shared disk is noisy. */
const ITERATIONS = 1000;
const WARMUP = 20;

const root = await Deno.makeTempDir({ prefix: "raftkv_wal_bench_" });
const data = Uint8Array.from({ length: ENTRY_DATA_BYTES }, (_, i) => (i * 13 + 1) & 0xff);

/** Bytes the WAL writes for one batch of `n` entries and a hard state. */
function batchBytes(n: number): number {
  return n * recordBytes(ENTRY_FIXED_BYTES + ENTRY_DATA_BYTES) + recordBytes(HARD_STATE_BYTES);
}

type Kind = "raw" | "rawPre" | "wal";
const KINDS: Kind[] = ["raw", "rawPre", "wal"];
/** Every measured duration (ms) per batch size and kind, for the paired summary. */
const samples = new Map<number, Record<Kind, number[]>>();

async function writeAllSync(file: Deno.FsFile, buf: Uint8Array): Promise<void> {
  let done = 0;
  while (done < buf.length) done += await file.write(buf.subarray(done));
  await file.syncData();
}

for (const n of BATCH_SIZES) {
  const group = `batch of ${n} x ${ENTRY_DATA_BYTES} B + sync (${batchBytes(n)} B written)`;
  const buf = new Uint8Array(batchBytes(n)).fill(0x5a);
  const raw = await Deno.open(`${root}/raw-${n}`, { write: true, create: true });
  const rawPre = await Deno.open(`${root}/raw-pre-${n}`, { write: true, create: true });
  const writesMax = 3 * (ITERATIONS + WARMUP + 10);
  await rawPre.truncate(Math.ceil((writesMax * buf.length) / 4096) * 4096);
  const wal = await Wal.create(`${root}/wal-${n}`, { metadata: { nodeId: 1, clusterId: "b" } });
  let next = 1;
  const kindSamples: Record<Kind, number[]> = { raw: [], rawPre: [], wal: [] };
  samples.set(n, kindSamples);

  /** The next Ready's entries, built outside the timed part (raft hands them over built). */
  const nextBatch = (): Entry[] => {
    const entries: Entry[] = [];
    for (let i = 0; i < n; i++) entries.push({ term: 1, index: next + i, type: 0, data });
    next += n;
    return entries;
  };
  const ops: Record<Kind, (entries: Entry[]) => Promise<void>> = {
    raw: () => writeAllSync(raw, buf),
    rawPre: () => writeAllSync(rawPre, buf),
    wal: (entries) => wal.save({ term: 1, vote: 1, commit: entries.at(-1)!.index }, entries),
  };
  const names: Record<Kind, string> = {
    raw: `raw write+fdatasync, ${n}`,
    rawPre: `raw write+fdatasync, preallocated file, ${n}`,
    wal: `wal save, ${n}`,
  };
  for (const own of KINDS) {
    Deno.bench({
      name: names[own],
      group,
      baseline: own === "raw",
      n: ITERATIONS,
      warmup: WARMUP,
      async fn(b) {
        const entries = nextBatch();
        for (const kind of KINDS) {
          const t0 = performance.now();
          if (kind === own) b.start();
          await ops[kind](entries);
          if (kind === own) b.end();
          kindSamples[kind].push(performance.now() - t0);
        }
      },
    });
  }
}

globalThis.addEventListener("unload", () => {
  const lines = [
    "",
    "paired medians (all three writes made side by side in every iteration):",
    "| batch | kind | median | appends/s | MB/s | vs raw baseline |",
    "| ---: | --- | ---: | ---: | ---: | ---: |",
  ];
  for (const [n, byKind] of samples) {
    const base = median(byKind.raw);
    for (const kind of KINDS) {
      const ms = median(byKind[kind]);
      const perSec = 1000 / ms;
      lines.push(
        `| ${n} | ${kind} | ${(ms * 1000).toFixed(0)} µs | ${(perSec * n).toFixed(0)} | ${
          (perSec * batchBytes(n) / 1e6).toFixed(2)
        } | ${((base / ms) * 100).toFixed(0)}% |`,
      );
    }
  }
  console.log(lines.join("\n"));
  Deno.removeSync(root, { recursive: true });
});
