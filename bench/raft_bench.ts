/**
 * `deno bench bench/raft_bench.ts`: throughput of the raft core alone. Three RawNodes with
 * MemoryStorage exchange messages through an in-memory array (no I/O, no encoding): the leader
 * takes a batch of proposals of 128-byte entries, then every node's Readys are handled (persist,
 * send, apply, advance) until the leader applied the whole batch.
 *
 * One iteration commits BATCH entries, so entries/s = BATCH / (time per iteration), i.e.
 * "iter/s" times BATCH in deno bench's table.
 */
import {
  decodeConfChange,
  EntryType,
  MemoryStorage,
  type Message,
  RawNode,
  StateType,
} from "../raft/mod.ts";

const ENTRY_BYTES = 128;
/** Bound on delivery rounds per iteration; a stuck cluster fails the bench instead of hanging. */
const ROUNDS_MAX = 10_000;

interface BenchNode {
  id: number;
  raw: RawNode;
  storage: MemoryStorage;
  applied: number;
}

function newCluster(): BenchNode[] {
  const peers = [1, 2, 3];
  const nodes = peers.map((id) => {
    const storage = new MemoryStorage();
    let seed = id;
    const raw = new RawNode({
      id,
      electionTicks: 10,
      heartbeatTicks: 1,
      storage,
      // A fixed generator: the bench must not depend on Math.random.
      random: () => (seed = (seed * 16807) % 2147483647) / 2147483647,
    });
    raw.bootstrap(peers);
    return { id, raw, storage, applied: 0 };
  });
  // Apply the bootstrap conf changes first: raft does not campaign with unapplied ones.
  settle(nodes, () => true);
  nodes[0]!.raw.campaign();
  settle(nodes, () => nodes[0]!.raw.status().softState.raftState === StateType.Leader);
  return nodes;
}

/** Handles Readys and delivers messages until `done()` holds and nothing is left to do. */
function settle(nodes: BenchNode[], done: () => boolean): void {
  let inbox: Message[] = [];
  for (let round = 0; round < ROUNDS_MAX; round++) {
    for (const n of nodes) {
      if (!n.raw.hasReady()) continue;
      const rd = n.raw.ready();
      if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
      if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
      if (rd.entries.length > 0) n.storage.append(rd.entries);
      for (const m of rd.messages) inbox.push(m);
      for (const e of rd.committedEntries) {
        n.applied = e.index;
        if (e.type === EntryType.ConfChange) n.raw.applyConfChange(decodeConfChange(e.data));
      }
      n.raw.advance();
    }
    if (inbox.length === 0) {
      if (done() && !nodes.some((n) => n.raw.hasReady())) return;
      continue;
    }
    const batch = inbox;
    inbox = [];
    for (const m of batch) nodes[m.to - 1]!.raw.step(m);
  }
  throw new Error(`Cannot settle the bench cluster within ${ROUNDS_MAX} rounds`);
}

function benchBatch(batch: number) {
  const nodes = newCluster();
  const leader = nodes[0]!;
  const payload = new Uint8Array(ENTRY_BYTES).fill(7);
  return () => {
    const target = leader.applied + batch;
    // Many proposals per Ready: the leader batches them into few MsgApps.
    for (let i = 0; i < batch; i++) leader.raw.propose(payload);
    settle(nodes, () => nodes.every((n) => n.applied >= target));
    // Keep memory flat across iterations.
    for (const n of nodes) {
      if (n.applied - 1 > n.storage.firstIndex()) n.storage.compact(n.applied - 1);
    }
  };
}

Deno.bench({
  name: "commit 1000 x 128-byte entries, 3 nodes in memory (entries/s = 1000 x iter/s)",
  fn: benchBatch(1000),
});

Deno.bench({
  name: "commit 100 x 128-byte entries, 3 nodes in memory (entries/s = 100 x iter/s)",
  fn: benchBatch(100),
});
