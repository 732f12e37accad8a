// Quiet before each point, so that a point does not inherit the previous one's trailing work: a
// system's snapshots and background commits, and the kernel's writeback of the dirty pages it
// left. The points alternate between the systems, and with only a short pause raftkv's writes at
// 256 connections always ran right after etcd's, the heaviest point of each: that figure was
// 15,328 and 10,877 writes/s in two runs 16 minutes apart (6e8eaae and 9a40354, which differ only
// in how a change set is taken). A raftkv node puts an image off until it has been idle for a
// while (server/snapshot_chain.ts), which after its own point is during the other system's: two
// such images of 141 MB, 4.4-4.6 s each, ran through etcd's writes through a follower at 64
// connections (2026-11-28 01:51, whose p99 was 62 ms). So the wait also lasts while a system
// reports such work to come (`pending`).

/** What `settle` waits for unless told otherwise (the report quotes them). */
export const SETTLE_DEFAULTS = {
  windowMs: 400,
  quietWindows: 2,
  busyShareMax: 0.15,
  maxMs: 15_000,
} as const;

export interface SettleOptions {
  /** CPU seconds used so far by the servers of each cluster, in a fixed order. */
  cpuSeconds: () => number[];
  /** Writes every dirty page to disk and waits for it (sync(1)). */
  sync: () => Promise<void>;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  /** Length of one CPU sample (400 ms). */
  windowMs?: number;
  /** Consecutive quiet samples needed (2). */
  quietWindows?: number;
  /** Quiet: no cluster used more than this share of one core in a sample (0.15). */
  busyShareMax?: number;
  /** Give up waiting after this long, and say so (15 s). */
  maxMs?: number;
  /**
   * True while a system reports work it has yet to do or is doing in the background (a raftkv
   * node's image put off until it is idle, or a snapshot being written): no window is quiet then.
   */
  pending?: () => Promise<boolean>;
}

export interface Settled {
  waitedMs: number;
  /** False when a cluster was still busy at `maxMs`. */
  quiet: boolean;
}

export async function settle(o: SettleOptions): Promise<Settled> {
  const windowMs = o.windowMs ?? SETTLE_DEFAULTS.windowMs;
  const quietWindows = o.quietWindows ?? SETTLE_DEFAULTS.quietWindows;
  const busyShareMax = o.busyShareMax ?? SETTLE_DEFAULTS.busyShareMax;
  const maxMs = o.maxMs ?? SETTLE_DEFAULTS.maxMs;
  const start = o.now();
  await o.sync();
  let quiet = 0;
  let before = o.cpuSeconds();
  // Bounded by maxMs: every turn sleeps a window.
  while (o.now() - start < maxMs) {
    await o.sleep(windowMs);
    const after = o.cpuSeconds();
    const busiest = Math.max(0, ...after.map((s, i) => (s - before[i]!) / (windowMs / 1000)));
    before = after;
    const idle = busiest <= busyShareMax && !(await o.pending?.());
    quiet = idle ? quiet + 1 : 0;
    if (quiet >= quietWindows) return { waitedMs: o.now() - start, quiet: true };
  }
  return { waitedMs: o.now() - start, quiet: false };
}

/** sync(1): the kernel writes every dirty page before it returns. */
export async function syncDisks(): Promise<void> {
  const { code } = await new Deno.Command("sync", { stdout: "null", stderr: "null" }).output();
  if (code !== 0) throw new Error(`sync exited with ${code}`);
}
