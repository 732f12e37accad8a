/**
 * Child process for the crash test: opens (or creates) the WAL in Deno.args[0] and appends batches
 * forever, printing `synced <index>` after each synced save. The parent SIGKILLs it at random.
 */
import { Wal } from "../../../wal/mod.ts";
import { CRASH_SEGMENT_BYTES_MAX, crashEntry } from "./crash_data.ts";

const dir = Deno.args[0];
if (!dir) throw new Error("usage: crash_writer.ts <wal dir>");
const verbose = Deno.env.get("WAL_CRASH_VERBOSE") === "1";
const logger = {
  debug() {},
  info() {},
  warn: (m: string) => verbose && console.error(m),
  error: (m: string) => console.error(m),
};
const options = { segmentBytesMax: CRASH_SEGMENT_BYTES_MAX, logger };
let wal: Wal;
let next: number;
if (await Wal.exists(dir)) {
  const r = await Wal.open(dir, options);
  wal = r.wal;
  next = (r.entries.at(-1)?.index ?? 0) + 1;
} else {
  wal = await Wal.create(dir, { ...options, metadata: { nodeId: 1, clusterId: "crash" } });
  next = 1;
}
console.log(`ready ${next - 1}`);
if (verbose) console.error(`ready ${next - 1}, segments ${wal.segmentFiles().length}`);
// Bounded: the parent kills this process within seconds; the bound only stops a runaway.
for (let round = 0; round < 1_000_000; round++) {
  const n = 1 + (round % 17);
  const entries = [];
  for (let i = 0; i < n; i++) entries.push(crashEntry(next + i));
  // Every fourth batch is not synced; the next synced save covers it.
  const sync = round % 4 !== 3;
  await wal.save({ term: 1, vote: 1, commit: next + n - 1 }, entries, { sync });
  next += n;
  if (sync) console.log(`synced ${next - 1}`);
}
