/**
 * The benchmark report (bench/report.ts): number formats, the per-point table with its
 * raftkv/etcd ratio rows, and the --scale table.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import {
  cpuMicrosPerOp,
  extractSection,
  formatBytes,
  formatNumber,
  formatPointsTable,
  formatRatio,
  formatReport,
  formatScaleTable,
  median,
  medianPoints,
  mergeReport,
  parseSentImageLog,
  parseSnapshotLog,
  type PointResult,
  type RunInfo,
  type ScaleResult,
} from "../../bench/report.ts";

function point(overrides: Partial<PointResult>): PointResult {
  return {
    system: "raftkv",
    workload: "put-leader",
    connections: 64,
    opsPerSecond: 1000,
    p50Ms: 10,
    p99Ms: 40,
    p999Ms: 80,
    errors: 0,
    errorDetail: "",
    requests: 10000,
    serverCpuSeconds: 5,
    wrkCpuSeconds: 0.2,
    otherCpuSeconds: 1,
    durationSeconds: 10,
    termChanged: false,
    ...overrides,
  };
}

Deno.test("numbers: integers from 1000 up, three significant digits below, n/a when missing", () => {
  equal(formatNumber(12345.6), "12346");
  equal(formatNumber(123.4), "123");
  equal(formatNumber(12.34), "12.3");
  equal(formatNumber(1.234), "1.23");
  equal(formatNumber(0.01234), "0.012");
  equal(formatNumber(0), "0");
  equal(formatNumber(undefined), "n/a");
  equal(formatNumber(Number.NaN), "n/a");
});

Deno.test("ratios divide raftkv by etcd and refuse a zero divisor", () => {
  equal(formatRatio(500, 1000), "0.50×");
  equal(formatRatio(3000, 1000), "3.00×");
  equal(formatRatio(0.9996, 1), "1.00×");
  equal(formatRatio(10.66, 1), "10.66×");
  equal(formatRatio(1, 0), "n/a");
  equal(formatRatio(undefined, 1), "n/a");
});

Deno.test("bytes are shown in binary units", () => {
  equal(formatBytes(512), "512 B");
  equal(formatBytes(2048), "2.0 KiB");
  equal(formatBytes(300 * 1024 * 1024), "300.0 MiB");
  equal(formatBytes(3 * 1024 * 1024 * 1024), "3.00 GiB");
});

Deno.test("server CPU per operation: CPU seconds over successful operations", () => {
  // 5 s of CPU for 1000 ops/s over 10 s = 500 µs per op.
  equal(cpuMicrosPerOp(point({})), 500);
  equal(cpuMicrosPerOp(point({ opsPerSecond: 0 })), undefined);
});

Deno.test("points table: raftkv row, etcd row, then a raftkv/etcd ratio row per point", () => {
  const table = formatPointsTable([
    point({ system: "etcd", opsPerSecond: 2000, p99Ms: 20 }),
    point({ system: "raftkv", termChanged: true }),
    point({ system: "raftkv", connections: 1, errors: 4, errorDetail: "non-2xx 4" }),
  ]);
  const lines = table.split("\n");
  // header, separator, 3 rows for c=64 (etcd given first but raftkv printed first), 1 for c=1.
  equal(lines.length, 6);
  match(lines[2]!, /^\| put-leader \| 64 \| raftkv \(election\) \| 1000 \|/);
  match(lines[3]!, /^\| put-leader \| 64 \| etcd \| 2000 \|/);
  match(lines[4]!, /^\| put-leader \| 64 \| \*\*raftkv\/etcd\*\* \| 0.50× \| 1.00× \| 2.00× \|/);
  match(lines[5]!, /^\| put-leader \| 1 \| raftkv \| .* \| 4 \(non-2xx 4\) \|/);
  ok(lines.every((l) => l.split("|").length === lines[0]!.split("|").length));
});

Deno.test("--repeat: each figure's median over the rounds, errors summed, any election kept", () => {
  const rounds = [
    point({ round: 1, opsPerSecond: 900, p99Ms: 50, errors: 1, errorDetail: "timeout 1" }),
    point({ round: 2, opsPerSecond: 1200, p99Ms: 20, termChanged: true }),
    point({ round: 3, opsPerSecond: 1000, p99Ms: 90, errors: 2, errorDetail: "non-2xx 2" }),
    point({ system: "etcd", round: 1, opsPerSecond: 400 }),
    point({ system: "etcd", round: 2, opsPerSecond: 600 }),
  ];
  const [raftkv, etcd] = medianPoints(rounds);
  equal(raftkv!.system, "raftkv");
  // Each figure on its own: the median ops/s is round 3's, the median p99 round 1's.
  equal(raftkv!.opsPerSecond, 1000);
  equal(raftkv!.p99Ms, 50);
  equal(raftkv!.errors, 3);
  equal(raftkv!.errorDetail, "timeout 1; non-2xx 2");
  equal(raftkv!.termChanged, true);
  equal(raftkv!.round, undefined);
  // An even count: the mean of the middle two.
  equal(etcd!.opsPerSecond, 500);
  equal(etcd!.termChanged, false);
  equal(median([]), NaN);
  // Other points keep their own groups.
  equal(medianPoints([...rounds, point({ connections: 1, round: 1 })]).length, 3);
});

Deno.test("--repeat: the report gives the medians with their ratios, then every round", () => {
  const report = formatReport(INFO, {
    points: [
      point({ round: 1, opsPerSecond: 900 }),
      point({ system: "etcd", round: 1, opsPerSecond: 450 }),
      point({ round: 2, opsPerSecond: 1100, termChanged: true }),
      point({ system: "etcd", round: 2, opsPerSecond: 550 }),
    ],
  });
  match(report, /median of its 2 rounds/);
  const [medians, every] = report.split("### Every round");
  match(medians!, /\| put-leader \| 64 \| raftkv \(election\) \| 1000 \|/);
  match(medians!, /\| put-leader \| 64 \| \*\*raftkv\/etcd\*\* \| 2\.00× \|/);
  match(every!, /\| put-leader \| 64 \| raftkv, round 1 \| 900 \|/);
  match(every!, /\| put-leader \| 64 \| etcd, round 2 \| 550 \|/);
  match(every!, /\| raftkv, round 2 \(election\) \| 1100 \|/);
  // A ratio row per round.
  equal(every!.split("**raftkv/etcd**").length - 1, 2);
  // One round only: a single table, as before.
  ok(!formatReport(INFO, { points: [point({})] }).includes("Every round"));
});

const scale = (system: "raftkv" | "etcd", rss: number): ScaleResult => ({
  system,
  keys: 1_000_000,
  loadOk: 1_000_000,
  loadSeconds: 100,
  loadErrors: 0,
  loadErrorDetail: "",
  leaderIndex: 1,
  rssBytes: [rss, rss, rss],
  peakRssBytes: [2 * rss, 2 * rss, 2 * rss],
  rssIdleBytes: [rss / 2, rss / 2, rss / 2],
  idleSeconds: 30,
  dataDirBytes: [],
  snapshotBytes: 300 * 1024 * 1024,
  snapshotSeconds: 2,
  snapshotMethod: "polled",
  restartToHealthySeconds: 3,
  catchUpSeconds: 10,
  catchUpTargetIndex: 1_000_010,
  catchUpBySnapshot: system === "raftkv",
  duringSnapshotOpsPerSecond: 1000,
  duringSnapshotP99Ms: 50,
  duringSnapshotErrors: system === "raftkv" ? 3 : 0,
  duringSnapshotErrorDetail: system === "raftkv" ? "timeout 3" : "",
  snapshotsSeenDuringLoad: 2,
  changeSets: system === "raftkv"
    ? [{ kind: "change set", bytes: 2 * 1024 * 1024, seconds: 0.1 }, {
      kind: "change set",
      bytes: 4 * 1024 * 1024,
      seconds: 0.3,
    }]
    : [],
  termAtStart: 2,
  termBefore: 2,
  termAfter: system === "raftkv" ? 3 : 2,
  errors: [],
});

Deno.test("scale table: one row per figure with both systems and their ratio", () => {
  const table = formatScaleTable([
    scale("raftkv", 200 * 1024 * 1024),
    scale("etcd", 100 * 1024 * 1024),
  ]);
  match(table, /^\| figure \| raftkv \| etcd \| raftkv\/etcd \|$/m);
  match(table, /^\| load ops\/s \| 10000 \| 10000 \| 1.00× \|$/m);
  match(table, /^\| VmRSS total right after the load \| 600\.0 MiB \| 300\.0 MiB \| 2.00× \|$/m);
  match(
    table,
    /^\| VmRSS per node right after the load \| 200\.0 MiB \/ 200\.0 MiB \(leader\) \/ 200\.0 MiB \| /m,
  );
  match(table, /^\| peak VmRSS summed over the nodes \| 1\.17 GiB \| 600\.0 MiB \| 2.00× \|$/m);
  match(table, /^\| VmRSS total after the idle pause \| 300\.0 MiB \| 150\.0 MiB \| 2.00× \|$/m);
  match(table, /^\| write errors during snapshot \| 3 \(timeout 3\) \| 0 \| {2}\|$/m);
  match(table, /^\| data dir per node \| n\/a \| n\/a \| {2}\|$/m);
  match(
    table,
    /^\| wiped follower caught up by \| snapshot \(to index 1000010\) \| log replay \(to index 1000010\) \| {2}\|$/m,
  );
  match(table, /election during snapshot \(term before → after\) \| yes \(2 → 3\) \| no \(2 → 2\)/);
});

const INFO: RunInfo = {
  date: "2026-11-26T07:00:00Z",
  command: "deno task bench --quick",
  denoVersion: "2.9.6",
  raftkvVersion: "commit abc1234",
  etcdVersion: "3.4.23",
  wrkVersion: "wrk 4.1.0",
  cpus: 2,
  cpuModel: "AMD EPYC",
  memoryBytes: 24 * 1024 * 1024 * 1024,
  loadAverageStart: "1.00 0.50 0.20",
  loadAverageEnd: "2.00 1.00 0.40",
  machineBusyShare: 0.9,
  dataDirFilesystem: "ext4",
  durationSeconds: 3,
  wrkThreads: 1,
  valueBytes: 256,
  preloadedKeys: 200,
  notes: ["a note"],
};

Deno.test("the report header names the date, versions, machine and its load", () => {
  const report = formatReport(INFO, { points: [point({})] });
  match(report, /date: 2026-11-26T07:00:00Z/);
  match(report, /Deno 2\.9\.6; raftkv commit abc1234; etcd 3\.4\.23; wrk 4\.1\.0/);
  match(report, /2 cores \(AMD EPYC\), 24\.0 GiB memory; data directories on ext4/);
  match(report, /90% of 2 cores busy on average/);
  match(report, /- a note/);
  match(report, /\| put-leader \| 64 \| raftkv \|/);
});

Deno.test("results file: a run replaces its own section and keeps the other one", () => {
  const first = mergeReport(undefined, "points", "## points of run 1");
  equal(extractSection(first, "points"), "## points of run 1");
  equal(extractSection(first, "scale"), undefined);
  const second = mergeReport(first, "scale", "## scale of run 2");
  equal(extractSection(second, "points"), "## points of run 1");
  equal(extractSection(second, "scale"), "## scale of run 2");
  const third = mergeReport(second, "points", "## points of run 3");
  equal(extractSection(third, "points"), "## points of run 3");
  equal(extractSection(third, "scale"), "## scale of run 2");
  // Points come first whichever ran last; nothing is duplicated.
  ok(third.indexOf("points of run 3") < third.indexOf("scale of run 2"));
  equal(third.split("<!-- bench:points -->").length, 2);
  // A file written by hand (no markers) is replaced rather than mangled.
  equal(extractSection(mergeReport("# old table", "points", "new"), "points"), "new");
});

Deno.test("scale: snapshots are read from a raftkv log, and change sets summed up in the table", () => {
  const log = [
    "2026-11-26T08:13:48.636Z info  raftkv-1: snapshot at index 40051: change set of 2793384 bytes in 114 ms",
    "2026-11-26T08:13:49.000Z info  raftkv-1: Saved snapshot /x.snap (2799285 bytes)",
    "2026-11-26T08:13:50.160Z info  raftkv-1: snapshot at index 50083: image of 279000000 bytes in 3140 ms",
  ].join("\n");
  deepEqual(parseSnapshotLog(log), [
    { kind: "change set", bytes: 2793384, seconds: 0.114 },
    { kind: "image", bytes: 279000000, seconds: 3.14 },
  ]);
  deepEqual(parseSnapshotLog("no snapshots here"), []);
  // The image a leader builds for a follower is told apart from its own.
  const sent =
    "2026-11-28T02:18:31.000Z info  raftkv-2: snapshot for member 4 at index 1229503: image of 300000000 bytes built in 2500 ms";
  deepEqual(parseSnapshotLog(sent), []);
  deepEqual(parseSentImageLog(`${log}\n${sent}`), [{ bytes: 300000000, seconds: 2.5 }]);
  const table = formatScaleTable([scale("raftkv", 1), scale("etcd", 1)]);
  match(
    table,
    /^\| raftkv change sets over the run \(leader\) \| 2, mean 3\.0 MiB in 0\.20 s \| n\/a \|/m,
  );
});
