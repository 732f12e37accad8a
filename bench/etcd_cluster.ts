// A 3-member etcd 3.4 cluster on 127.0.0.1 with default settings, in a temporary directory.
//
// Member i (1-based) listens for clients on i·10000+2479 and for peers on i·10000+2480: away from
// etcd's defaults (2379/2380) so a user's own cluster is never touched, away from raftkv's
// i·10000+2379/2380, and below Linux's ephemeral port range (32768+). Slot 4, on 29479/29480
// (`slotPortBase`), is used only by the scale run's wiped-and-re-added member.

import {
  assertPortFree,
  HopelessWaitError,
  progressWatch,
  runCommand,
  ServerProcess,
  sleep,
  waitFor,
  which,
} from "./proc.ts";
import {
  base64,
  type BenchCluster,
  type BenchNode,
  httpJson,
  httpRequest,
  type NodeView,
  slotPortBase,
} from "./system.ts";

export const ETCD_INSTALL_HINT = "apt-get install etcd-server etcd-client";

const MEMBERS = 3;

function clientPort(slot: number): number {
  return slotPortBase(slot) + 2479;
}
function peerPort(slot: number): number {
  return slotPortBase(slot) + 2480;
}
function clientUrl(slot: number): string {
  return `http://127.0.0.1:${clientPort(slot)}`;
}
function peerUrl(slot: number): string {
  return `http://127.0.0.1:${peerPort(slot)}`;
}

/** "etcd Version: 3.4.23" -> "3.4.23"; undefined when etcd is not installed. */
export async function etcdVersion(): Promise<string | undefined> {
  if (which("etcd") === undefined) return undefined;
  const out = await runCommand("etcd", ["--version"], { timeoutMs: 10_000 });
  return out.match(/etcd Version:\s*(\S+)/)?.[1] ?? out.split("\n")[0]?.trim();
}

interface Member {
  slot: number;
  name: string;
  dataDir: string;
  proc: ServerProcess;
  /** etcd's member id, a decimal uint64 string as the JSON gateway prints it. */
  memberId: string;
}

interface EtcdStatus {
  memberId: string;
  leader: string;
  term: number;
  applied: number;
  dbSize: number;
}

interface StatusResponse {
  header?: { member_id?: string };
  leader?: string;
  raftTerm?: string;
  raftAppliedIndex?: string;
  raftIndex?: string;
  dbSize?: string;
}

export class EtcdCluster implements BenchCluster {
  readonly system = "etcd" as const;
  readonly luaScript = "etcd.lua";
  readonly version: string;
  #root: string;
  #token: string;
  #members: Member[] = [];

  private constructor(root: string, version: string) {
    this.#root = root;
    this.version = version;
    this.#token = `raftkv-bench-${crypto.randomUUID().slice(0, 8)}`;
  }

  /** Starts the cluster in `root` (an existing empty directory) and waits for a leader. */
  static async start(root: string, options: { timeoutMs?: number } = {}): Promise<EtcdCluster> {
    const version = await etcdVersion();
    if (version === undefined) {
      throw new Error(`etcd is not installed: ${ETCD_INSTALL_HINT}`);
    }
    for (let slot = 1; slot <= MEMBERS; slot++) {
      await assertPortFree(clientPort(slot), "etcd");
      await assertPortFree(peerPort(slot), "etcd");
    }
    const cluster = new EtcdCluster(root, version);
    const initial = [1, 2, 3].map((s) => `bench${s}=${peerUrl(s)}`).join(",");
    for (let slot = 1; slot <= MEMBERS; slot++) {
      await cluster.#spawn(slot, { initialCluster: initial, state: "new" });
    }
    try {
      await cluster.waitForLeader(options.timeoutMs ?? 30_000);
      for (const m of cluster.#members) m.memberId = (await cluster.#status(m.slot)).memberId;
    } catch (err) {
      const tails = await Promise.all(cluster.#members.map((m) => m.proc.logTail(5)));
      await cluster.stop();
      throw new Error(`etcd cluster did not start: ${(err as Error).message}\n${tails.join("\n")}`);
    }
    return cluster;
  }

  async #spawn(
    slot: number,
    options: { initialCluster: string; state: "new" | "existing" },
  ): Promise<Member> {
    const name = `bench${slot}`;
    const dataDir = `${this.#root}/etcd-${slot}`;
    const proc = await ServerProcess.spawn({
      name: `etcd ${name}`,
      cmd: "etcd",
      args: [
        `--name=${name}`,
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${clientUrl(slot)}`,
        `--advertise-client-urls=${clientUrl(slot)}`,
        `--listen-peer-urls=${peerUrl(slot)}`,
        `--initial-advertise-peer-urls=${peerUrl(slot)}`,
        `--initial-cluster=${options.initialCluster}`,
        `--initial-cluster-token=${this.#token}`,
        `--initial-cluster-state=${options.state}`,
        // The log format only (3.4's default capnslog prints a deprecation warning).
        "--logger=zap",
        "--log-outputs=stderr",
      ],
      dropEnvPrefixes: ["ETCD_", "ETCDCTL_"],
      logFile: `${this.#root}/etcd-${slot}.log`,
    });
    const existing = this.#members.findIndex((m) => m.slot === slot);
    const member: Member = { slot, name, dataDir, proc, memberId: "" };
    if (existing >= 0) {
      member.memberId = this.#members[existing]!.memberId;
      this.#members[existing] = member;
    } else {
      this.#members.push(member);
    }
    return member;
  }

  nodes(): BenchNode[] {
    return this.#members.map((m, index) => ({
      index,
      clientUrl: clientUrl(m.slot),
      pid: m.proc.pid,
      dataDir: m.dataDir,
    }));
  }

  async #status(slot: number): Promise<EtcdStatus> {
    const s = await httpJson(`${clientUrl(slot)}/v3/maintenance/status`, {
      method: "POST",
      body: "{}",
      timeoutMs: 3000,
    }) as StatusResponse;
    return {
      memberId: s.header?.member_id ?? "",
      leader: s.leader ?? "0",
      term: Number(s.raftTerm ?? 0),
      applied: Number(s.raftAppliedIndex ?? s.raftIndex ?? 0),
      dbSize: Number(s.dbSize ?? 0),
    };
  }

  async views(): Promise<NodeView[]> {
    const out: NodeView[] = [];
    await Promise.all(this.#members.map(async (m, index) => {
      try {
        const s = await this.#status(m.slot);
        const leader = this.#members.findIndex((x) => x.memberId === s.leader && x.memberId !== "");
        out.push({
          index,
          term: s.term,
          leader: leader >= 0 ? leader : undefined,
          appliedIndex: s.applied,
        });
      } catch { /* not answering: left out */ }
    }));
    return out.sort((a, b) => a.index - b.index);
  }

  waitForLeader(timeoutMs: number): Promise<number> {
    return waitFor("an etcd leader that every member agrees on", async () => {
      const statuses = await Promise.all(this.#members.map((m) => this.#status(m.slot)));
      const health = await Promise.all(
        this.#members.map((m) => httpRequest(`${clientUrl(m.slot)}/health`, { timeoutMs: 3000 })),
      );
      if (health.some((h) => h.status !== 200)) return undefined;
      const leader = statuses[0]?.leader;
      if (leader === undefined || leader === "0") return undefined;
      if (!statuses.every((s) => s.leader === leader)) return undefined;
      const index = statuses.findIndex((s) => s.memberId === leader);
      return index >= 0 ? index : undefined;
    }, { timeoutMs });
  }

  async countKeys(prefix: string): Promise<number | undefined> {
    const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    const r = await httpJson(`${clientUrl(this.#members[0]!.slot)}/v3/kv/range`, {
      method: "POST",
      body: JSON.stringify({ key: base64(prefix), range_end: base64(end), count_only: true }),
      timeoutMs: 30_000,
    }) as { count?: string };
    return Number(r.count ?? 0);
  }

  async readLength(nodeIndex: number, key: string): Promise<number | undefined> {
    const m = this.#members[nodeIndex]!;
    const r = await httpJson(`${clientUrl(m.slot)}/v3/kv/range`, {
      method: "POST",
      body: JSON.stringify({ key: base64(key), serializable: true }),
    }) as { kvs?: { value?: string }[] };
    const v = r.kvs?.[0]?.value;
    return v === undefined ? undefined : atob(v).length;
  }

  /**
   * etcd reports no background work the bench could wait for: its raft snapshots (every 100,000
   * entries) and backend commits show only as CPU, which the quiet wait watches anyway.
   */
  pendingWork(): Promise<boolean> {
    return Promise.resolve(false);
  }

  /** `etcdctl snapshot save` from a member: the full backend, as a new member would receive it. */
  async saveSnapshot(
    nodeIndex: number,
    file: string,
  ): Promise<{ seconds: number; bytes: number }> {
    if (which("etcdctl") === undefined) {
      throw new Error(`etcdctl is not installed: ${ETCD_INSTALL_HINT}`);
    }
    const m = this.#members[nodeIndex]!;
    const t0 = performance.now();
    await runCommand("etcdctl", [`--endpoints=${clientUrl(m.slot)}`, "snapshot", "save", file], {
      env: { ETCDCTL_API: "3" },
      timeoutMs: 600_000,
    });
    const seconds = (performance.now() - t0) / 1000;
    return { seconds, bytes: (await Deno.stat(file)).size };
  }

  /** Size of a member's backend file (member/snap/db), what a snapshot to a follower carries. */
  async backendBytes(nodeIndex: number): Promise<number> {
    const m = this.#members[nodeIndex]!;
    return (await Deno.stat(`${m.dataDir}/member/snap/db`)).size;
  }

  /** Stops a member with SIGTERM and starts it again on its data; seconds until /health is 200. */
  async restartMember(nodeIndex: number, timeoutMs: number): Promise<number> {
    const m = this.#members[nodeIndex]!;
    await m.proc.stop();
    const initial = this.#members.map((x) => `${x.name}=${peerUrl(x.slot)}`).join(",");
    const t0 = performance.now();
    await this.#spawn(m.slot, { initialCluster: initial, state: "new" });
    await waitFor(`etcd ${m.name} healthy after restart`, async () => {
      const h = await httpRequest(`${clientUrl(m.slot)}/health`, { timeoutMs: 2000 });
      return h.status === 200 && JSON.parse(h.text).health === "true" ? true : undefined;
    }, { timeoutMs, intervalMs: 20 });
    return (performance.now() - t0) / 1000;
  }

  /**
   * Replaces a member by a new, empty one (remove, wipe, add, start with state "existing") on slot
   * 4 and measures the time from its start until it has applied everything the leader had applied
   * when it started (it catches up by snapshot once the leader's log is compacted).
   */
  async replaceWithEmptyMember(
    nodeIndex: number,
    timeoutMs: number,
  ): Promise<{ seconds: number; targetIndex: number; bySnapshot: boolean }> {
    const old = this.#members[nodeIndex]!;
    const leaderIndex = await this.waitForLeader(30_000);
    const leader = this.#members[leaderIndex]!;
    const api = clientUrl(leader.slot);
    // etcd refuses to remove a voter while a recently (re)started member is not yet counted as
    // active ("unhealthy cluster", 503): retry for a while.
    await waitFor(`etcd to accept removing member ${old.name}`, async () => {
      const r = await httpRequest(`${api}/v3/cluster/member/remove`, {
        method: "POST",
        body: JSON.stringify({ ID: old.memberId }),
      });
      if (r.status === 200) return true;
      if (r.status === 503) return undefined;
      throw new Error(`member remove: HTTP ${r.status}: ${r.text.slice(0, 200)}`);
    }, { timeoutMs: 60_000, intervalMs: 500 });
    await old.proc.stop();
    await Deno.remove(old.dataDir, { recursive: true });
    this.#members.splice(nodeIndex, 1);

    const slot = 4;
    await assertPortFree(clientPort(slot), "etcd");
    await assertPortFree(peerPort(slot), "etcd");
    const added = await httpJson(`${api}/v3/cluster/member/add`, {
      method: "POST",
      body: JSON.stringify({ peerURLs: [peerUrl(slot)] }),
    }) as { member?: { ID?: string } };
    const newId = added.member?.ID ?? "";
    const initial = [...this.#members.map((x) => `${x.name}=${peerUrl(x.slot)}`)]
      .concat(`bench${slot}=${peerUrl(slot)}`).join(",");
    const target = (await this.#status(leader.slot)).applied;
    const t0 = performance.now();
    const member = await this.#spawn(slot, { initialCluster: initial, state: "existing" });
    member.memberId = newId;
    const progress = progressWatch(`etcd ${member.name} catching up`, 60_000);
    await waitFor(`new etcd member to reach applied index ${target}`, async () => {
      if (member.proc.exited) {
        throw new HopelessWaitError(`etcd ${member.name} exited: ${await member.proc.logTail(10)}`);
      }
      let s: EtcdStatus | undefined;
      try {
        s = await this.#status(slot);
      } finally {
        progress(s?.applied);
      }
      return s.applied >= target ? true : undefined;
    }, { timeoutMs, intervalMs: 20 });
    const seconds = (performance.now() - t0) / 1000;
    // etcd logs the backend it received from the leader; otherwise it replayed the log.
    const log = await Deno.readTextFile(member.proc.logFile).catch(() => "");
    const bySnapshot = /received and saved database snapshot|applied snapshot/.test(log);
    return { seconds, targetIndex: target, bySnapshot };
  }

  pids(): number[] {
    return this.#members.map((m) => m.proc.pid);
  }

  deadMembers(): string[] {
    return this.#members.filter((m) => m.proc.exited).map((m) => m.name);
  }

  async logTails(lines: number): Promise<string> {
    const parts = await Promise.all(
      this.#members.map(async (m) =>
        `--- ${m.name} (${m.proc.logFile})\n${await m.proc.logTail(lines)}`
      ),
    );
    return parts.join("\n");
  }

  async stop(): Promise<void> {
    // Followers first, one at a time: a leader that stops while its peers stop too waits for a
    // leadership transfer that cannot happen.
    const leaderIds = new Set<string>();
    await Promise.all(this.#members.map(async (m) => {
      try {
        leaderIds.add((await this.#status(m.slot)).leader);
      } catch { /* not answering */ }
    }));
    const ordered = [...this.#members].sort((a, b) =>
      Number(leaderIds.has(a.memberId)) - Number(leaderIds.has(b.memberId))
    );
    for (const m of ordered) await m.proc.stop();
    // Give the kernel a moment to release the ports before anything reuses them.
    await sleep(100);
  }
}
