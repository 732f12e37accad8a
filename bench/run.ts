// `deno task bench`: raftkv against etcd 3.4 on this machine, in the same run.
//
// Starts a 3-node raftkv cluster and (when etcd is installed) a 3-member etcd cluster, both on
// 127.0.0.1 in temporary directories with default settings, loads them with wrk (bench/wrk/*.lua),
// alternating the two systems point by point, and writes a markdown table to bench/results.md.
// `--quick` runs a short subset; `--scale` loads 1,000,000 keys and measures memory, snapshots,
// restart and catch-up instead. Every process started here is stopped and every temporary
// directory removed, also on Ctrl-C.

import { parseArgs } from "node:util";
import { ETCD_INSTALL_HINT, EtcdCluster, etcdVersion } from "./etcd_cluster.ts";
import {
  cpuSeconds,
  dirBytes,
  filesystemType,
  loadAverage,
  machineCpuSeconds,
  makeTempDir,
  peakRssBytes,
  rssBytes,
  runAllCleanups,
  sleep,
  waitFor,
  wasInterrupted,
  which,
} from "./proc.ts";
import {
  RAFTKV_SNAPSHOT_COUNT,
  RaftkvCluster,
  REPO_ROOT,
  snapshotSource,
} from "./raftkv_cluster.ts";
import {
  formatBytes,
  formatNumber,
  formatReport,
  mergeReport,
  parseSentImageLog,
  parseSnapshotLog,
  type PointResult,
  type RunInfo,
  type ScaleResult,
  type SnapshotTaken,
} from "./report.ts";
import { snapshotDue, snapshotPhase } from "../server/snapshot_schedule.ts";
import { type BenchCluster, type NodeView } from "./system.ts";
import { settle, SETTLE_DEFAULTS, syncDisks } from "./settle.ts";
import { errorCount, errorDetail, opsPerSecond, runWrk, type WrkRun } from "./wrk.ts";

/** --scale: seconds without load between the two memory readings. */
const SCALE_IDLE_SECONDS = 30;
const WRK_INSTALL_HINT = "apt-get install wrk";

interface Workload {
  mode: "put" | "get";
  target: "leader" | "follower";
  serializable: boolean;
}

/** The workloads, in the order they run. */
export const WORKLOADS: Record<string, Workload> = {
  "put-leader": { mode: "put", target: "leader", serializable: false },
  "put-follower": { mode: "put", target: "follower", serializable: false },
  "get-linearizable-leader": { mode: "get", target: "leader", serializable: false },
  "get-linearizable-follower": { mode: "get", target: "follower", serializable: false },
  "get-serializable-follower": { mode: "get", target: "follower", serializable: true },
};

const QUICK_WORKLOADS = ["put-leader", "get-linearizable-leader", "get-serializable-follower"];

const USAGE = `Usage: deno task bench [options]

Benchmarks a 3-node raftkv cluster against a 3-member etcd 3.4 cluster (both started here on
127.0.0.1 in temporary directories) with wrk, and writes a markdown table to bench/results.md.

Options:
  --quick                 short smoke run (3 s points, connections 1 and 64, 3 workloads)
  --scale                 load --keys keys and compare memory, snapshot, restart and catch-up
  --duration S            seconds per point (default 10; --quick 3; --scale: load during snapshot 20)
  --repeat N              measure each point N times in a row; the table gives each figure's
                          median, and every round below it (default 1)
  --connections LIST      comma-separated concurrency levels (default 1,16,64,256)
  --workloads LIST        subset of: ${Object.keys(WORKLOADS).join(", ")}
  --systems LIST          raftkv,etcd (default both)
  --out FILE              report file (default bench/results.md; "-" prints only)
  --preload N             keys written before the read workloads (default 1000)
  --keys N                keys for --scale (default 1000000)
  --load-seconds-max S    --scale: stop loading after S seconds and go on (default 1800)
  --value-bytes N         value size (default 256)
  --wrk-threads N         wrk threads (default 1, to leave the cores to the servers)
  --timeout S             wrk per-request timeout in seconds (default 10)
  --raftkv-main FILE      raftkv entry point relative to the repository root (default main.ts)
  --raftkv-port-offset N  added to raftkv's ports (default 0: 12379.., peers 12380..)
  --keep                  keep the temporary directories (data and logs) for inspection
  -h, --help              this text

Needs wrk (${WRK_INSTALL_HINT}) and, for the comparison, etcd 3.4
(${ETCD_INSTALL_HINT}).`;

interface Options {
  quick: boolean;
  scale: boolean;
  durationSeconds: number;
  repeat: number;
  connections: number[];
  workloads: string[];
  systems: ("raftkv" | "etcd")[];
  out: string;
  preload: number;
  keys: number;
  loadSecondsMax: number;
  valueBytes: number;
  wrkThreads: number;
  timeoutSeconds: number;
  raftkvMain: string;
  raftkvPortOffset: number;
  keep: boolean;
}

class UsageError extends Error {}

function positiveInt(name: string, v: string | undefined, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    throw new UsageError(`--${name} must be a positive integer: ${v}`);
  }
  return n;
}

export function parseOptions(argv: string[]): Options | "help" {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean", default: false },
      scale: { type: "boolean", default: false },
      duration: { type: "string" },
      repeat: { type: "string" },
      connections: { type: "string" },
      workloads: { type: "string" },
      systems: { type: "string", default: "raftkv,etcd" },
      out: { type: "string", default: "bench/results.md" },
      preload: { type: "string" },
      keys: { type: "string" },
      "load-seconds-max": { type: "string" },
      "value-bytes": { type: "string" },
      "wrk-threads": { type: "string" },
      timeout: { type: "string" },
      "raftkv-main": { type: "string", default: "main.ts" },
      "raftkv-port-offset": { type: "string" },
      keep: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return "help";
  const quick = values.quick === true;
  const scale = values.scale === true;
  const list = (s: string) => s.split(",").map((x) => x.trim()).filter((x) => x !== "");
  const connections = values.connections === undefined
    ? (quick ? [1, 64] : [1, 16, 64, 256])
    : list(values.connections).map((c) => positiveInt("connections", c, 1));
  const workloads = values.workloads === undefined
    ? (quick ? QUICK_WORKLOADS : Object.keys(WORKLOADS))
    : list(values.workloads);
  for (const w of workloads) {
    if (!(w in WORKLOADS)) throw new UsageError(`unknown workload ${w}`);
  }
  const systems = list(values.systems ?? "");
  for (const s of systems) {
    if (s !== "raftkv" && s !== "etcd") throw new UsageError(`unknown system ${s}`);
  }
  if (systems.length === 0) throw new UsageError("--systems is empty");
  const offset = values["raftkv-port-offset"] === undefined
    ? 0
    : Number(values["raftkv-port-offset"]);
  if (!Number.isInteger(offset) || offset < 0 || offset > 99) {
    throw new UsageError(`--raftkv-port-offset must be an integer in [0, 99]`);
  }
  return {
    quick,
    scale,
    durationSeconds: positiveInt("duration", values.duration, scale ? 20 : quick ? 3 : 10),
    repeat: positiveInt("repeat", values.repeat, 1),
    connections,
    workloads,
    systems: systems as ("raftkv" | "etcd")[],
    out: values.out ?? "bench/results.md",
    preload: positiveInt("preload", values.preload, quick ? 200 : 1000),
    keys: positiveInt("keys", values.keys, 1_000_000),
    loadSecondsMax: positiveInt("load-seconds-max", values["load-seconds-max"], 1800),
    valueBytes: positiveInt("value-bytes", values["value-bytes"], 256),
    wrkThreads: positiveInt("wrk-threads", values["wrk-threads"], 1),
    timeoutSeconds: positiveInt("timeout", values.timeout, 10),
    raftkvMain: values["raftkv-main"] ?? "main.ts",
    raftkvPortOffset: offset,
    keep: values.keep === true,
  };
}

function log(message: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

async function wrkVersion(): Promise<string> {
  const out = await new Deno.Command("wrk", { args: ["-v"], stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return text.split("\n")[0]?.replace(/\s*Copyright.*$/, "").trim() ?? "wrk";
}

function machineInfo(): { cpus: number; cpuModel: string; memoryBytes: number } {
  const cpuinfo = Deno.readTextFileSync("/proc/cpuinfo");
  const cpus = cpuinfo.split("\n").filter((l) => l.startsWith("processor")).length ||
    navigator.hardwareConcurrency;
  const cpuModel = cpuinfo.match(/^model name\s*:\s*(.*)$/m)?.[1]?.trim() ?? "unknown CPU";
  const mem = Deno.readTextFileSync("/proc/meminfo").match(/^MemTotal:\s+(\d+) kB$/m);
  return { cpus, cpuModel, memoryBytes: mem ? Number(mem[1]) * 1024 : 0 };
}

function sumCpu(pids: number[]): number {
  return pids.reduce((a, pid) => a + (cpuSeconds(pid) ?? 0), 0);
}

function maxTerm(views: NodeView[]): number | undefined {
  return views.length === 0 ? undefined : Math.max(...views.map((v) => v.term));
}

/** Throws (with the log tails) when a server of the cluster has exited. */
async function assertAlive(cluster: RaftkvCluster | EtcdCluster): Promise<void> {
  const dead = cluster.deadMembers();
  if (dead.length > 0) {
    throw new Error(`${cluster.system}: ${dead.join(", ")} exited\n${await cluster.logTails(15)}`);
  }
}

async function targetNode(cluster: BenchCluster, target: "leader" | "follower"): Promise<number> {
  const leader = await cluster.waitForLeader(30_000);
  if (target === "leader") return leader;
  const follower = cluster.nodes().find((n) => n.index !== leader);
  if (follower === undefined) throw new Error(`${cluster.system} has no follower`);
  return follower.index;
}

const PRELOAD_PREFIX = "r";

/** Writes keys <prefix><8 digits> 0..count-1 to the leader with wrk's load mode. */
async function loadKeys(
  cluster: BenchCluster,
  options: {
    prefix: string;
    count: number;
    valueBytes: number;
    connections: number;
    timeoutSeconds: number;
    maxSeconds: number;
  },
): Promise<{ run: WrkRun; seconds: number }> {
  const leader = await cluster.waitForLeader(30_000);
  const threads = 1;
  const t0 = performance.now();
  // Progress for long loads, every 30 s (bounded by the load itself).
  let loading = true;
  const progress = (async () => {
    let last = performance.now();
    while (loading) {
      await sleep(500);
      if (!loading || performance.now() - last < 30_000) continue;
      last = performance.now();
      const applied = (await cluster.views().catch(() => []))
        .find((v) => v.index === leader)?.appliedIndex;
      log(
        `${cluster.system}: loading, leader applied index ${applied ?? "?"} after ${
          ((last - t0) / 1000).toFixed(0)
        } s`,
      );
    }
  })();
  const running = runWrk({
    url: cluster.nodes()[leader]!.clientUrl,
    script: cluster.luaScript,
    scriptArgs: {
      mode: "load",
      prefix: options.prefix,
      count: options.count,
      value_bytes: options.valueBytes,
    },
    connections: options.connections,
    threads,
    // A bound, not a target: wrk is stopped as soon as every key is answered.
    durationSeconds: Math.min(options.maxSeconds, Math.ceil(options.count / 50) + 60),
    timeoutSeconds: options.timeoutSeconds,
    stopAfterLoadDone: Math.min(threads, options.count),
  });
  try {
    const run = await running;
    return { run, seconds: (performance.now() - t0) / 1000 };
  } finally {
    loading = false;
    await progress;
  }
}

/** Checks that every node has the first and last preloaded key (waits for followers to apply). */
async function verifyPreload(
  cluster: BenchCluster,
  prefix: string,
  count: number,
  valueBytes: number,
) {
  const keys = [0, Math.floor(count / 2), count - 1].map((i) =>
    `${prefix}${String(i).padStart(8, "0")}`
  );
  for (const node of cluster.nodes()) {
    for (const key of keys) {
      await waitFor(`${cluster.system} node ${node.index} to have ${key}`, async () => {
        const len = await cluster.readLength(node.index, key);
        if (len !== undefined && len !== valueBytes) {
          throw new Error(`${cluster.system}: ${key} has ${len} bytes, expected ${valueBytes}`);
        }
        return len;
      }, { timeoutMs: 30_000, intervalMs: 100 });
    }
  }
}

async function preload(cluster: BenchCluster, opts: Options): Promise<void> {
  log(`${cluster.system}: preloading ${opts.preload} keys`);
  const { run, seconds } = await loadKeys(cluster, {
    prefix: PRELOAD_PREFIX,
    count: opts.preload,
    valueBytes: opts.valueBytes,
    connections: 16,
    timeoutSeconds: opts.timeoutSeconds,
    maxSeconds: 600,
  });
  const errors = errorCount(run.result);
  log(
    `${cluster.system}: preload ${run.result.load.ok}/${opts.preload} ok in ${
      seconds.toFixed(1)
    } s, ${errors} errors`,
  );
  if (run.result.load.ok < opts.preload) {
    throw new Error(
      `${cluster.system}: preload wrote ${run.result.load.ok} of ${opts.preload} keys (${errors} errors)`,
    );
  }
  await verifyPreload(cluster, PRELOAD_PREFIX, opts.preload, opts.valueBytes);
}

async function measurePoint(
  cluster: RaftkvCluster | EtcdCluster,
  options: { workload: string; connections: number; pointIndex: number; opts: Options },
): Promise<PointResult> {
  const { opts } = options;
  const w = WORKLOADS[options.workload]!;
  await assertAlive(cluster);
  const target = await targetNode(cluster, w.target);
  const pids = cluster.pids();
  const termBefore = maxTerm(await cluster.views());
  const cpuBefore = sumCpu(pids);
  const machineBefore = machineCpuSeconds();
  const run = await runWrk({
    url: cluster.nodes()[target]!.clientUrl,
    script: cluster.luaScript,
    scriptArgs: w.mode === "put"
      ? { mode: "put", prefix: `p${options.pointIndex}-`, value_bytes: opts.valueBytes }
      : {
        mode: "get",
        prefix: PRELOAD_PREFIX,
        keys: opts.preload,
        serializable: w.serializable ? 1 : 0,
      },
    connections: options.connections,
    threads: opts.wrkThreads,
    durationSeconds: opts.durationSeconds,
    timeoutSeconds: opts.timeoutSeconds,
  });
  const cpuAfter = sumCpu(pids);
  const machineAfter = machineCpuSeconds();
  const termAfter = maxTerm(await cluster.views());
  await assertAlive(cluster);
  const r = run.result;
  const serverCpu = cpuAfter - cpuBefore;
  return {
    system: cluster.system,
    workload: options.workload,
    connections: options.connections,
    opsPerSecond: opsPerSecond(r),
    p50Ms: r.latencyUs.p50 / 1000,
    p99Ms: r.latencyUs.p99 / 1000,
    p999Ms: r.latencyUs.p999 / 1000,
    errors: errorCount(r),
    errorDetail: errorDetail(r),
    requests: r.requests,
    serverCpuSeconds: serverCpu,
    wrkCpuSeconds: run.cpuSeconds,
    otherCpuSeconds: Math.max(
      0,
      machineAfter.busy - machineBefore.busy - serverCpu - run.cpuSeconds,
    ),
    durationSeconds: r.durationUs / 1e6,
    termChanged: termBefore !== undefined && termAfter !== undefined && termAfter !== termBefore,
  };
}

type AnyCluster = RaftkvCluster | EtcdCluster;

type Source = { dir: string; version: string } | undefined;

async function startClusters(
  opts: Options,
  root: string,
  notes: string[],
  source: Source,
): Promise<AnyCluster[]> {
  const clusters: AnyCluster[] = [];
  if (opts.systems.includes("raftkv")) {
    log("starting raftkv (3 nodes)");
    const dir = `${root}/raftkv`;
    await Deno.mkdir(dir);
    clusters.push(
      await RaftkvCluster.start(dir, {
        main: opts.raftkvMain,
        portOffset: opts.raftkvPortOffset,
        ...(source === undefined ? {} : { source }),
      }),
    );
  }
  if (opts.systems.includes("etcd")) {
    const version = await etcdVersion();
    if (version === undefined) {
      const msg = `etcd is not installed, so raftkv runs alone (${ETCD_INSTALL_HINT})`;
      log(msg);
      notes.push(msg);
    } else {
      if (!version.startsWith("3.4.")) notes.push(`etcd ${version} is not the 3.4 series`);
      log(`starting etcd ${version} (3 members)`);
      const dir = `${root}/etcd`;
      await Deno.mkdir(dir);
      clusters.push(await EtcdCluster.start(dir));
    }
  }
  if (clusters.length === 0) throw new Error("no system to benchmark");
  return clusters;
}

async function runPoints(
  opts: Options,
  root: string,
  notes: string[],
  source: Source,
): Promise<PointResult[]> {
  const clusters = await startClusters(opts, root, notes, source);
  const points: PointResult[] = [];
  try {
    const failed = new Set<string>();
    for (const c of clusters) {
      try {
        await preload(c, opts);
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        log(`${c.system}: preload failed: ${msg}`);
        notes.push(`${c.system}: preload failed, no points: ${msg.split("\n")[0]}`);
        failed.add(c.system);
      }
    }
    // Idle cost, to read the CPU columns against: both clusters idle at once for 3 s.
    const idleBefore = clusters.map((c) => sumCpu(c.pids()));
    await sleep(3000);
    clusters.forEach((c, i) => {
      const share = (sumCpu(c.pids()) - idleBefore[i]!) / 3;
      notes.push(
        `${c.system} idle (3 servers, no load): ${(share * 100).toFixed(0)}% of one core`,
      );
    });
    const waits: number[] = [];
    let restless = 0;
    for (const [pointIndex, { workload, connections, round }] of pointPlan(opts).entries()) {
      // Alternate which system goes first so slow drift of the machine favours neither.
      const order = pointIndex % 2 === 0 ? clusters : [...clusters].reverse();
      const label = round === undefined ? "" : ` round ${round}`;
      for (const cluster of order) {
        if (wasInterrupted()) return points;
        if (failed.has(cluster.system)) continue;
        const settled = await settle({
          cpuSeconds: () => clusters.map((c) => sumCpu(c.pids())),
          pending: async () =>
            (await Promise.all(clusters.map((c) => c.pendingWork()))).some(Boolean),
          sync: syncDisks,
          sleep,
          now: () => performance.now(),
        });
        waits.push(settled.waitedMs);
        if (!settled.quiet) {
          restless++;
          log(`not quiet after ${(settled.waitedMs / 1000).toFixed(1)} s; measuring anyway`);
        }
        let p: PointResult;
        try {
          p = await measurePoint(cluster, { workload, connections, pointIndex, opts });
          if (round !== undefined) p.round = round;
        } catch (err) {
          // One bad point is noted and skipped; a dead server ends that system's run.
          const msg = err instanceof Error ? err.message : String(err);
          log(`${workload} c=${connections}${label} ${cluster.system} failed: ${msg}`);
          notes.push(
            `${cluster.system} ${workload} c=${connections}${label} failed: ${msg.split("\n")[0]}`,
          );
          if (cluster.deadMembers().length > 0) failed.add(cluster.system);
          continue;
        }
        points.push(p);
        log(
          `${workload} c=${connections}${label} ${p.system}: ${
            p.opsPerSecond.toFixed(0)
          } ops/s, p50 ${p.p50Ms.toFixed(2)} ms, p99 ${p.p99Ms.toFixed(2)} ms, p99.9 ${
            p.p999Ms.toFixed(2)
          } ms, ${p.errors} errors, server CPU ${p.serverCpuSeconds.toFixed(2)} s, wrk CPU ${
            p.wrkCpuSeconds.toFixed(2)
          } s, other CPU ${p.otherCpuSeconds.toFixed(2)} s; settled ${
            (settled.waitedMs / 1000).toFixed(1)
          } s before`,
        );
      }
    }
    if (waits.length > 0) notes.push(settleNote(waits, restless));
  } finally {
    await Promise.all(clusters.map((c) => c.stop()));
  }
  return points;
}

/**
 * The points of a run in the order they are measured: each workload at each concurrency, and
 * with `--repeat` its rounds back to back, so that they meet nearly the same machine and store.
 */
export function pointPlan(
  opts: Pick<Options, "workloads" | "connections" | "repeat">,
): { workload: string; connections: number; round?: number }[] {
  const plan = [];
  for (const workload of opts.workloads) {
    for (const connections of opts.connections) {
      for (let round = 1; round <= opts.repeat; round++) {
        plan.push(opts.repeat === 1 ? { workload, connections } : { workload, connections, round });
      }
    }
  }
  return plan;
}

function settleNote(waitsMs: number[], restless: number): string {
  const sorted = [...waitsMs].sort((a, b) => a - b);
  const s = (ms: number) => (ms / 1000).toFixed(1);
  const d = SETTLE_DEFAULTS;
  return `before each point: \`sync\`, then until each cluster's servers used under ` +
    `${d.busyShareMax * 100}% of one core for ${d.quietWindows} × ${s(d.windowMs)} s ` +
    `with no snapshot in progress or image put off on a raftkv node ` +
    `(at most ${d.maxMs / 1000} s): waited ${s(sorted[0]!)}–${s(sorted.at(-1)!)} s, median ` +
    `${s(sorted[Math.floor(sorted.length / 2)]!)} s` +
    (restless > 0 ? `; ${restless} point(s) measured without quiet` : "");
}

function followerIndexes(cluster: BenchCluster, leader: number): number[] {
  return cluster.nodes().map((n) => n.index).filter((i) => i !== leader);
}

/** Waits until every node has applied at least what the leader had applied when called. */
async function waitAllApplied(cluster: BenchCluster, timeoutMs: number): Promise<void> {
  const leader = await cluster.waitForLeader(30_000);
  const target = (await cluster.views()).find((v) => v.index === leader)?.appliedIndex ?? 0;
  await waitFor(`${cluster.system} nodes to apply index ${target}`, async () => {
    const views = await cluster.views();
    return views.length === cluster.nodes().length && views.every((v) => v.appliedIndex >= target)
      ? true
      : undefined;
  }, { timeoutMs, intervalMs: 250 });
}

/**
 * raftkv: polls every node's /status while `during` runs and times each snapshot, from the first
 * poll that saw a snapshot due (appliedIndex past the node's next point: snapshot_schedule.ts) to
 * the first poll that saw a new snapshotIndex (a poll stalled by a snapshot that blocks the node
 * counts in full).
 */
async function watchRaftkvSnapshots<T>(
  cluster: RaftkvCluster,
  during: Promise<T>,
): Promise<{ value: T; seconds: number[] }> {
  let finished = false;
  const value = during.finally(() => {
    finished = true;
  });
  const seconds: number[] = [];
  const nodeCount = cluster.nodes().length;
  const watchers = Array.from({ length: nodeCount }, async (_, i) => {
    let prev: number | undefined;
    let pendingSince: number | undefined;
    let lastAnswer = performance.now();
    // Bounded by `during` (itself bounded by wrk's duration and watchdog).
    while (!finished) {
      const s = (await cluster.snapshotIndexes())[i];
      const now = performance.now();
      if (s !== undefined) {
        if (prev === undefined) {
          prev = s.snapshot;
        } else if (s.snapshot !== prev) {
          seconds.push((now - (pendingSince ?? lastAnswer)) / 1000);
          prev = s.snapshot;
          pendingSince = undefined;
        } else if (
          pendingSince === undefined &&
          snapshotDue(prev, s.applied, snapshotPhase(s.id, RAFTKV_SNAPSHOT_COUNT))
        ) {
          pendingSince = now;
        }
        lastAnswer = now;
      }
      await sleep(25);
    }
  });
  const v = await value;
  await Promise.all(watchers);
  return { value: v, seconds };
}

async function runScaleFor(
  cluster: AnyCluster,
  opts: Options,
  root: string,
): Promise<ScaleResult> {
  const result: ScaleResult = {
    system: cluster.system,
    keys: opts.keys,
    loadOk: undefined,
    loadSeconds: undefined,
    loadErrors: undefined,
    loadErrorDetail: "",
    leaderIndex: undefined,
    rssBytes: [],
    peakRssBytes: [],
    rssIdleBytes: [],
    idleSeconds: SCALE_IDLE_SECONDS,
    dataDirBytes: [],
    snapshotBytes: undefined,
    snapshotSeconds: undefined,
    snapshotMethod: cluster.system === "raftkv"
      ? "the largest image of the whole store the leader took during the run (its log)"
      : "`etcdctl snapshot save` from the leader (the full backend, as a new member receives it)",
    restartToHealthySeconds: undefined,
    catchUpSeconds: undefined,
    catchUpTargetIndex: undefined,
    catchUpBySnapshot: undefined,
    duringSnapshotOpsPerSecond: undefined,
    duringSnapshotP99Ms: undefined,
    duringSnapshotErrors: undefined,
    duringSnapshotErrorDetail: "",
    snapshotsSeenDuringLoad: undefined,
    changeSets: [],
    termAtStart: undefined,
    termBefore: undefined,
    termAfter: undefined,
    errors: [],
  };
  const step = async (name: string, fn: () => Promise<void>) => {
    if (wasInterrupted()) return;
    log(`${cluster.system}: ${name}`);
    try {
      await fn();
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      // The whole message (a log tail, say) on the console; its first line in the report.
      log(`${cluster.system}: ${name} failed: ${text}`);
      result.errors.push(`${name} failed: ${text.split("\n")[0]}`);
    }
  };

  let ownImages = 0;
  result.termAtStart = maxTerm(await cluster.views());
  await step(`loading ${opts.keys} keys of ${opts.valueBytes} bytes (64 connections)`, async () => {
    const { run, seconds } = await loadKeys(cluster, {
      prefix: "s",
      count: opts.keys,
      valueBytes: opts.valueBytes,
      connections: 64,
      timeoutSeconds: opts.timeoutSeconds,
      maxSeconds: opts.loadSecondsMax,
    });
    result.loadOk = run.result.load.ok;
    result.loadSeconds = seconds;
    result.loadErrors = errorCount(run.result);
    result.loadErrorDetail = errorDetail(run.result);
    log(
      `${cluster.system}: ${result.loadOk} keys in ${
        seconds.toFixed(1)
      } s, ${result.loadErrors} errors`,
    );
    await waitAllApplied(cluster, 300_000);
  });

  await step("memory and disk", async () => {
    result.leaderIndex = await cluster.waitForLeader(30_000);
    result.rssBytes = cluster.pids().map((pid) => rssBytes(pid) ?? 0);
    result.peakRssBytes = cluster.pids().map((pid) => peakRssBytes(pid) ?? 0);
    // Both systems collect garbage lazily: the same pause for each, then a second reading.
    await sleep(SCALE_IDLE_SECONDS * 1000);
    result.rssIdleBytes = cluster.pids().map((pid) => rssBytes(pid) ?? 0);
    result.dataDirBytes = await Promise.all(cluster.nodes().map((n) => dirBytes(n.dataDir)));
  });

  await step(
    `writes at 64 connections for ${opts.durationSeconds} s while a snapshot is taken`,
    async () => {
      const leader = await cluster.waitForLeader(30_000);
      result.termBefore = maxTerm(await cluster.views());
      const load = runWrk({
        url: cluster.nodes()[leader]!.clientUrl,
        script: cluster.luaScript,
        scriptArgs: { mode: "put", prefix: "snapload-", value_bytes: opts.valueBytes },
        connections: 64,
        threads: opts.wrkThreads,
        durationSeconds: opts.durationSeconds,
        timeoutSeconds: opts.timeoutSeconds,
      });
      let run: WrkRun;
      if (cluster instanceof RaftkvCluster) {
        const watched = await watchRaftkvSnapshots(cluster, load);
        run = watched.value;
        result.snapshotsSeenDuringLoad = watched.seconds.length;
        // A raftkv snapshot is usually a change set; now and then an image of the whole store,
        // which is what compares with etcd's backend file.
        const taken = parseSnapshotLog(await cluster.logText(leader));
        const images = taken.filter((t) => t.kind === "image");
        const largest = images.reduce<SnapshotTaken | undefined>(
          (a, t) => a === undefined || t.bytes > a.bytes ? t : a,
          undefined,
        );
        result.snapshotBytes = largest?.bytes;
        result.snapshotSeconds = largest?.seconds;
        result.changeSets = taken.filter((t) => t.kind === "change set");
        result.snapshotMethod += ` (${images.length} images in all)`;
        ownImages = images.length;
      } else {
        await sleep(Math.min(3000, opts.durationSeconds * 250));
        const file = `${root}/etcd-snapshot.db`;
        const snap = await cluster.saveSnapshot(leader, file);
        result.snapshotSeconds = snap.seconds;
        result.snapshotBytes = snap.bytes;
        await Deno.remove(file).catch(() => {});
        run = await load;
      }
      result.duringSnapshotOpsPerSecond = opsPerSecond(run.result);
      result.duringSnapshotP99Ms = run.result.latencyUs.p99 / 1000;
      result.duringSnapshotErrors = errorCount(run.result);
      result.duringSnapshotErrorDetail = errorDetail(run.result);
      result.termAfter = maxTerm(await cluster.views());
    },
  );

  await step("restart of a follower (SIGTERM, start, until /health is 200)", async () => {
    const leader = await cluster.waitForLeader(30_000);
    const follower = followerIndexes(cluster, leader)[0]!;
    result.restartToHealthySeconds = cluster instanceof RaftkvCluster
      ? await cluster.restartNode(follower, 300_000)
      : await cluster.restartMember(follower, 300_000);
  });

  await step("wiped follower replaced by an empty node (until caught up)", async () => {
    const leader = await cluster.waitForLeader(60_000);
    const leaderPid = cluster.nodes()[leader]!.pid;
    const follower = followerIndexes(cluster, leader)[0]!;
    const r = cluster instanceof RaftkvCluster
      ? await cluster.replaceWithEmptyNode(follower, 300_000)
      : await cluster.replaceWithEmptyMember(follower, 300_000);
    result.catchUpSeconds = r.seconds;
    result.catchUpTargetIndex = r.targetIndex;
    result.catchUpBySnapshot = r.bySnapshot;
    if (!(cluster instanceof RaftkvCluster)) return;
    // The leader's own images come when its chain calls for one, at whatever size the store had
    // then; the one it builds for a new member is of the whole store, like etcd's backend file.
    // The replaced node left the list: the leader's index may have moved.
    const leaderNow = cluster.nodes().findIndex((n) => n.pid === leaderPid);
    const sent = parseSentImageLog(await cluster.logText(leaderNow)).at(-1);
    if (sent === undefined) return;
    const own = result.snapshotBytes === undefined
      ? "it had taken none of its own by then"
      : `its largest own image by the writes above, written to a file, ${
        formatBytes(result.snapshotBytes)
      } in ${formatNumber(result.snapshotSeconds)} s (${ownImages} by then)`;
    result.snapshotMethod = "the image of the whole store the leader built in memory for the " +
      `wiped follower (its log); ${own}`;
    result.snapshotBytes = sent.bytes;
    result.snapshotSeconds = sent.seconds;
  });
  return result;
}

async function runScale(
  opts: Options,
  root: string,
  notes: string[],
  source: Source,
): Promise<ScaleResult[]> {
  const results: ScaleResult[] = [];
  // One system at a time: a million keys each, and neither disturbs the other's measurements.
  for (const system of opts.systems) {
    if (wasInterrupted()) break;
    const dir = `${root}/${system}`;
    await Deno.mkdir(dir);
    let cluster: AnyCluster;
    if (system === "raftkv") {
      log("starting raftkv (3 nodes)");
      cluster = await RaftkvCluster.start(dir, {
        main: opts.raftkvMain,
        portOffset: opts.raftkvPortOffset,
        ...(source === undefined ? {} : { source }),
      });
    } else {
      const version = await etcdVersion();
      if (version === undefined) {
        notes.push(`etcd is not installed, so raftkv runs alone (${ETCD_INSTALL_HINT})`);
        continue;
      }
      log(`starting etcd ${version} (3 members)`);
      cluster = await EtcdCluster.start(dir);
    }
    try {
      results.push(await runScaleFor(cluster, opts, dir));
    } finally {
      await cluster.stop();
      if (!opts.keep) await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
  return results;
}

async function main(argv: string[]): Promise<number> {
  let opts: Options;
  try {
    const parsed = parseOptions(argv);
    if (parsed === "help") {
      console.log(USAGE);
      return 0;
    }
    opts = parsed;
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? err.message : err}\n\n${USAGE}`);
    return 2;
  }
  if (which("wrk") === undefined) {
    console.error(`bench: wrk is not installed: ${WRK_INSTALL_HINT}`);
    return 1;
  }
  if (opts.systems.includes("raftkv")) {
    try {
      await Deno.stat(`${REPO_ROOT}/${opts.raftkvMain}`);
    } catch {
      console.error(
        `bench: ${REPO_ROOT}/${opts.raftkvMain} does not exist: nothing to start for raftkv`,
      );
      return 1;
    }
  }
  const notes: string[] = [];
  const started = new Date();
  const machineStart = machineCpuSeconds();
  const loadStart = loadAverage();
  const tmp = opts.keep
    ? { path: await Deno.makeTempDir({ prefix: "raftkv-bench-" }), remove: () => Promise.resolve() }
    : await makeTempDir("raftkv-bench-");
  log(`working in ${tmp.path}${opts.keep ? " (kept)" : ""}; load average ${loadStart}`);
  let report: string;
  try {
    // One copy of the raftkv sources for the whole run: the repository keeps changing under us.
    const source: Source = opts.systems.includes("raftkv")
      ? await snapshotSource(`${tmp.path}/raftkv-src`)
      : undefined;
    if (source !== undefined) log(`raftkv ${source.version} copied to ${source.dir}`);
    const points = opts.scale ? undefined : await runPoints(opts, tmp.path, notes, source);
    const scale = opts.scale ? await runScale(opts, tmp.path, notes, source) : undefined;
    const machineEnd = machineCpuSeconds();
    const machine = machineInfo();
    const info: RunInfo = {
      date: started.toISOString().replace(/\.\d+Z$/, "Z"),
      command: ["deno task bench", ...argv].join(" "),
      denoVersion: Deno.version.deno,
      raftkvVersion: source?.version,
      etcdVersion: opts.systems.includes("etcd") ? await etcdVersion() : undefined,
      wrkVersion: await wrkVersion(),
      cpus: machine.cpus,
      cpuModel: machine.cpuModel,
      memoryBytes: machine.memoryBytes,
      loadAverageStart: loadStart,
      loadAverageEnd: loadAverage(),
      machineBusyShare: (machineEnd.busy - machineStart.busy) /
        Math.max(1e-9, machineEnd.total - machineStart.total),
      dataDirFilesystem: filesystemType(tmp.path),
      durationSeconds: opts.durationSeconds,
      wrkThreads: opts.wrkThreads,
      valueBytes: opts.valueBytes,
      preloadedKeys: opts.preload,
      ...(opts.scale ? { scaleKeys: opts.keys } : {}),
      notes: [
        ...notes,
        ...(opts.quick ? ["--quick: a smoke run, too short for conclusions"] : []),
        ...(wasInterrupted() ? ["interrupted: the table is incomplete"] : []),
      ],
    };
    if (filesystemType(tmp.path) === "tmpfs") {
      info.notes.push("data directories are on tmpfs: fsync costs nothing there");
    }
    report = formatReport(info, {
      ...(points === undefined ? {} : { points }),
      ...(scale === undefined ? {} : { scale }),
    });
  } finally {
    await tmp.remove();
  }
  console.log(report);
  if (opts.out !== "-") {
    const out = opts.out.startsWith("/") ? opts.out : `${REPO_ROOT}/${opts.out}`;
    const existing = await Deno.readTextFile(out).catch(() => undefined);
    await Deno.writeTextFile(out, mergeReport(existing, opts.scale ? "scale" : "points", report));
    log(`report written to ${out}`);
  }
  return 0;
}

if (import.meta.main) {
  let code = 1;
  try {
    code = await main(Deno.args);
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? err.message : err}`);
  } finally {
    await runAllCleanups();
  }
  Deno.exit(code);
}
