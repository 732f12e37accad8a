/**
 * Saving and loading a 64 MiB snapshot, and how long each holds the event loop at a stretch.
 *
 *   deno bench -A bench/snap_bench.ts
 *
 * Rows: `Snapshotter.save` (data written from the snapshot's buffer in 1 MiB slices, each CRC'd
 * right before its write, with a yield to the event loop between slices; then sync, a read-back
 * CRC in slices, rename and directory sync); `Snapshotter.load` (read and CRC'd in slices); and
 * the save as it was before streaming, for comparison: copy into one buffer with the CRC, CRC it
 * again, write, sync. A first row measures the probe on an idle event loop: on a shared machine the
 * process is also descheduled, and those gaps are in every row.
 *
 * During every iteration a drift probe (`setInterval(…, 1)`) records the longest gap between its
 * callbacks: the longest the event loop was held, plus the probe's own 1 ms period and scheduling
 * slack. Raft heartbeats are every 100 ms and elections time out after 1 s; the summary printed
 * at the end gives, per row, the median time and the median and largest of the per-iteration gaps.
 */
import type { Snapshot } from "../raft/types.ts";
import { Snapshotter } from "../snap/mod.ts";
import { encodeSnapshotHead, headerCrc, setHeaderCrc } from "../snap/snapshot_file.ts";
import { crc32c } from "../wal/crc32c.ts";
import { writeAll } from "../wal/fs_util.ts";
import { median } from "./report.ts";

const DATA_BYTES = 64 * 1024 * 1024;
/** Each iteration writes 64 MiB and fsyncs it: a few iterations say enough. */
const ITERATIONS = 5;
const WARMUP = 1;

const root = await Deno.makeTempDir({ prefix: "raftkv_snap_bench_" });
const data = new Uint8Array(DATA_BYTES);
for (let i = 0; i < data.length; i++) data[i] = (i * 131 + (i >>> 16)) & 0xff;
const snapshot: Snapshot = {
  data,
  metadata: {
    index: 1_000_000,
    term: 7,
    confState: {
      voters: [1, 2, 3],
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    },
  },
};
const snapshotter = new Snapshotter(`${root}/snap`, { keep: 1 });
await snapshotter.save(snapshot); // so that load has a file from the first iteration

/** The save before streaming: one buffer, two CRC passes, one write (no rename: not needed here). */
async function oneShotSave(path: string, snap: Snapshot): Promise<void> {
  const head = encodeSnapshotHead(snap.metadata, snap.data.length);
  const out = new Uint8Array(head.length + snap.data.length);
  out.set(head, 0);
  out.set(snap.data, head.length);
  setHeaderCrc(out, crc32c(out.subarray(32), headerCrc(out)));
  const again = crc32c(out.subarray(32), headerCrc(out));
  if (again !== new DataView(out.buffer).getUint32(24, true)) throw new Error("CRC check");
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    await writeAll(file, out);
    await file.sync();
  } finally {
    file.close();
  }
}

/** Starts the drift probe; the returned function stops it and gives the longest gap (ms). */
function startProbe(): () => number {
  let last = performance.now();
  let gapMax = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gapMax = Math.max(gapMax, now - last);
    last = now;
  }, 1);
  return () => {
    clearInterval(timer);
    return Math.max(gapMax, performance.now() - last);
  };
}

type Kind = "idle" | "save" | "load" | "oneShot";
const KINDS: Kind[] = ["idle", "save", "load", "oneShot"];
const names: Record<Kind, string> = {
  idle: "probe noise floor: an idle event loop for 500 ms",
  save: "Snapshotter.save, 64 MiB in 1 MiB slices",
  load: "Snapshotter.load, 64 MiB in 1 MiB slices",
  oneShot: "one-shot save as before (copy + 2 CRC passes + write + sync), 64 MiB",
};
const ops: Record<Kind, () => Promise<unknown>> = {
  idle: () => new Promise((resolve) => setTimeout(resolve, 500)),
  save: () => snapshotter.save(snapshot),
  load: () => snapshotter.load(),
  oneShot: () => oneShotSave(`${root}/one-shot.snap`, snapshot),
};
const samples: Record<Kind, { ms: number[]; gapMs: number[] }> = {
  idle: { ms: [], gapMs: [] },
  save: { ms: [], gapMs: [] },
  load: { ms: [], gapMs: [] },
  oneShot: { ms: [], gapMs: [] },
};

for (const kind of KINDS) {
  Deno.bench({
    name: names[kind],
    group: "snapshot 64 MiB",
    baseline: kind === "oneShot",
    n: ITERATIONS,
    warmup: WARMUP,
    async fn() {
      const t0 = performance.now();
      const stop = startProbe();
      await ops[kind]();
      samples[kind].gapMs.push(stop());
      samples[kind].ms.push(performance.now() - t0);
    },
  });
}

globalThis.addEventListener("unload", () => {
  const lines = [
    "",
    "event loop held (longest gap between 1 ms probe ticks), over warmup and measured iterations:",
    "| kind | iterations | median time | median longest gap | largest gap |",
    "| --- | ---: | ---: | ---: | ---: |",
  ];
  for (const kind of KINDS) {
    const { ms, gapMs } = samples[kind];
    lines.push(
      `| ${names[kind]} | ${ms.length} | ${median(ms).toFixed(0)} ms | ${
        median(gapMs).toFixed(1)
      } ms | ${Math.max(...gapMs).toFixed(1)} ms |`,
    );
  }
  console.log(lines.join("\n"));
  Deno.removeSync(root, { recursive: true });
});
