// A 3-node raftkv cluster on 127.0.0.1 in a temporary directory, started as SPEC.md says and with
// the V8 flags of `deno task start` (server/v8_flags.ts):
//   deno run -A --v8-flags=… main.ts start-server --id N --peers <3 peer URLs> --client-port P …
// with default settings (fsync on, --snapshot-count 10000). Node i listens for clients on
// i·10000+2379 and for peers on i·10000+2380 (the ports of `deno task cluster`), plus an optional
// offset. Slot 4, on 29379/29380 (`slotPortBase`), is used only by the scale run's
// wiped-and-re-added member.

import { fileURLToPath } from "node:url";
import { V8_FLAGS_ARG } from "../server/v8_flags.ts";
import {
  assertPortFree,
  HopelessWaitError,
  progressWatch,
  runCommand,
  ServerProcess,
  sleep,
  waitFor,
} from "./proc.ts";
import {
  type BenchCluster,
  type BenchNode,
  httpJson,
  httpRequest,
  type NodeView,
  slotPortBase,
} from "./system.ts";

/** Repository root: main.ts is started from here. */
export const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url)).replace(/\/$/, "");

/** raftkv's default --snapshot-count (SPEC.md). */
export const RAFTKV_SNAPSHOT_COUNT = 10000;

const NODES = 3;

export interface RaftkvOptions {
  /** Copy of the source tree to run (see snapshotSource); default the repository itself. */
  source?: { dir: string; version: string };
  /** Entry file relative to the repository root (default main.ts). */
  main?: string;
  /** Added to every port (default 0: 12379/12380, 22379/22380, 32379/32380). */
  portOffset?: number;
  timeoutMs?: number;
}

interface Node {
  slot: number;
  dataDir: string;
  proc: ServerProcess;
  args: string[];
}

interface StatusResponse {
  id?: number;
  role?: string;
  term?: number;
  leader?: number | null;
  commitIndex?: number;
  appliedIndex?: number;
  snapshotIndex?: number;
}

export class RaftkvCluster implements BenchCluster {
  readonly system = "raftkv" as const;
  readonly luaScript = "raftkv.lua";
  readonly version: string;
  #root: string;
  #main: string;
  #sourceDir: string;
  #offset: number;
  #nodes: Node[] = [];

  private constructor(root: string, version: string, options: RaftkvOptions) {
    this.#root = root;
    this.version = version;
    this.#main = options.main ?? "main.ts";
    this.#sourceDir = options.source?.dir ?? REPO_ROOT;
    this.#offset = options.portOffset ?? 0;
  }

  static async start(root: string, options: RaftkvOptions = {}): Promise<RaftkvCluster> {
    const main = options.main ?? "main.ts";
    const dir = options.source?.dir ?? REPO_ROOT;
    try {
      await Deno.stat(`${dir}/${main}`);
    } catch {
      throw new Error(`Cannot start raftkv: ${dir}/${main} does not exist`);
    }
    const version = options.source?.version ?? await raftkvVersion();
    const cluster = new RaftkvCluster(root, version, options);
    for (let slot = 1; slot <= NODES; slot++) {
      await assertPortFree(cluster.#clientPort(slot), "raftkv");
      await assertPortFree(cluster.#peerPort(slot), "raftkv");
    }
    const peers = [1, 2, 3].map((s) => cluster.#peerUrl(s)).join(",");
    for (let slot = 1; slot <= NODES; slot++) {
      await cluster.#spawn(slot, ["--peers", peers]);
    }
    try {
      await cluster.waitForLeader(options.timeoutMs ?? 60_000);
    } catch (err) {
      const tails = await cluster.logTails(8);
      await cluster.stop();
      throw new Error(`raftkv cluster did not start: ${(err as Error).message}\n${tails}`);
    }
    return cluster;
  }

  #clientPort(slot: number): number {
    return slotPortBase(slot) + 2379 + this.#offset;
  }
  #peerPort(slot: number): number {
    return slotPortBase(slot) + 2380 + this.#offset;
  }
  #clientUrl(slot: number): string {
    return `http://127.0.0.1:${this.#clientPort(slot)}`;
  }
  #peerUrl(slot: number): string {
    return `http://127.0.0.1:${this.#peerPort(slot)}`;
  }

  async #spawn(slot: number, extraArgs: string[]): Promise<Node> {
    const dataDir = `${this.#root}/raftkv-${slot}`;
    const args = [
      "run",
      "-A",
      V8_FLAGS_ARG,
      this.#main,
      "start-server",
      "--id",
      String(slot),
      ...extraArgs,
      "--client-port",
      String(this.#clientPort(slot)),
      "--data-dir",
      dataDir,
    ];
    const proc = await ServerProcess.spawn({
      name: `raftkv node ${slot}`,
      cmd: Deno.execPath(),
      args,
      cwd: this.#sourceDir,
      logFile: `${this.#root}/raftkv-${slot}.log`,
    });
    const node: Node = { slot, dataDir, proc, args };
    const existing = this.#nodes.findIndex((n) => n.slot === slot);
    if (existing >= 0) this.#nodes[existing] = node;
    else this.#nodes.push(node);
    return node;
  }

  nodes(): BenchNode[] {
    return this.#nodes.map((n, index) => ({
      index,
      clientUrl: this.#clientUrl(n.slot),
      pid: n.proc.pid,
      dataDir: n.dataDir,
    }));
  }

  async #status(slot: number): Promise<StatusResponse> {
    return await httpJson(`${this.#clientUrl(slot)}/status`, { timeoutMs: 3000 }) as StatusResponse;
  }

  async views(): Promise<NodeView[]> {
    const out: NodeView[] = [];
    await Promise.all(this.#nodes.map(async (n, index) => {
      try {
        const s = await this.#status(n.slot);
        const leader = this.#nodes.findIndex((x) => x.slot === s.leader);
        out.push({
          index,
          term: s.term ?? 0,
          leader: leader >= 0 ? leader : undefined,
          appliedIndex: s.appliedIndex ?? 0,
        });
      } catch { /* not answering: left out */ }
    }));
    return out.sort((a, b) => a.index - b.index);
  }

  waitForLeader(timeoutMs: number): Promise<number> {
    return waitFor("a raftkv leader that every node agrees on", async () => {
      const dead = this.#nodes.find((n) => n.proc.exited);
      if (dead !== undefined) {
        throw new HopelessWaitError(
          `raftkv node ${dead.slot} exited: ${await dead.proc.logTail(5)}`,
        );
      }
      const health = await Promise.all(
        this.#nodes.map((n) =>
          httpRequest(`${this.#clientUrl(n.slot)}/health`, { timeoutMs: 2000 })
        ),
      );
      if (health.some((h) => h.status !== 200)) return undefined;
      const views = await this.views();
      if (views.length !== this.#nodes.length) return undefined;
      const leader = views[0]?.leader;
      if (leader === undefined || !views.every((v) => v.leader === leader)) return undefined;
      return leader;
    }, { timeoutMs, intervalMs: 200 });
  }

  countKeys(_prefix: string): Promise<number | undefined> {
    // GET /kv?prefix= pages through items; counting 10^6 keys that way costs more than it tells.
    return Promise.resolve(undefined);
  }

  async readLength(nodeIndex: number, key: string): Promise<number | undefined> {
    const n = this.#nodes[nodeIndex]!;
    const r = await httpRequest(
      `${this.#clientUrl(n.slot)}/kv/${encodeURIComponent(key)}?consistency=serializable`,
    );
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new Error(`GET ${key}: HTTP ${r.status}: ${r.text.slice(0, 200)}`);
    return new TextEncoder().encode(r.text).length;
  }

  /**
   * True while a node has an image due (put off until it is idle) or a snapshot in progress, by
   * its metrics; a node that does not answer counts as having none.
   */
  async pendingWork(): Promise<boolean> {
    const busy = await Promise.all(this.#nodes.map(async (n) => {
      try {
        const r = await httpRequest(`${this.#clientUrl(n.slot)}/metrics`, { timeoutMs: 2000 });
        return /^raftkv_(image_due|snapshot_in_progress) 1$/m.test(r.text);
      } catch {
        return false;
      }
    }));
    return busy.some(Boolean);
  }

  /** snapshotIndex and appliedIndex of every node (undefined for a node that does not answer). */
  async snapshotIndexes(): Promise<
    ({ id: number; snapshot: number; applied: number } | undefined)[]
  > {
    return await Promise.all(this.#nodes.map(async (n) => {
      try {
        const s = await this.#status(n.slot);
        return { id: n.slot, snapshot: s.snapshotIndex ?? 0, applied: s.appliedIndex ?? 0 };
      } catch {
        return undefined;
      }
    }));
  }

  /** The whole log of a node (all its runs: the log file is appended to). */
  async logText(nodeIndex: number): Promise<string> {
    return await Deno.readTextFile(this.#nodes[nodeIndex]!.proc.logFile).catch(() => "");
  }

  /** Stops a node with SIGTERM and starts it again on its data; seconds until /health is 200. */
  async restartNode(nodeIndex: number, timeoutMs: number): Promise<number> {
    const n = this.#nodes[nodeIndex]!;
    await n.proc.stop(10_000);
    const t0 = performance.now();
    const extra = n.args.slice(n.args.indexOf("--id") + 2, n.args.indexOf("--client-port"));
    const restarted = await this.#spawn(n.slot, extra);
    await waitFor(`raftkv node ${n.slot} healthy after restart`, async () => {
      if (restarted.proc.exited) {
        throw new HopelessWaitError(
          `raftkv node ${n.slot} exited: ${await restarted.proc.logTail(10)}`,
        );
      }
      const h = await httpRequest(`${this.#clientUrl(n.slot)}/health`, { timeoutMs: 2000 });
      return h.status === 200 ? true : undefined;
    }, { timeoutMs, intervalMs: 20 });
    return (performance.now() - t0) / 1000;
  }

  /**
   * Replaces a node by a new, empty one on slot 4 (DELETE /cluster/members/<id>, wipe,
   * POST /cluster/members, start with --join) and measures the time from its start until it has
   * applied everything the leader had applied when it started (by snapshot: the leader's log is
   * compacted after every --snapshot-count entries).
   */
  async replaceWithEmptyNode(
    nodeIndex: number,
    timeoutMs: number,
  ): Promise<{ seconds: number; targetIndex: number; bySnapshot: boolean }> {
    const old = this.#nodes[nodeIndex]!;
    const leaderIndex = await this.waitForLeader(30_000);
    const api = this.#clientUrl(this.#nodes[leaderIndex]!.slot);
    await httpJson(`${api}/cluster/members/${old.slot}`, { method: "DELETE", timeoutMs: 30_000 });
    await old.proc.stop(10_000);
    await Deno.remove(old.dataDir, { recursive: true });
    this.#nodes.splice(nodeIndex, 1);

    const slot = 4;
    await assertPortFree(this.#clientPort(slot), "raftkv");
    await assertPortFree(this.#peerPort(slot), "raftkv");
    await httpJson(`${api}/cluster/members`, {
      method: "POST",
      body: JSON.stringify({ id: slot, peerURL: this.#peerUrl(slot) }),
      timeoutMs: 30_000,
    });
    const peers = this.#nodes.map((n) => `${n.slot}=${this.#peerUrl(n.slot)}`)
      .concat(`${slot}=${this.#peerUrl(slot)}`).join(",");
    const target = (await this.#status(this.#nodes[0]!.slot)).appliedIndex ?? 0;
    const t0 = performance.now();
    const node = await this.#spawn(slot, ["--peers", peers, "--join"]);
    const progress = progressWatch(`raftkv node ${slot} catching up`, 60_000);
    await waitFor(`new raftkv node to reach applied index ${target}`, async () => {
      if (node.proc.exited) {
        throw new HopelessWaitError(`raftkv node ${slot} exited: ${await node.proc.logTail(10)}`);
      }
      let s: StatusResponse | undefined;
      try {
        s = await this.#status(slot);
      } finally {
        progress(s?.appliedIndex);
      }
      return (s.appliedIndex ?? 0) >= target ? true : undefined;
    }, { timeoutMs, intervalMs: 20 });
    const seconds = (performance.now() - t0) / 1000;
    const bySnapshot = ((await this.#status(slot)).snapshotIndex ?? 0) > 0;
    return { seconds, targetIndex: target, bySnapshot };
  }

  pids(): number[] {
    return this.#nodes.map((n) => n.proc.pid);
  }

  deadMembers(): string[] {
    return this.#nodes.filter((n) => n.proc.exited).map((n) => `node ${n.slot}`);
  }

  async logTails(lines: number): Promise<string> {
    const parts = await Promise.all(
      this.#nodes.map(async (n) =>
        `--- raftkv node ${n.slot} (${n.proc.logFile})\n${await n.proc.logTail(lines)}`
      ),
    );
    return parts.join("\n");
  }

  async stop(): Promise<void> {
    await Promise.all(this.#nodes.map((n) => n.proc.stop(10_000)));
    await sleep(100);
  }
}

/** The commit of the working tree (raftkv has no version number yet). */
export async function raftkvVersion(): Promise<string> {
  try {
    const sha = (await runCommand("git", ["-C", REPO_ROOT, "rev-parse", "--short", "HEAD"])).trim();
    const dirty = (await runCommand("git", ["-C", REPO_ROOT, "status", "--porcelain", "--", "."]))
      .trim() !== "";
    return `commit ${sha}${dirty ? " (+ uncommitted changes)" : ""}`;
  } catch {
    return "unknown commit";
  }
}

/** Bound on the files copied by snapshotSource. */
const SOURCE_FILES_MAX = 10_000;

/**
 * Copies the working tree (tracked and untracked files that git does not ignore) to `dest`, so
 * that every node of a run, including nodes started half an hour later, runs the same code while
 * other developers keep editing the repository.
 */
export async function snapshotSource(dest: string): Promise<{ dir: string; version: string }> {
  const version = await raftkvVersion();
  const list = await runCommand("git", [
    "-C",
    REPO_ROOT,
    "ls-files",
    "-z",
    "--cached",
    "--others",
    "--exclude-standard",
  ]);
  const files = list.split("\0").filter((f) => f !== "");
  if (files.length > SOURCE_FILES_MAX) {
    throw new RangeError(
      `Cannot copy the source tree: ${files.length} files (max ${SOURCE_FILES_MAX})`,
    );
  }
  for (const rel of files) {
    const from = `${REPO_ROOT}/${rel}`;
    const info = await Deno.stat(from).catch(() => undefined);
    if (info === undefined || !info.isFile) continue; // deleted in the working tree
    const to = `${dest}/${rel}`;
    await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(from, to);
  }
  return { dir: dest, version };
}
