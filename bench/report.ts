// Markdown report of a benchmark run (pure: formatting only, no I/O).

export type SystemName = "raftkv" | "etcd";

/** One measured point: one system, one workload, one concurrency. */
export interface PointResult {
  system: SystemName;
  workload: string;
  connections: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** Non-2xx answers plus socket errors. */
  errors: number;
  /** Their kinds, e.g. "non-2xx 12, timeout 3" (empty when none). */
  errorDetail: string;
  requests: number;
  /** utime + stime of the system's three server processes during the point. */
  serverCpuSeconds: number;
  wrkCpuSeconds: number;
  /** Busy CPU of the whole machine during the point minus servers and wrk (other work). */
  otherCpuSeconds: number;
  durationSeconds: number;
  /** True when a raft term changed during the point (an election happened). */
  termChanged: boolean;
  /** Which of a `--repeat` run's rounds measured it, from 1; absent when measured once. */
  round?: number;
}

export interface RunInfo {
  date: string;
  command: string;
  denoVersion: string;
  raftkvVersion: string | undefined;
  etcdVersion: string | undefined;
  wrkVersion: string;
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  loadAverageStart: string;
  loadAverageEnd: string;
  /** Busy share of the machine's CPU over the whole run, 0..1. */
  machineBusyShare: number | undefined;
  dataDirFilesystem: string;
  durationSeconds: number;
  wrkThreads: number;
  valueBytes: number;
  preloadedKeys: number;
  /** Set for a --scale run. */
  scaleKeys?: number;
  notes: string[];
}

/** Side-by-side results of the --scale run for one system; undefined fields were not measured. */
export interface ScaleResult {
  system: SystemName;
  keys: number;
  loadOk: number | undefined;
  loadSeconds: number | undefined;
  loadErrors: number | undefined;
  /** Their kinds, e.g. "non-2xx 12, timeout 3". */
  loadErrorDetail: string;
  /** Position of the leader among the nodes when memory was read (marked in the per-node rows). */
  leaderIndex: number | undefined;
  /** Right after the load. */
  rssBytes: number[];
  /** VmHWM right after the load: the most each node held at any moment of the load. */
  peakRssBytes: number[];
  /** After `idleSeconds` more without load: what stays resident once the collector caught up. */
  rssIdleBytes: number[];
  idleSeconds: number;
  dataDirBytes: number[];
  snapshotBytes: number | undefined;
  snapshotSeconds: number | undefined;
  snapshotMethod: string;
  restartToHealthySeconds: number | undefined;
  catchUpSeconds: number | undefined;
  catchUpTargetIndex: number | undefined;
  catchUpBySnapshot: boolean | undefined;
  duringSnapshotOpsPerSecond: number | undefined;
  duringSnapshotP99Ms: number | undefined;
  duringSnapshotErrors: number | undefined;
  duringSnapshotErrorDetail: string;
  snapshotsSeenDuringLoad: number | undefined;
  /** raftkv: change sets taken by the leader over the whole run (from its log). */
  changeSets: SnapshotTaken[];
  /** Raft term once the fresh cluster had its leader, before the load. */
  termAtStart: number | undefined;
  termBefore: number | undefined;
  termAfter: number | undefined;
  errors: string[];
}

/** One snapshot a raftkv node logged: "snapshot at index I: image|change set of N bytes in M ms". */
export interface SnapshotTaken {
  kind: "image" | "change set";
  bytes: number;
  seconds: number;
}

/**
 * The images a raftkv leader's log reports it built for followers ("snapshot for member F at index
 * I: image of N bytes built in M ms"), oldest first.
 */
export function parseSentImageLog(text: string): { bytes: number; seconds: number }[] {
  const pattern = /snapshot for member \d+ at index \d+: image of (\d+) bytes built in (\d+) ms/g;
  return [...text.matchAll(pattern)].map((m) => ({
    bytes: Number(m[1]),
    seconds: Number(m[2]) / 1000,
  }));
}

/** The snapshots a raftkv node's log reports, oldest first. */
export function parseSnapshotLog(text: string): SnapshotTaken[] {
  const out: SnapshotTaken[] = [];
  const pattern = /snapshot at index \d+: (image|change set) of (\d+) bytes in (\d+) ms/g;
  for (const m of text.matchAll(pattern)) {
    out.push({
      kind: m[1] as SnapshotTaken["kind"],
      bytes: Number(m[2]),
      seconds: Number(m[3]) / 1000,
    });
  }
  return out;
}

export function formatNumber(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "n/a";
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toString();
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return "0";
  return v.toPrecision(2);
}

/** raftkv/etcd as "0.42×"; "n/a" when either side is missing or the divisor is 0. */
export function formatRatio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
    return "n/a";
  }
  const r = a / b;
  // Two decimals across the usual range, so 0.996 reads 1.00× rather than 1.0×.
  return `${r >= 0.1 && r < 100 ? r.toFixed(2) : formatNumber(r)}×`;
}

/** Counts as integers; "n/a" when missing. */
export function formatCount(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? "n/a" : `${Math.round(v)}`;
}

export function formatBytes(v: number | undefined): string {
  if (v === undefined) return "n/a";
  if (v >= 1024 * 1024 * 1024) return `${(v / (1024 * 1024 * 1024)).toFixed(2)} GiB`;
  if (v >= 1024 * 1024) return `${(v / (1024 * 1024)).toFixed(1)} MiB`;
  if (v >= 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${v} B`;
}

/** Server CPU microseconds per successful operation. */
export function cpuMicrosPerOp(p: PointResult): number | undefined {
  const ops = p.opsPerSecond * p.durationSeconds;
  return ops > 0 ? (p.serverCpuSeconds * 1e6) / ops : undefined;
}

function row(cells: string[]): string {
  return `| ${cells.join(" | ")} |`;
}

const POINT_HEADER = [
  "workload",
  "conns",
  "system",
  "ops/s",
  "p50 ms",
  "p99 ms",
  "p99.9 ms",
  "errors",
  "server CPU s",
  "server CPU µs/op",
  "wrk CPU s",
  "other CPU s",
];

function pointCells(p: PointResult): string[] {
  return [
    formatNumber(p.opsPerSecond),
    formatNumber(p.p50Ms),
    formatNumber(p.p99Ms),
    formatNumber(p.p999Ms),
    p.errors === 0 || p.errorDetail === "" ? `${p.errors}` : `${p.errors} (${p.errorDetail})`,
    formatNumber(p.serverCpuSeconds),
    formatNumber(cpuMicrosPerOp(p)),
    formatNumber(p.wrkCpuSeconds),
    formatNumber(p.otherCpuSeconds),
  ];
}

/** Points grouped by `key`, groups and their members in the order first given. */
function groupBy(points: PointResult[], key: (p: PointResult) => string): PointResult[][] {
  const groups = new Map<string, PointResult[]>();
  for (const p of points) {
    const k = key(p);
    const group = groups.get(k);
    if (group === undefined) groups.set(k, [p]);
    else group.push(p);
  }
  return [...groups.values()];
}

/** The middle value, or the mean of the two middle values of an even count; NaN when empty. */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * One point per (workload, conns, system) of a `--repeat` run: each figure is the median of that
 * figure over the rounds, taken on its own (the median p99 and the median ops/s may come from
 * different rounds). Errors are summed and an election in any round is kept, so neither hides.
 */
export function medianPoints(points: PointResult[]): PointResult[] {
  return groupBy(points, (p) => `${p.workload}\u0000${p.connections}\u0000${p.system}`)
    .map((group) => {
      const of = (figure: (p: PointResult) => number) => median(group.map(figure));
      const details = group.map((p) => p.errorDetail).filter((d) => d !== "");
      return {
        system: group[0]!.system,
        workload: group[0]!.workload,
        connections: group[0]!.connections,
        opsPerSecond: of((p) => p.opsPerSecond),
        p50Ms: of((p) => p.p50Ms),
        p99Ms: of((p) => p.p99Ms),
        p999Ms: of((p) => p.p999Ms),
        errors: group.reduce((sum, p) => sum + p.errors, 0),
        errorDetail: details.join("; "),
        requests: of((p) => p.requests),
        serverCpuSeconds: of((p) => p.serverCpuSeconds),
        wrkCpuSeconds: of((p) => p.wrkCpuSeconds),
        otherCpuSeconds: of((p) => p.otherCpuSeconds),
        durationSeconds: of((p) => p.durationSeconds),
        termChanged: group.some((p) => p.termChanged),
      };
    });
}

/**
 * The results table: per (workload, conns) one row per system, then a `raftkv/etcd` row with
 * the ratio of each figure when both systems ran. Points keep the order in which they were given;
 * the points of a `--repeat` run's rounds get a group each, labelled with their round.
 */
export function formatPointsTable(points: PointResult[]): string {
  const lines = [row(POINT_HEADER), row(POINT_HEADER.map(() => "---"))];
  const groups = groupBy(points, (p) => `${p.workload}\u0000${p.connections}\u0000${p.round}`);
  for (const group of groups) {
    const order: SystemName[] = ["raftkv", "etcd"];
    const sorted = [...group].sort((a, b) => order.indexOf(a.system) - order.indexOf(b.system));
    for (const p of sorted) {
      const round = p.round === undefined ? "" : `, round ${p.round}`;
      const system = `${p.system}${round}${p.termChanged ? " (election)" : ""}`;
      lines.push(row([p.workload, `${p.connections}`, system, ...pointCells(p)]));
    }
    const r = group.find((p) => p.system === "raftkv");
    const e = group.find((p) => p.system === "etcd");
    if (r !== undefined && e !== undefined) {
      lines.push(row([
        r.workload,
        `${r.connections}`,
        "**raftkv/etcd**",
        formatRatio(r.opsPerSecond, e.opsPerSecond),
        formatRatio(r.p50Ms, e.p50Ms),
        formatRatio(r.p99Ms, e.p99Ms),
        formatRatio(r.p999Ms, e.p999Ms),
        "",
        formatRatio(r.serverCpuSeconds, e.serverCpuSeconds),
        formatRatio(cpuMicrosPerOp(r), cpuMicrosPerOp(e)),
        "",
        "",
      ]));
    }
  }
  return lines.join("\n");
}

function perNode(values: number[], format: (v: number) => string, leader?: number): string {
  if (values.length === 0) return "n/a";
  return values.map((v, i) => i === leader ? `${format(v)} (leader)` : format(v)).join(" / ");
}

function sum(values: number[]): number | undefined {
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0);
}

function withDetail(count: string, detail: string): string {
  return detail === "" ? count : `${count} (${detail})`;
}

/** The --scale table: one row per figure, columns raftkv, etcd and their ratio. */
export function formatScaleTable(results: ScaleResult[]): string {
  const r = results.find((x) => x.system === "raftkv");
  const e = results.find((x) => x.system === "etcd");
  const cols = [r, e].filter((x): x is ScaleResult => x !== undefined);
  const header = ["figure", ...cols.map((c) => c.system)];
  const both = r !== undefined && e !== undefined;
  if (both) header.push("raftkv/etcd");
  const lines = [row(header), row(header.map(() => "---"))];
  const add = (
    name: string,
    get: (s: ScaleResult) => number | undefined,
    format: (v: number | undefined) => string,
  ) => {
    const cells = [name, ...cols.map((c) => format(get(c)))];
    if (both) cells.push(formatRatio(get(r), get(e)));
    lines.push(row(cells));
  };
  const addText = (name: string, get: (s: ScaleResult) => string) => {
    const cells = [name, ...cols.map(get)];
    if (both) cells.push("");
    lines.push(row(cells));
  };
  add("keys written (2xx)", (s) => s.loadOk, formatCount);
  add("load time s", (s) => s.loadSeconds, formatNumber);
  add(
    "load ops/s",
    (s) =>
      s.loadOk !== undefined && s.loadSeconds !== undefined && s.loadSeconds > 0
        ? s.loadOk / s.loadSeconds
        : undefined,
    formatNumber,
  );
  addText(
    "load errors",
    (s) => withDetail(formatCount(s.loadErrors), s.loadErrorDetail),
  );
  addText(
    "raft term before → after the load (a change is an election)",
    (s) =>
      s.termAtStart === undefined || s.termBefore === undefined
        ? "n/a"
        : `${s.termAtStart} → ${s.termBefore}`,
  );
  addText(
    "VmRSS per node right after the load",
    (s) => perNode(s.rssBytes, formatBytes, s.leaderIndex),
  );
  add("VmRSS total right after the load", (s) => sum(s.rssBytes), formatBytes);
  addText(
    "peak VmRSS per node during the load (VmHWM)",
    (s) => perNode(s.peakRssBytes, formatBytes, s.leaderIndex),
  );
  add("peak VmRSS summed over the nodes", (s) => sum(s.peakRssBytes), formatBytes);
  addText(
    "VmRSS per node after the idle pause below",
    (s) => perNode(s.rssIdleBytes, formatBytes, s.leaderIndex),
  );
  add("VmRSS total after the idle pause", (s) => sum(s.rssIdleBytes), formatBytes);
  addText("idle pause before the second VmRSS reading", (s) => `${s.idleSeconds} s`);
  addText("data dir per node", (s) => perNode(s.dataDirBytes, formatBytes));
  add("snapshot size", (s) => s.snapshotBytes, formatBytes);
  add("snapshot time s", (s) => s.snapshotSeconds, formatNumber);
  addText("snapshot measured as", (s) => s.snapshotMethod);
  add("restarted follower: start to healthy s", (s) => s.restartToHealthySeconds, formatNumber);
  add("wiped follower: start to caught up s", (s) => s.catchUpSeconds, formatNumber);
  addText(
    "wiped follower caught up by",
    (s) =>
      s.catchUpBySnapshot === undefined
        ? "n/a"
        : `${s.catchUpBySnapshot ? "snapshot" : "log replay"} (to index ${s.catchUpTargetIndex})`,
  );
  add("write ops/s at 64 conns during snapshot", (s) => s.duringSnapshotOpsPerSecond, formatNumber);
  add("write p99 ms during snapshot", (s) => s.duringSnapshotP99Ms, formatNumber);
  addText(
    "write errors during snapshot",
    (s) => withDetail(formatCount(s.duringSnapshotErrors), s.duringSnapshotErrorDetail),
  );
  add("raftkv snapshots seen during that load", (s) => s.snapshotsSeenDuringLoad, formatCount);
  addText("raftkv change sets over the run (leader)", (s) => {
    if (s.system !== "raftkv") return "n/a";
    const n = s.changeSets.length;
    if (n === 0) return "none";
    const bytes = s.changeSets.reduce((a, c) => a + c.bytes, 0) / n;
    const seconds = s.changeSets.reduce((a, c) => a + c.seconds, 0) / n;
    return `${n}, mean ${formatBytes(bytes)} in ${formatNumber(seconds)} s`;
  });
  addText(
    "election during snapshot (term before → after)",
    (s) =>
      s.termBefore === undefined || s.termAfter === undefined
        ? "n/a"
        : `${s.termAfter !== s.termBefore ? "yes" : "no"} (${s.termBefore} → ${s.termAfter})`,
  );
  return lines.join("\n");
}

export function formatHeader(info: RunInfo, title: string): string {
  const gib = (info.memoryBytes / (1024 * 1024 * 1024)).toFixed(1);
  const busy = info.machineBusyShare === undefined
    ? "n/a"
    : `${(info.machineBusyShare * 100).toFixed(0)}% of ${info.cpus} cores busy on average`;
  const lines = [
    `## ${title}`,
    "",
    `- date: ${info.date}`,
    `- command: \`${info.command}\``,
    `- versions: Deno ${info.denoVersion}; raftkv ${info.raftkvVersion ?? "not run"}; etcd ${
      info.etcdVersion ?? "not run"
    }; ${info.wrkVersion}`,
    `- machine: ${info.cpus} cores (${info.cpuModel}), ${gib} GiB memory; data directories on ${info.dataDirFilesystem}`,
    `- machine load: load average ${info.loadAverageStart} at start, ${info.loadAverageEnd} at end; ${busy} during the run`,
    info.scaleKeys === undefined
      ? `- per point: ${info.durationSeconds} s of wrk (${info.wrkThreads} thread(s)), values of ${info.valueBytes} bytes, reads over ${info.preloadedKeys} preloaded keys`
      : `- scale: ${info.scaleKeys} keys of ${info.valueBytes} bytes written by wrk at 64 connections, then ${info.durationSeconds} s of writes at 64 connections while a snapshot is taken`,
  ];
  for (const n of info.notes) lines.push(`- ${n}`);
  return lines.join("\n");
}

export type ReportSection = "points" | "scale";

/** One section of bench/results.md: its own header (date, machine, load) and table. */
export function formatReport(
  info: RunInfo,
  parts: { points?: PointResult[]; scale?: ScaleResult[] },
): string {
  const title = parts.scale !== undefined
    ? "raftkv vs etcd: scale (--scale)"
    : "raftkv vs etcd: throughput and latency";
  const out = [formatHeader(info, title), ""];
  if (parts.points !== undefined && parts.points.length > 0) {
    out.push(
      "Servers: 3 nodes each on 127.0.0.1, default settings, fsync on. `server CPU s` is utime + " +
        "stime of the three server processes during the point; `other CPU s` is the rest of the " +
        "machine's busy time in that window (the idle other cluster, the harness, other users). " +
        "`(election)` marks a point during which the raft term changed. etcd is driven through " +
        "its v3 JSON gateway (HTTP/JSON translated to gRPC inside etcd), as raftkv is through its " +
        "REST API; etcd's own gRPC clients would see other figures.",
      "",
    );
    const rounds = Math.max(...parts.points.map((p) => p.round ?? 1));
    if (rounds === 1) out.push(formatPointsTable(parts.points), "");
    else {
      out.push(
        `Each figure is the median of its ${rounds} rounds, taken on its own; errors are summed. ` +
          "A point's rounds ran back to back, the systems' order alternating. Every round " +
          "follows the table.",
        "",
        formatPointsTable(medianPoints(parts.points)),
        "",
        "### Every round",
        "",
        formatPointsTable(parts.points),
        "",
      );
    }
  }
  if (parts.scale !== undefined && parts.scale.length > 0) {
    out.push(formatScaleTable(parts.scale), "");
    for (const s of parts.scale) {
      for (const err of s.errors) out.push(`- ${s.system}: ${err}`);
    }
    out.push("");
  }
  return out.join("\n");
}

const FILE_TITLE = "# raftkv vs etcd: cluster benchmark (`deno task bench`)";

function marker(section: ReportSection, end: boolean): string {
  return `<!-- ${end ? "/" : ""}bench:${section} -->`;
}

/** The text of one section of a results file, if it has it. */
export function extractSection(file: string, section: ReportSection): string | undefined {
  const begin = file.indexOf(marker(section, false));
  const end = file.indexOf(marker(section, true));
  if (begin < 0 || end < begin) return undefined;
  return file.slice(begin + marker(section, false).length, end).trim();
}

/**
 * The results file with `section` replaced by `text` and the other section kept from `existing`,
 * so the latest normal run and the latest --scale run live side by side in one file.
 */
export function mergeReport(
  existing: string | undefined,
  section: ReportSection,
  text: string,
): string {
  const parts: string[] = [FILE_TITLE, ""];
  for (const s of ["points", "scale"] as const) {
    const body = s === section ? text.trim() : existing && extractSection(existing, s);
    if (body === undefined || body === "") continue;
    parts.push(marker(s, false), "", body, "", marker(s, true), "");
  }
  return parts.join("\n");
}
