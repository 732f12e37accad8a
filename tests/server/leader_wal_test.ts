// The leader writes its WAL beside the Ready loop (RaftServer#handleLeaderReady): a write is
// answered once its entry is in the WAL of a majority of voters, which may be both followers'
// while the leader's own write is still running, and never a minority's. Three RaftServers in one
// process, with an in-memory transport and real WALs, and a gate held on the leader's WAL writes.
import assert from "node:assert/strict";
import { MemoryStorage, type Message, Node, StateType } from "../../raft/mod.ts";
import { silentLogger } from "../../raft/logger.ts";
import { Wal } from "../../wal/mod.ts";
import { Snapshotter } from "../../snap/mod.ts";
import { encodeCommand, type KvResult, KvStore } from "../../kv/mod.ts";
import { Members } from "../../server/members.ts";
import { createServerMetrics } from "../../server/metrics.ts";
import { RaftServer } from "../../server/raft_server.ts";
import { SnapshotChain } from "../../server/snapshot_chain.ts";
import type { HttpTransport } from "../../transport/mod.ts";
import { until } from "../transport/harness.ts";

const IDS = [1, 2, 3];
const CLUSTER_ID = "leaderwaltest0001";

interface Cluster {
  servers: Map<number, RaftServer>;
  wals: Map<number, Wal>;
  /** Messages between these two nodes (either way) are dropped while the pair is listed. */
  cut: Set<string>;
  /**
   * Holds every WAL save of node `id` until `release()`; with `entriesOnly`, only the saves that
   * carry entries (a heartbeat's commit index goes on).
   */
  hold(id: number, options?: { entriesOnly?: boolean }): { release(): void };
  /** The entry indexes of each WAL save of node `id` that has ended, in order. */
  saved(id: number): number[][];
  close(): Promise<void>;
}

/** Ticks that never come (23 days): node 1 campaigns, and nothing happens on a clock. */
const NO_TICKS_MS = 2_000_000_000;

async function startCluster(options?: { tickMs?: number }): Promise<Cluster> {
  const tickMs = options?.tickMs ?? 10;
  const root = await Deno.makeTempDir({ prefix: "raftkv-leader-wal-" });
  const servers = new Map<number, RaftServer>();
  const wals = new Map<number, Wal>();
  const gates = new Map<
    number,
    { held: Promise<void>; entriesOnly: boolean; release(): void }
  >();
  const cut = new Set<string>();
  const saved = new Map<number, number[][]>(IDS.map((id) => [id, []]));
  const deliver = (message: Message) => {
    if (cut.has(`${message.from}-${message.to}`) || cut.has(`${message.to}-${message.from}`)) {
      return;
    }
    // Later, like a network: never inside the sender's own Ready handling.
    setTimeout(() => servers.get(message.to)?.receive(message), 0);
  };
  for (const id of IDS) {
    const dir = `${root}/node-${id}`;
    const wal = await Wal.create(`${dir}/wal`, { metadata: { nodeId: id, clusterId: CLUSTER_ID } });
    const save = wal.save.bind(wal);
    wal.save = async (hardState, entries, options) => {
      const gate = gates.get(id);
      if (gate !== undefined && (!gate.entriesOnly || entries.length > 0)) await gate.held;
      await save(hardState, entries, options);
      if (entries.length > 0) saved.get(id)!.push(entries.map((entry) => entry.index));
    };
    wals.set(id, wal);
    const storage = new MemoryStorage();
    const node = new Node({
      id,
      electionTicks: 10,
      heartbeatTicks: 1,
      storage,
      checkQuorum: true,
      preVote: true,
      readOnlyOption: "safe",
      random: Math.random,
      logger: silentLogger,
    });
    node.bootstrap(IDS);
    const transport = {
      send: (messages: Message[]) => messages.forEach(deliver),
      addPeer: () => {},
      removePeer: () => {},
    } as unknown as HttpTransport;
    servers.set(
      id,
      new RaftServer({
        id,
        clusterId: CLUSTER_ID,
        node,
        storage,
        wal,
        snapshotter: new Snapshotter(`${dir}/snap`, { keep: Infinity }),
        transport,
        store: new KvStore(),
        members: new Members(),
        bootstrapURLs: new Map(IDS.map((i) => [i, `http://127.0.0.1:${i}`])),
        appliedIndex: 0,
        snapshotIndex: 0,
        snapshotChain: new SnapshotChain(),
        confState: {
          voters: [],
          learners: [],
          votersOutgoing: [],
          learnersNext: [],
          autoLeave: false,
        },
        snapshotCount: 1_000_000,
        tickMs,
        electionTicks: 10,
        requestTimeoutMs: 5000,
        logger: silentLogger,
        metrics: createServerMetrics(),
        onRemoved: () => {},
      }),
    );
  }
  for (const server of servers.values()) server.start();
  if (tickMs === NO_TICKS_MS) {
    // Raft refuses to campaign while the bootstrap configuration is committed but not applied.
    await until(
      () => servers.get(1)!.appliedIndex >= IDS.length,
      "node 1 applies its bootstrap",
      2000,
    );
    servers.get(1)!.node.campaign();
  }
  return {
    servers,
    wals,
    cut,
    hold(id, options) {
      let release = () => {};
      const held = new Promise<void>((resolve) => release = resolve);
      const gate = {
        held,
        entriesOnly: options?.entriesOnly ?? false,
        release() {
          gates.delete(id);
          release();
        },
      };
      gates.set(id, gate);
      return gate;
    },
    saved: (id) => saved.get(id)!,
    async close() {
      for (const gate of [...gates.values()]) gate.release();
      for (const server of servers.values()) await server.stop();
      for (const wal of wals.values()) await wal.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}

async function waitForLeader(cluster: Cluster): Promise<RaftServer> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    for (const server of cluster.servers.values()) {
      // A leader that has applied its own first entry can answer writes.
      if (server.role === StateType.Leader && server.appliedIndex > 3) return server;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error("no leader within 10 s");
}

/** The last index of a node's raft log, written or not. */
function raftLastIndex(server: RaftServer): number {
  return server.node.rawNode.raft.raftLog.lastIndex();
}

let requests = 0;
function put(server: RaftServer, key: string): Promise<KvResult> {
  const requestId = `test-${++requests}`;
  const applied = server.writes.register(requestId);
  server.propose(encodeCommand({
    requestId,
    op: "put",
    key: new TextEncoder().encode(key),
    value: new TextEncoder().encode("v"),
  }));
  return applied;
}

/** Settles to "pending" if `promise` has not settled after `ms`. */
function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | "pending"> {
  return Promise.race([promise, new Promise<"pending">((r) => setTimeout(() => r("pending"), ms))]);
}

/** Expects `write` answered, and ok, within 3 s. */
async function assertAnswered(write: Promise<KvResult>, why: string): Promise<void> {
  const result = await settledWithin(write, 3000);
  assert.notEqual(result, "pending", why);
  assert.equal((result as KvResult).ok, true);
}

Deno.test("leader WAL: a write is answered while the leader's own write is held, once both followers have it on disk", async () => {
  const cluster = await startCluster();
  try {
    const leader = await waitForLeader(cluster);
    const before = leader.lastIndex;
    const gate = cluster.hold(leader.id);
    const result = await settledWithin(put(leader, "k1"), 3000);
    assert.notEqual(result, "pending", "the write waited for the leader's held WAL write");
    assert.equal((result as KvResult).ok, true);
    // Both followers hold it on disk (their WALs are the majority); the leader's WAL does not yet.
    for (const [id, server] of cluster.servers) {
      if (id === leader.id) continue;
      assert.ok(server.lastIndex > before, `follower ${id} has the entry`);
    }
    gate.release();
  } finally {
    await cluster.close();
  }
});

Deno.test("leader WAL: with the leader's write held and one follower cut off, a write waits for the leader's disk", async () => {
  const cluster = await startCluster();
  try {
    const leader = await waitForLeader(cluster);
    const [cutOff] = IDS.filter((id) => id !== leader.id);
    cluster.cut.add(`${leader.id}-${cutOff}`);
    const gate = cluster.hold(leader.id);
    const write = put(leader, "k2");
    // Committed in raft (leader's log and one follower's), but on one disk only: no answer.
    assert.equal(await settledWithin(write, 500), "pending");
    gate.release();
    await assertAnswered(write, "the write was not answered once the leader's WAL had it");
  } finally {
    await cluster.close();
  }
});

Deno.test("leader WAL: the leader's loop waits for a follower's acknowledgement, so requests that arrive meanwhile share its next Ready", async () => {
  const cluster = await startCluster({ tickMs: NO_TICKS_MS });
  try {
    const leader = await waitForLeader(cluster);
    const followers = IDS.filter((id) => id !== leader.id);
    const gates = followers.map((id) => cluster.hold(id));
    const saved = cluster.saved(leader.id);
    // Proposals reach the log with the next Ready: the entry's index is the next one.
    const index = leader.lastIndex + 1;
    const first = put(leader, "a");
    await until(() => saved.at(-1)?.includes(index) ?? false, "the leader saves its entry", 2000);
    // The leader's own fsync has ended; no follower has answered. Two requests, one macrotask
    // apart: a loop that went on after its own fsync would write the first one alone.
    const second = put(leader, "b");
    await new Promise((resolve) => setTimeout(resolve, 5));
    const third = put(leader, "c");
    assert.deepEqual(saved.at(-1), [index], "nothing more was written before a follower answered");
    for (const gate of gates) gate.release();
    for (const result of await Promise.all([first, second, third])) assert.equal(result.ok, true);
    assert.deepEqual(saved.at(-1), [index + 1, index + 2], "both requests in one Ready");
  } finally {
    await cluster.close();
  }
});

Deno.test("leader WAL: with both followers cut off, the leader's loop goes on after its own write", async () => {
  const cluster = await startCluster();
  try {
    const leader = await waitForLeader(cluster);
    for (const id of IDS) if (id !== leader.id) cluster.cut.add(`${leader.id}-${id}`);
    const saved = cluster.saved(leader.id);
    const first = leader.lastIndex + 1;
    void put(leader, "a").catch(() => {});
    await until(() => saved.at(-1)?.includes(first) ?? false, "the first entry is saved", 2000);
    const second = leader.lastIndex + 1;
    void put(leader, "b").catch(() => {});
    // Nothing can commit, yet the loop takes the next Ready: at the next tick at the latest.
    await until(() => saved.at(-1)?.includes(second) ?? false, "the second entry is saved", 2000);
  } finally {
    await cluster.close();
  }
});

Deno.test("follower WAL: a follower acknowledges an entry only once its write of it has ended", async () => {
  const cluster = await startCluster();
  try {
    const leader = await waitForLeader(cluster);
    const [follower, other] = IDS.filter((id) => id !== leader.id);
    cluster.cut.add(`${leader.id}-${other}`);
    // Only the write of the entry: a loop stuck on a heartbeat's save would hide an early answer.
    const gate = cluster.hold(follower!, { entriesOnly: true });
    const index = leader.lastIndex + 1;
    const write = put(leader, "k3");
    const server = cluster.servers.get(follower!)!;
    await until(() => raftLastIndex(server) >= index, "the follower takes the entry", 2000);
    // The leader's disk and the follower's memory are not a majority of disks.
    assert.equal(await settledWithin(write, 300), "pending", "acknowledged before it was written");
    gate.release();
    await assertAnswered(write, "the write was not answered once the follower wrote it");
  } finally {
    await cluster.close();
  }
});

Deno.test("follower forwarding: a write through a follower reaches the leader while the follower's WAL write is held", async () => {
  const cluster = await startCluster();
  try {
    const leader = await waitForLeader(cluster);
    const follower = cluster.servers.get(IDS.find((id) => id !== leader.id)!)!;
    const gate = cluster.hold(follower.id);
    // An entry from the leader puts a write of the follower's in flight, and holds it there.
    const first = leader.lastIndex + 1;
    const written = put(leader, "through-leader");
    await until(
      () => raftLastIndex(follower) >= first,
      "the follower takes the leader's entry",
      2000,
    );
    assert.equal((await written).ok, true, "committed by the leader and the other follower");
    // The proposal does not wait for that write, as the follower's other messages do.
    const second = leader.lastIndex + 1;
    const write = put(follower, "through-follower");
    await until(() => leader.commitIndex >= second, "the leader commits the forwarded entry", 2000);
    assert.equal(
      await settledWithin(write, 50),
      "pending",
      "answered before the follower wrote it",
    );
    gate.release();
    await assertAnswered(write, "the write was not answered after the follower's WAL went on");
  } finally {
    await cluster.close();
  }
});
