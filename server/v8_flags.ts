/**
 * The V8 flags a node runs with. V8 reads its flags only as the process starts (setting them later
 * through `node:v8` changed nothing here), so they are on the command line: `deno task start`,
 * `deno task cluster` and the benchmark pass them, and `deno task compile` bakes them into the
 * binary. A node started without them works the same and holds more memory under load.
 *
 * `--heap-growing-percent=20`: how far the old generation may grow past what the last full
 * collection kept before V8 collects again. V8 otherwise picks a factor between about 1.1 and 4
 * from its collector's speed against the program's. A node under write load promotes garbage
 * steadily (log entries and request state that outlive a young collection), and at a million keys
 * (about 450 MB live then) a leader's heap reached 830 MB in use between two full collections.
 * Loading 1M keys at 64 connections (15:10 and 15:04, bench/history.md), the three nodes peaked
 * at 717 / 632 / 602 MiB with 30% against 1,110 / 979 / 769 MiB without, at 6,999 against 7,028
 * writes/s; the cost is a restart about 0.9 s longer (restoring a million keys runs more full
 * collections). 20% rather than 30%: in `deno task bench --scale --systems raftkv` (2026-11-27,
 * one run each, the store in slot columns), the nodes peaked at 557 / 525 / 564 MiB against
 * 571 / 535 / 577, with writes during a snapshot at p99 23.1 against 28.6 ms and a restart of
 * 4.17 against 4.37 s. A store of up to about 600,000 keys holds less than the floor below, so
 * it is not affected.
 *
 * `--initial-old-space-size=256`: no full collection while the old generation is under 256 MB.
 * With 30% alone, a leader holding 40 MB under write load ran one every second, each stopping it
 * for 8-14 ms, and those stops made the write tail: at 64 connections on fresh clusters
 * (2026-11-27 00:20, three alternating rounds) p99 was 26.3-30.3 ms with a floor of 128 MB against
 * 35.5-39.1 ms without one. At 128 MB a leader taking 13,000 writes/s still collected every 2-3 s
 * (it promotes about 20 MB/s), each time marking for 20-40 ms beside its work and stopping it for
 * 3-9 ms. At 256 MB, writes at 64 connections after 10 s at 16 (three alternating rounds,
 * 2026-11-27 10:27) had p99 13.3-14.8 ms against 19.0-35.8 ms, and the nodes held 280-370 MiB
 * against 230-250 MiB. V8 keeps it as a floor after every collection. Above about 213 MB live
 * (some 600,000 keys of 256 bytes) the 20% governs, so a node holding a million keys is not
 * affected; a node with little data holds up to about 256 MB of garbage.
 *
 * `--max-semi-space-size=8`: young collections at most 8 MB apart, not V8's 32 MB here. A young
 * collection stops the node for as long as it takes to copy what survived it, and under write
 * load most of that is the keys just written. At 32 MB, 2.9-4.3 MB survived each collection on
 * the leader and on the follower not written to (whose acknowledgements commit the writes), and
 * each stopped that follower for 6-9 ms. At 8 MB they come four to six times as often and stop
 * it for 2-3 ms. Writes at 64 connections through a follower of a store grown to 550,000 keys
 * (2026-11-27 15:11, three alternating rounds, `--trace-gc-nvp`): p99 16.9-22.4 ms against
 * 20.2-53.7 ms, at 12,300-14,000 against 13,100-13,600 writes/s. At 4 MB: p99 21.5-21.9 ms at
 * 10,800-12,200 writes/s.
 */
export const V8_FLAGS: readonly string[] = [
  "--heap-growing-percent=20",
  "--initial-old-space-size=256",
  "--max-semi-space-size=8",
];

/** `V8_FLAGS` as one `deno run` argument. */
export const V8_FLAGS_ARG = `--v8-flags=${V8_FLAGS.join(",")}`;
