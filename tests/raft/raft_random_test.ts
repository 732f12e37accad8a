/**
 * Randomized safety check over the hand-routed harness (the full simulator lives in sim/): random
 * ticks, proposals, drops, duplicates, reorders, partitions and restarts, with seeds printed on
 * failure. Checks State Machine Safety (§5.4.3): no two nodes apply different data at an index,
 * and Election Safety (§5.2): at most one leader per term.
 */
import assert from "node:assert/strict";
import { type Message, ProposalDroppedError, StateType } from "../../raft/mod.ts";
import { mulberry32 } from "../../raft/util.ts";
import { Cluster, dec, enc, restartNode } from "./harness.ts";

export function runSeed(
  seed: number,
  ids: number[],
  steps: number,
  withConfChanges = false,
): void {
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const c = new Cluster({
    peers: ids,
    config: { preVote: seed % 2 === 0, checkQuorum: seed % 3 === 0 },
  });
  const appliedAt = new Map<number, string>();
  const leaderOfTerm = new Map<number, number>();
  c.reportSnapshots = true;
  // Persist the bootstrap first: a node that crashes before that was never part of the cluster.
  c.stabilize();
  let proposals = 0;

  const check = () => {
    for (const n of c.nodes.values()) {
      for (const e of n.applied) {
        const seen = appliedAt.get(e.index);
        const data = dec(e.data);
        if (seen === undefined) appliedAt.set(e.index, data);
        else {assert.equal(
            data,
            seen,
            `seed ${seed}: node ${n.id} applied ${data} at ${e.index}, another ${seen}`,
          );}
      }
      const r = n.rn.raft;
      if (r.state === StateType.Leader) {
        const other = leaderOfTerm.get(r.term);
        assert.ok(
          other === undefined || other === n.id,
          `seed ${seed}: two leaders in term ${r.term}`,
        );
        leaderOfTerm.set(r.term, n.id);
      }
    }
  };

  for (let step = 0; step < steps; step++) {
    const x = rand();
    const id = pick(ids);
    if (x < 0.35) {
      c.tick(id);
    } else if (x < 0.55) {
      try {
        c.node(id).rn.propose(enc(`s${seed}-p${proposals++}`));
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err;
      }
    } else if (x < 0.62) {
      if (rand() < 0.5) c.isolated.add(id);
      else c.isolated.clear();
    } else if (x < 0.64) {
      restartNode(c, id);
    } else if (x < 0.69 && withConfChanges) {
      // Membership changes at the current leader: remove a voter (maybe itself), or add one
      // back as a voter or a learner (§6).
      const leader = c.leaders()[0];
      if (leader !== undefined) {
        const cs = c.node(leader).confState;
        const others = ids.filter((i) => !cs.voters.includes(i));
        let change: { type: 0 | 1 | 2; nodeId: number } | undefined;
        if (cs.voters.length > 2 && (others.length === 0 || rand() < 0.5)) {
          change = { type: 1, nodeId: pick(cs.voters) };
        } else if (others.length > 0) {
          change = { type: rand() < 0.7 ? 0 : 2, nodeId: pick(others) };
        }
        if (change !== undefined) {
          // Sometimes through joint consensus, with a second change and auto or explicit leave.
          const joint = rand() < 0.3;
          const changes = [change];
          if (joint && others.length > 1) {
            changes.push({ type: 0, nodeId: others.find((o) => o !== change!.nodeId)! });
          }
          const transition = !joint ? 0 : rand() < 0.7 ? 1 : 2;
          if (cs.votersOutgoing.length > 0) {
            // Already joint: leave it (the only change allowed now).
            changes.length = 0;
          }
          try {
            c.node(leader).rn.proposeConfChange({
              transition: changes.length === 0 ? 0 : transition,
              changes,
              context: new Uint8Array(),
            });
          } catch (err) {
            if (!(err instanceof ProposalDroppedError)) throw err;
          }
        }
      }
    } else if (x < 0.72) {
      // Snapshot and compact the applied prefix, keeping a few entries (§7).
      const n = c.node(id);
      const applied = n.rn.raft.raftLog.applied;
      if (applied > n.storage.snapshot().metadata.index + 2) {
        n.storage.createSnapshot(applied, n.confState, enc(`snap@${applied}`));
        n.storage.compact(applied - 1);
      }
    } else {
      c.processAll();
      // Deliver a random subset of the queue, maybe duplicated or reordered; keep the rest.
      const queue = c.queue;
      c.queue = [];
      const keep: Message[] = [];
      for (const m of queue) {
        const r = rand();
        if (r < 0.1) {
          c.reportDropped(m);
          continue;
        }
        if (r < 0.2) keep.push(m); // delayed (reordered)
        else c.queue.push(m);
        if (r > 0.95) c.queue.push(m); // duplicated
      }
      c.deliverQueued();
      c.queue.push(...keep);
    }
    check();
  }
  // Heal and let the cluster settle: it must elect a leader and commit a proposal.
  c.isolated.clear();
  let committed = false;
  for (let k = 0; k < 300 && !committed; k++) {
    for (const n of c.nodes.values()) n.rn.tick();
    c.stabilize(500);
    check();
    const leaders = c.leaders();
    if (leaders.length > 0 && k % 10 === 0) {
      try {
        c.node(leaders[0]!).rn.propose(enc(`s${seed}-final`));
        c.stabilize(500);
        committed = c.node(leaders[0]!).applied.some((e) => dec(e.data) === `s${seed}-final`);
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err;
      }
    }
    check();
  }
  assert.ok(committed, `seed ${seed}: no progress after healing`);
}

Deno.test("random faults never make two nodes apply different entries at one index (§5.4.3)", () => {
  for (let seed = 1; seed <= 80; seed++) {
    runSeed(seed, seed % 2 === 0 ? [1, 2, 3] : [1, 2, 3, 4, 5], 400);
  }
});

Deno.test("random faults with membership changes keep State Machine Safety and liveness (§5.4.3, §6)", () => {
  for (let seed = 1; seed <= 80; seed++) {
    runSeed(seed, seed % 2 === 0 ? [1, 2, 3] : [1, 2, 3, 4, 5], 400, true);
  }
});
