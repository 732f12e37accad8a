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
 * 4.17 against 4.37 s. Since values left the heap (kv/value_arena.ts), a store of a million keys
 * holds about 57 MB on it (and 294 MB off it), under the floor below, which then governs.
 *
 * `--initial-old-space-size=192`: no full collection while the old generation is under 192 MB.
 * With 30% alone, a leader holding 40 MB under write load ran one every second, each stopping it
 * for 8-14 ms, and those stops made the write tail: at 64 connections on fresh clusters
 * (2026-11-27 00:20, three alternating rounds) p99 was 26.3-30.3 ms with a floor of 128 MB against
 * 35.5-39.1 ms without one. At 128 MB a leader taking 13,000 writes/s still collected every 2-3 s
 * (it promotes about 20 MB/s), each time marking for 20-40 ms beside its work and stopping it for
 * 3-9 ms. V8 keeps it as a floor after every collection. It was 256 MB while values were strings
 * on the heap, which a store of 600,000 keys already filled. Since they are not (kv/value_arena.ts)
 * a node's heap stays under the floor at a million keys, so the floor is most of its heap under
 * load: at 256 MB the nodes of `--scale` peaked at 668 / 629 / 649 MiB (etcd 744 / 549 / 536), at
 * 192 MB at 538 / 542 / 512 (etcd 524 / 732 / 527; 2026-11-28 05:04 and 05:22). Writes at 64
 * connections through a follower (fresh clusters loaded 30 s, three alternating rounds of three
 * points, 05:12) had p99 10.8-48.8 ms, median 17.6, at 256 MB and 18.2-22.7 ms, median 20.0, at
 * 192 MB; at 128 MB 20.2-40.7 ms, median 21.9 (04:49).
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
  "--initial-old-space-size=192",
  "--max-semi-space-size=8",
];

/** `V8_FLAGS` as one `deno run` argument. */
export const V8_FLAGS_ARG = `--v8-flags=${V8_FLAGS.join(",")}`;
