/**
 * Cluster-level tests of the rules of the Raft paper (sections 5 and 6) and of the extensions etcd
 * adds (PreVote, CheckQuorum, ReadIndex, leadership transfer, snapshots, flow control), run over
 * the deterministic in-memory network of network.ts. Single-node state transitions are unit-tested
 * in the core's own test files; these tests look at what a whole cluster does.
 */
import assert from "node:assert/strict";
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  type Entry,
  MessageType,
  ProposalDroppedError,
  StateType,
} from "../../raft/mod.ts";
import { Rng } from "../../sim/rng.ts";
import { bytes, msg, Network, type NetworkOptions, newNetwork, text } from "./network.ts";

const ELECTION = 10;

/** A bootstrapped cluster whose bootstrap Readys are processed; nobody leads yet. */
function cluster(options: Partial<NetworkOptions> & { peers: number[] }): Network {
  const nt = newNetwork({ electionTicks: ELECTION, heartbeatTicks: 1, ...options });
  nt.stabilize();
  return nt;
}

/** A cluster where `leader` won the first election. */
function led(leader: number, options: Partial<NetworkOptions> & { peers: number[] }): Network {
  const nt = cluster(options);
  nt.campaign(leader);
  assert.equal(nt.node(leader).state, StateType.Leader, `node ${leader} should lead`);
  return nt;
}

function logTerms(nt: Network, id: number): number[] {
  return nt.node(id).entries(1).map((e) => e.term);
}

function cc(
  changes: [ConfChangeType, number][],
  transition: ConfChangeTransition = ConfChangeTransition.Auto,
): ConfChange {
  return {
    transition,
    changes: changes.map(([type, nodeId]) => ({ type, nodeId })),
    context: new Uint8Array(),
  };
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

interface ChaosOptions {
  seed: number;
  ticks: number;
  /** Runs after every tick (and once after the final convergence). */
  observe?: (tick: number) => void;
  /** Standing fault rules, put back after every heal (heal() clears them). */
  faults?: () => void;
}

/**
 * Random faults for a few hundred ticks: partitions, message loss, crashes and restarts,
 * proposals; then everything heals and the cluster converges.
 */
function chaos(nt: Network, options: ChaosOptions): void {
  const { seed, ticks } = options;
  const observe = options.observe ?? (() => {});
  const rng = new Rng(seed);
  let n = 0;
  const heal = () => {
    nt.heal();
    options.faults?.();
  };
  heal();
  for (let t = 0; t < ticks; t++) {
    const r = rng.int(100);
    if (r < 8) {
      const ids = rng.shuffle(nt.ids);
      const cut = rng.between(1, ids.length - 1);
      heal();
      nt.partition(ids.slice(0, cut), ids.slice(cut));
    } else if (r < 14) {
      heal();
    } else if (r < 17) {
      heal();
      nt.drop({}, { rate: 0.2 });
    } else if (r < 20) {
      const live = nt.nodes.filter((x) => x.alive);
      if (live.length > nt.ids.length - 2) nt.crash(rng.pick(live).id);
    } else if (r < 26) {
      const down = nt.nodes.filter((x) => !x.alive);
      if (down.length > 0) nt.restart(rng.pick(down).id);
    } else if (r < 50) {
      const live = nt.nodes.filter((x) => x.alive);
      const leader = nt.leader();
      const on = leader ?? rng.pick(live).id;
      try {
        nt.raw(on).propose(bytes(`v${seed}.${n++}`));
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err;
      }
    }
    nt.tickAll(1);
    observe(t);
  }
  for (const x of nt.nodes) if (!x.alive) nt.restart(x.id);
  heal();
  nt.tickAll(5 * ELECTION);
  observe(ticks);
}

// --- §5.2 Leader election --------------------------------------------------------------------

Deno.test("election safety: at most one leader per term under partitions, loss and crashes (§5.2)", () => {
  for (let seed = 1; seed <= 6; seed++) {
    const nt = cluster({ peers: [1, 2, 3, 4, 5], seed });
    const leaderOf = new Map<number, number>();
    chaos(nt, {
      seed,
      ticks: 300,
      observe: () => {
        for (const x of nt.nodes) {
          if (!x.alive || x.state !== StateType.Leader) continue;
          const known = leaderOf.get(x.term);
          assert.ok(known === undefined || known === x.id, `two leaders in term ${x.term}`);
          leaderOf.set(x.term, x.id);
        }
      },
    });
    assert.ok(leaderOf.size > 1, "the run should see several elections");
  }
});

Deno.test("a follower grants at most one vote per term, also across a restart (§5.2)", () => {
  const nt = cluster({ peers: [1, 2, 3] });
  const vote = (from: number) =>
    msg({ type: MessageType.MsgVote, from, to: 3, term: 5, logTerm: 1, index: 3 });
  nt.send(vote(1));
  nt.deliverRound();
  nt.processReadys();
  const [first] = nt.take({ type: MessageType.MsgVoteResp, from: 3 });
  assert.equal(first?.reject, false, "the first candidate of term 5 gets the vote");
  assert.equal(nt.node(3).storage.initialState().hardState.vote, 1, "the vote is persisted");

  nt.crash(3);
  nt.restart(3);
  nt.send(vote(2));
  nt.deliverRound();
  nt.processReadys();
  const [second] = nt.take({ type: MessageType.MsgVoteResp, from: 3 });
  assert.equal(second?.reject, true, "a second candidate of the same term is refused");
  assert.equal(nt.node(3).vote, 1);
});

Deno.test("a candidate with a majority of votes becomes leader and others follow it (§5.2)", () => {
  const nt = led(2, { peers: [1, 2, 3, 4, 5] });
  const term = nt.node(2).term;
  for (const id of [1, 3, 4, 5]) {
    assert.equal(nt.node(id).state, StateType.Follower);
    assert.equal(nt.node(id).lead, 2);
    assert.equal(nt.node(id).term, term);
  }
});

Deno.test("a candidate without a majority does not become leader (§5.2)", () => {
  const nt = cluster({ peers: [1, 2, 3, 4, 5] });
  nt.partition([1, 2], [3, 4, 5]);
  nt.campaign(1);
  assert.equal(nt.node(1).state, StateType.Candidate);
  assert.equal(nt.leader(), undefined);
});

Deno.test("a stale leader steps down when it hears of a higher term (§5.1)", () => {
  const nt = led(1, { peers: [1, 2, 3] });
  nt.isolate(1);
  nt.campaign(2);
  assert.equal(nt.node(2).state, StateType.Leader);
  assert.equal(nt.node(1).state, StateType.Leader, "isolated, node 1 still believes it leads");
  nt.heal();
  nt.tickAll(1);
  assert.equal(nt.node(1).state, StateType.Follower);
  assert.equal(nt.node(1).term, nt.node(2).term);
  assert.equal(nt.node(1).lead, 2);
});

Deno.test("a node ignores messages of a lower term (§5.1)", () => {
  const nt = led(1, { peers: [1, 2, 3] });
  const term = nt.node(2).term;
  nt.send(msg({ type: MessageType.MsgApp, from: 3, to: 2, term: term - 1, index: 3, logTerm: 1 }));
  nt.send(msg({ type: MessageType.MsgVote, from: 3, to: 2, term: term - 1, index: 9, logTerm: 9 }));
  nt.deliverRound();
  nt.processReadys();
  assert.equal(nt.node(2).term, term);
  assert.equal(nt.node(2).lead, 1);
  const granted = nt.take({ type: MessageType.MsgVoteResp }).filter((m) => !m.reject);
  assert.deepEqual(granted, [], "no vote for a stale candidate");
});

Deno.test("election timeouts are randomized in [electionTicks, 2*electionTicks) (§5.2)", () => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 20; seed++) {
    const nt = cluster({ peers: [1, 2, 3], seed });
    nt.isolate(1);
    let term = nt.node(1).term;
    for (let round = 0; round < 3; round++) {
      let ticks = 0;
      while (nt.node(1).term === term) {
        nt.tick(1);
        ticks++;
        assert.ok(ticks < 2 * ELECTION, `timeout of ${ticks} ticks is not below 2*electionTicks`);
      }
      assert.ok(ticks >= ELECTION, `timeout of ${ticks} ticks is below electionTicks`);
      seen.add(ticks);
      term = nt.node(1).term;
    }
  }
  assert.ok(seen.size >= 4, `timeouts should vary, saw only ${[...seen]}`);
});

Deno.test("randomized timeouts let a fresh cluster elect one leader without ticking forever (§5.2)", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const nt = cluster({ peers: [1, 2, 3, 4, 5], seed });
    let ticks = 0;
    while (nt.leader() === undefined) {
      nt.tickAll(1);
      ticks++;
      assert.ok(ticks <= 10 * ELECTION, `seed ${seed}: no leader after ${ticks} ticks`);
    }
    const leader = nt.leader()!;
    for (const x of nt.nodes) assert.equal(x.lead, leader, `seed ${seed}: node ${x.id}`);
  }
});

// --- §5.3 Log replication ----------------------------------------------------------------------

Deno.test("a leader only appends to its log, never overwrites or deletes (§5.3)", () => {
  for (let seed = 1; seed <= 4; seed++) {
    const nt = cluster({ peers: [1, 2, 3, 4, 5], seed });
    // (leader, term) -> the leader's log terms last seen while it led that term.
    const seen = new Map<string, number[]>();
    chaos(nt, {
      seed,
      ticks: 250,
      observe: () => {
        for (const x of nt.nodes) {
          if (!x.alive || x.state !== StateType.Leader) continue;
          const key = `${x.id}@${x.term}`;
          const now = logTerms(nt, x.id);
          const before = seen.get(key);
          if (before !== undefined) {
            assert.deepEqual(now.slice(0, before.length), before, `leader ${key} rewrote its log`);
          }
          seen.set(key, now);
        }
      },
    });
  }
});

Deno.test("log matching: same index and term imply identical prefixes (§5.3)", () => {
  for (let seed = 11; seed <= 14; seed++) {
    const nt = cluster({ peers: [1, 2, 3, 4, 5], seed });
    chaos(nt, {
      seed,
      ticks: 250,
      observe: (tick) => {
        if (tick % 10 !== 0) return;
        const logs = nt.nodes.map((x) => x.entries(1));
        for (const a of logs) {
          for (const b of logs) {
            const n = Math.min(a.length, b.length);
            let match = 0;
            for (let i = 0; i < n; i++) if (a[i]!.term === b[i]!.term) match = i + 1;
            for (let i = 0; i < match; i++) {
              assert.equal(a[i]!.term, b[i]!.term, `seed ${seed}: logs differ at ${i + 1}`);
              assert.deepEqual(a[i]!.data, b[i]!.data, `seed ${seed}: data differ at ${i + 1}`);
            }
          }
        }
      },
    });
  }
});

Deno.test("a leader repairs a divergent follower log to match its own (§5.3, Figure 7)", () => {
  const nt = led(1, { peers: [1, 2, 3] });
  nt.isolate(1);
  for (const v of ["lost-a", "lost-b", "lost-c"]) nt.propose(1, v);
  nt.campaign(2);
  nt.propose(2, "kept");
  nt.heal();
  nt.tickAll(3);
  const expected = logTerms(nt, 2);
  for (const id of [1, 3]) assert.deepEqual(logTerms(nt, id), expected, `node ${id}`);
  for (const x of nt.nodes) {
    assert.deepEqual(x.appliedData, ["kept"], `node ${x.id} applies only committed data`);
  }
});

Deno.test("a follower commits only what the leader's append proves it holds (§5.3)", () => {
  const nt = led(1, { peers: [1, 2, 3] });
  const matched = nt.node(1).lastIndex;
  // Node 1 keeps a stale tail; 2 and 3 commit other entries at the same indexes in a new term.
  nt.isolate(1);
  for (const v of ["stale-a", "stale-b", "stale-c"]) nt.propose(1, v);
  nt.campaign(2);
  for (const v of ["a", "b", "c", "d"]) nt.propose(2, v);
  const commit = nt.node(2).commit;
  // An append that carries no entries proves agreement up to its previous index only: the
  // leader's commit index must not commit node 1's stale tail beyond it.
  nt.heal();
  nt.send(msg({
    type: MessageType.MsgApp,
    from: 2,
    to: 1,
    term: nt.node(2).term,
    index: matched,
    logTerm: nt.node(1).storage.term(matched),
    commit,
  }));
  nt.deliverRound();
  nt.processReadys();
  assert.equal(nt.node(1).lead, 2, "node 1 took the append");
  assert.ok(nt.node(1).commit <= matched, `committed ${nt.node(1).commit} > ${matched}`);
  assert.deepEqual(nt.node(1).appliedData, []);
});

Deno.test("an entry is committed once a majority stores it, and then applied everywhere (§5.3)", () => {
  const nt = led(1, { peers: [1, 2, 3, 4, 5] });
  nt.partition([1, 2, 3], [4, 5]);
  nt.propose(1, "x");
  for (const id of [1, 2, 3]) assert.deepEqual(nt.node(id).appliedData, ["x"]);
  nt.partition([1, 2], [3, 4, 5]);
  nt.propose(1, "y");
  assert.deepEqual(nt.node(1).appliedData, ["x"], "y is on 2 of 5 nodes: not committed");
  nt.heal();
  nt.tickAll(2);
  for (const x of nt.nodes) assert.deepEqual(x.appliedData, ["x", "y"], `node ${x.id}`);
});

// --- §5.4 Safety -------------------------------------------------------------------------------

Deno.test("the vote goes only to candidates whose log is at least as up to date (§5.4.1)", () => {
  const nt = led(1, { peers: [1, 2, 3] });
  nt.isolate(3);
  nt.propose(1, "x");
  nt.heal();
  nt.isolate(1);
  // Node 3 misses "x" (committed by 1 and 2): node 2 must refuse it.
  nt.recordSent = true;
  nt.campaign(3);
  assert.notEqual(nt.node(3).state, StateType.Leader);
  const answers = nt.sent.filter((m) => m.type === MessageType.MsgVoteResp && m.from === 2);
  assert.ok(answers.length > 0 && answers.every((m) => m.reject), "node 2 refuses node 3");
  nt.campaign(2);
  assert.equal(nt.node(2).state, StateType.Leader);
  assert.deepEqual(nt.node(2).appliedData, ["x"]);
});

Deno.test("leader completeness: a new leader holds every entry committed before its term (§5.4)", () => {
  for (let seed = 21; seed <= 24; seed++) {
    const nt = cluster({ peers: [1, 2, 3, 4, 5], seed });
    const committed = new Map<number, Entry>();
    chaos(nt, {
      seed,
      ticks: 250,
      observe: () => {
        // Every node's applied entries are committed.
        for (const x of nt.nodes) for (const e of x.appliedEntries) committed.set(e.index, e);
        for (const x of nt.nodes) {
          if (!x.alive || x.state !== StateType.Leader) continue;
          for (const e of committed.values()) {
            if (e.term >= x.term || e.index < x.storage.firstIndex()) continue;
            assert.equal(x.storage.term(e.index), e.term, `leader ${x.id} lacks entry ${e.index}`);
          }
        }
      },
    });
  }
});

Deno.test("state machine safety: no two nodes apply different entries at an index, across crashes (§5.4.3)", () => {
  for (let seed = 31; seed <= 35; seed++) {
    const nt = cluster({ peers: [1, 2, 3, 4, 5], seed });
    const appliedAt = new Map<number, string>();
    chaos(nt, {
      seed,
      ticks: 300,
      observe: () => {
        for (const x of nt.nodes) {
          for (const e of x.appliedEntries) {
            const key = `${e.term}/${text(e.data)}`;
            const known = appliedAt.get(e.index);
            assert.ok(known === undefined || known === key, `seed ${seed}: index ${e.index}`);
            appliedAt.set(e.index, key);
          }
        }
      },
    });
    const all = nt.nodes.map((x) => x.appliedData);
    const longest = all.reduce((a, b) => (a.length >= b.length ? a : b));
    for (const data of all) assert.deepEqual(data, longest.slice(0, data.length));
    assert.ok(longest.length > 10, `seed ${seed}: the run should commit a good number of entries`);
  }
});

Deno.test("state machine safety with reordered, duplicated and delayed messages (§5.4.3)", () => {
  for (let seed = 41; seed <= 44; seed++) {
    const nt = cluster({ peers: [1, 2, 3, 4, 5], seed, reorder: true, preVote: seed % 2 === 0 });
    const faults = () => {
      nt.duplicate({}, { rate: 0.1 });
      nt.delay({ type: MessageType.MsgApp }, { ticks: 3, rate: 0.3 });
      nt.delay({ type: MessageType.MsgAppResp }, { ticks: 2, rate: 0.3 });
    };
    chaos(nt, { seed, ticks: 250, faults });
    const all = nt.nodes.map((x) => x.appliedData);
    const longest = all.reduce((a, b) => (a.length >= b.length ? a : b));
    for (const data of all) assert.deepEqual(data, longest.slice(0, data.length), `seed ${seed}`);
    assert.ok(longest.length > 10, `seed ${seed}: the run should commit a good number of entries`);
  }
});

Deno.test("Figure 8: an entry of an older term is committed only through a current-term entry (§5.4.2)", () => {
  // One entry per MsgApp, so that a follower can receive an old entry without the new one.
  const nt = cluster({ peers: [1, 2, 3, 4, 5], maxSizePerMsg: 1 });
  nt.campaign(1);
  const base = nt.node(1).lastIndex;
  // (a) S1 leads and replicates "old" (index base+1) to S2 only.
  nt.partition([1, 2], [3, 4, 5]);
  nt.propose(1, "old");
  assert.equal(nt.node(2).lastIndex, base + 1);
  const oldTerm = nt.node(1).term;
  // (b) S1 crashes; S5 wins a higher term with S3 and S4 but replicates nothing.
  nt.crash(1);
  nt.partition([2], [3, 4, 5]);
  nt.drop({ from: 5, type: MessageType.MsgApp });
  nt.campaign(5);
  assert.equal(nt.node(5).state, StateType.Leader);
  nt.crash(5);
  // (c) S1 restarts and wins term 4 with S2, S3, S4. It brings "old" to S3 and S4, so a majority
  // (S1, S3, S4) stores it and S1 knows it, but its own term's entry reaches nobody: "old" must
  // not count as committed.
  nt.heal();
  nt.restart(1);
  nt.drop({ from: 1, to: 2, type: MessageType.MsgApp });
  const probed = new Set<number>();
  nt.drop({
    from: 1,
    type: MessageType.MsgApp,
    where: (m) => {
      if (!m.entries.some((e) => e.term > oldTerm)) return false;
      // The first append after the election goes through: it is rejected (the follower lacks
      // the previous entry), which makes S1 send "old" on its own (one entry per message).
      if (!probed.has(m.to)) {
        probed.add(m.to);
        return false;
      }
      return true;
    },
  });
  for (let i = 0; i < 3 && nt.node(1).state !== StateType.Leader; i++) nt.campaign(1);
  assert.equal(nt.node(1).state, StateType.Leader);
  nt.tickAll(1);
  for (const id of [1, 2, 3, 4]) {
    assert.equal(nt.node(id).storage.term(base + 1), oldTerm, `node ${id} holds "old"`);
  }
  for (const id of [3, 4]) assert.ok(progressOf(nt, 1, id).match >= base + 1, `S1 knows ${id}`);
  assert.ok(nt.node(1).commit < base + 1, "a majority stores it, yet it is not committed");
  for (const x of nt.nodes) assert.deepEqual(x.alive ? x.appliedData : [], []);
  // (d) S1 crashes before committing anything of its term: S5 can win and overwrite "old",
  // which is why committing it by counting replicas would have been unsafe.
  nt.crash(1);
  nt.heal();
  nt.restart(5);
  for (let i = 0; i < 4 && nt.node(5).state !== StateType.Leader; i++) nt.campaign(5);
  assert.equal(nt.node(5).state, StateType.Leader);
  nt.propose(5, "new");
  nt.restart(1);
  nt.tickAll(3);
  for (const x of nt.nodes) {
    assert.deepEqual(x.appliedData, ["new"], `node ${x.id} never applies "old"`);
    assert.notEqual(x.storage.term(base + 1), oldTerm);
  }
});

Deno.test("a new leader commits entries of older terms by committing one of its own (§5.4.2)", () => {
  const nt = led(1, { peers: [1, 2, 3] });
  nt.partition([1, 2], [3]);
  nt.drop({ from: 2, type: MessageType.MsgAppResp });
  nt.propose(1, "x");
  assert.deepEqual(nt.node(1).appliedData, [], "no ack from 2: not committed");
  nt.heal();
  nt.crash(1);
  nt.campaign(2);
  assert.equal(nt.node(2).state, StateType.Leader);
  for (const id of [2, 3]) assert.deepEqual(nt.node(id).appliedData, ["x"], `node ${id}`);
  const last = nt.node(2).entries(1).at(-1)!;
  assert.equal(last.term, nt.node(2).term, "committed along with the new leader's empty entry");
  assert.equal(last.data.length, 0);
});

// --- §6 Membership changes ---------------------------------------------------------------------

Deno.test("a single added voter catches up and counts in the quorum (§6)", () => {
  const nt = led(1, { peers: [1, 2, 3], spares: [4] });
  nt.propose(1, "before");
  nt.proposeConfChange(1, cc([[ConfChangeType.AddNode, 4]]));
  nt.tickAll(2);
  for (const x of nt.nodes) {
    assert.deepEqual(sorted(x.confState.voters), [1, 2, 3, 4], `node ${x.id}`);
    assert.deepEqual(x.appliedData, ["before"], `node ${x.id}`);
  }
  // Four voters: a quorum is three, so 1 and 2 alone cannot commit.
  nt.partition([1, 2], [3, 4]);
  nt.propose(1, "after");
  assert.deepEqual(nt.node(1).appliedData, ["before"]);
  nt.heal();
  nt.tickAll(2);
  for (const x of nt.nodes) assert.deepEqual(x.appliedData, ["before", "after"]);
});

Deno.test("joint consensus: entering needs both majorities, leaving is explicit (§6)", () => {
  const nt = led(1, { peers: [1, 2, 3], spares: [4] });
  nt.proposeConfChange(
    1,
    cc(
      [[ConfChangeType.AddNode, 4], [ConfChangeType.RemoveNode, 3]],
      ConfChangeTransition.JointExplicit,
    ),
  );
  nt.tickAll(2);
  for (const id of [1, 2, 4]) {
    const cs = nt.node(id).confState;
    assert.deepEqual(sorted(cs.voters), [1, 2, 4], `node ${id} incoming`);
    assert.deepEqual(sorted(cs.votersOutgoing), [1, 2, 3], `node ${id} outgoing`);
  }
  // {1, 3} is a majority of the old config but not of the new one: no commit.
  nt.partition([1, 3], [2, 4]);
  nt.propose(1, "joint");
  assert.deepEqual(nt.node(1).appliedData, []);
  nt.heal();
  nt.tickAll(2);
  assert.deepEqual(nt.node(1).appliedData, ["joint"]);
  // Leave the joint config with an empty change.
  nt.proposeConfChange(1, cc([]));
  nt.tickAll(2);
  for (const id of [1, 2, 4]) {
    const cs = nt.node(id).confState;
    assert.deepEqual(sorted(cs.voters), [1, 2, 4]);
    assert.deepEqual(cs.votersOutgoing, []);
  }
  // Node 3 is gone: 1 and 2 commit without it.
  nt.crash(3);
  nt.crash(4);
  nt.propose(1, "new config");
  assert.deepEqual(nt.node(1).appliedData, ["joint", "new config"]);
});

Deno.test("joint consensus with auto-leave leaves the joint config by itself (§6)", () => {
  const nt = led(1, { peers: [1, 2, 3], spares: [4, 5] });
  nt.proposeConfChange(1, cc([[ConfChangeType.AddNode, 4], [ConfChangeType.AddNode, 5]]));
  nt.tickAll(3);
  for (const x of nt.nodes) {
    assert.deepEqual(sorted(x.confState.voters), [1, 2, 3, 4, 5], `node ${x.id}`);
    assert.deepEqual(x.confState.votersOutgoing, [], `node ${x.id} left the joint config`);
  }
});

Deno.test("learners receive the log but never vote nor count for commitment (§6)", () => {
  const nt = led(1, { peers: [1, 2, 3], spares: [4] });
  nt.proposeConfChange(1, cc([[ConfChangeType.AddLearnerNode, 4]]));
  nt.propose(1, "x");
  nt.tickAll(2);
  assert.deepEqual(nt.node(4).confState.learners, [4]);
  assert.deepEqual(nt.node(4).appliedData, ["x"], "the learner gets the log");
  // Leader plus learner are not a quorum of {1,2,3}.
  nt.partition([1, 4], [2, 3]);
  nt.drop({ from: 2 });
  nt.drop({ from: 3 });
  nt.propose(1, "y");
  assert.deepEqual(nt.node(1).appliedData, ["x"]);
  // A learner cut off from its leader never campaigns.
  nt.heal();
  nt.isolate(4);
  nt.recordSent = true;
  nt.tickAll(5 * ELECTION);
  assert.equal(nt.node(4).state, StateType.Follower);
  assert.deepEqual(
    nt.sent.filter((m) => m.from === 4 && m.type === MessageType.MsgVote),
    [],
    "the learner sent no vote request",
  );
});

Deno.test("a removed leader steps down and the rest elect a leader (§6)", () => {
  const nt = led(1, { peers: [1, 2, 3] });
  nt.proposeConfChange(1, cc([[ConfChangeType.RemoveNode, 1]]));
  nt.tickAll(1);
  for (const id of [2, 3]) assert.deepEqual(sorted(nt.node(id).confState.voters), [2, 3]);
  assert.notEqual(nt.node(1).state, StateType.Leader, "node 1 no longer leads");
  nt.crash(1);
  nt.tickAll(3 * ELECTION);
  const leader = nt.leader();
  assert.ok(leader === 2 || leader === 3);
  nt.propose(leader, "after removal");
  for (const id of [2, 3]) assert.deepEqual(nt.node(id).appliedData, ["after removal"]);
});

Deno.test("one membership change at a time: a second is refused while one is pending (§6)", () => {
  const nt = led(1, { peers: [1, 2, 3], spares: [4, 5] });
  nt.drop({ type: MessageType.MsgAppResp });
  nt.raw(1).proposeConfChange(cc([[ConfChangeType.AddNode, 4]]));
  try {
    nt.raw(1).proposeConfChange(cc([[ConfChangeType.AddNode, 5]]));
  } catch (err) {
    if (!(err instanceof ProposalDroppedError)) throw err;
  }
  nt.stabilize();
  nt.heal();
  nt.tickAll(3);
  for (const id of [1, 2, 3]) {
    assert.deepEqual(sorted(nt.node(id).confState.voters), [1, 2, 3, 4], `node ${id}`);
  }
});

// --- PreVote, CheckQuorum, ReadIndex, transfer (etcd / thesis §9.6, §6.2, §6.4, §3.10) ----------

Deno.test("PreVote: a partitioned node rejoining does not disrupt the leader (thesis §9.6)", () => {
  const nt = led(1, { peers: [1, 2, 3], preVote: true });
  const term = nt.node(1).term;
  nt.isolate(3);
  nt.tickAll(10 * ELECTION);
  assert.equal(nt.node(3).term, term, "pre-candidate: no term increase while isolated");
  nt.heal();
  nt.tickAll(3 * ELECTION);
  assert.equal(nt.leader(), 1);
  assert.equal(nt.node(1).term, term);
  assert.equal(nt.node(3).lead, 1);
});

Deno.test("without PreVote the same rejoining node does disrupt the leader (§5.2, contrast)", () => {
  const nt = led(1, { peers: [1, 2, 3], preVote: false });
  const term = nt.node(1).term;
  nt.isolate(3);
  nt.tickAll(10 * ELECTION);
  assert.ok(nt.node(3).term > term);
  nt.heal();
  nt.tickAll(3 * ELECTION);
  assert.ok(nt.node(nt.leader()!).term > term, "the cluster moved to a higher term");
});

Deno.test("CheckQuorum: a leader partitioned into a minority steps down (§6.2)", () => {
  const nt = led(1, { peers: [1, 2, 3, 4, 5], checkQuorum: true });
  nt.partition([1, 2], [3, 4, 5]);
  nt.tickAll(3 * ELECTION);
  assert.notEqual(nt.node(1).state, StateType.Leader);
  const leader = nt.leader();
  assert.ok(leader !== undefined && [3, 4, 5].includes(leader));
  nt.heal();
  nt.tickAll(2);
  assert.equal(nt.node(1).lead, leader);
});

Deno.test("CheckQuorum: followers that hear a leader ignore a disruptive candidate (§6.2, §4.2.3)", () => {
  const nt = led(1, { peers: [1, 2, 3], checkQuorum: true });
  const term = nt.node(1).term;
  nt.isolate(3);
  nt.tickAll(5 * ELECTION);
  nt.heal();
  // Node 3 campaigns at a higher term as soon as it rejoins; 1 and 2 are within their lease.
  nt.campaign(3);
  assert.equal(nt.node(2).lead, 1, "node 2 keeps its leader");
  assert.equal(nt.node(2).term, term);
});

Deno.test("ReadIndex: a read after a partition sees every write committed before it (§6.4)", () => {
  const nt = led(1, { peers: [1, 2, 3, 4, 5] });
  nt.propose(1, "x");
  nt.partition([1, 2], [3, 4, 5]);
  nt.campaign(3);
  nt.propose(3, "y");
  const yIndex = nt.node(3).appliedIndex;
  // The deposed leader cannot confirm its leadership: its read never completes.
  nt.raw(1).readIndex(bytes("old"));
  nt.tickAll(2);
  assert.deepEqual(nt.node(1).readStates, []);
  // The new leader's read covers "y".
  nt.raw(3).readIndex(bytes("new"));
  nt.tickAll(1);
  const rs = nt.node(3).readStates.find((r) => text(r.requestCtx) === "new");
  assert.ok(rs !== undefined && rs.index >= yIndex);
  // A follower's read goes through the leader and covers "y" as well.
  nt.raw(4).readIndex(bytes("follower"));
  nt.tickAll(1);
  const frs = nt.node(4).readStates.find((r) => text(r.requestCtx) === "follower");
  assert.ok(frs !== undefined && frs.index >= yIndex);
});

Deno.test("ReadIndex: a new leader answers reads only once it committed an entry of its term (§6.4)", () => {
  const nt = led(1, { peers: [1, 2, 3] });
  nt.propose(1, "x");
  nt.isolate(1);
  nt.drop({ from: 2, type: MessageType.MsgApp });
  nt.campaign(2);
  assert.equal(nt.node(2).state, StateType.Leader);
  nt.raw(2).readIndex(bytes("early"));
  nt.tickAll(2);
  assert.deepEqual(nt.node(2).readStates, [], "no read before the term's first commit");
  nt.heal();
  nt.isolate(1);
  nt.tickAll(2);
  const rs = nt.node(2).readStates.find((r) => text(r.requestCtx) === "early");
  assert.ok(rs !== undefined, "the read completes once the empty entry commits");
  assert.ok(rs.index >= nt.node(2).lastIndex);
});

Deno.test("leadership transfer hands leadership to an up-to-date follower (thesis §3.10)", () => {
  const nt = led(1, { peers: [1, 2, 3] });
  const term = nt.node(1).term;
  nt.raw(1).transferLeader(3);
  nt.stabilize();
  assert.equal(nt.leader(), 3);
  assert.equal(nt.node(3).term, term + 1);
  nt.propose(3, "x");
  for (const x of nt.nodes) assert.deepEqual(x.appliedData, ["x"]);
});

Deno.test("leadership transfer to a lagging follower catches it up first (thesis §3.10)", () => {
  const nt = led(1, { peers: [1, 2, 3] });
  nt.isolate(3);
  for (const v of ["a", "b", "c"]) nt.propose(1, v);
  nt.heal();
  nt.raw(1).transferLeader(3);
  // The leader learns that 3 lags on the next heartbeat round, catches it up, then hands over.
  nt.tickAll(3);
  assert.equal(nt.leader(), 3);
  assert.deepEqual(nt.node(3).appliedData.slice(0, 3), ["a", "b", "c"]);
});

Deno.test("leadership transfer: proposals are refused while it is pending, then it is aborted (thesis §3.10)", () => {
  const nt = led(1, { peers: [1, 2, 3] });
  nt.isolate(3);
  nt.raw(1).transferLeader(3);
  nt.stabilize();
  assert.throws(() => nt.raw(1).propose(bytes("during")), ProposalDroppedError);
  nt.tickAll(2 * ELECTION);
  assert.equal(nt.leader(), 1, "the transfer timed out");
  nt.propose(1, "after");
  assert.deepEqual(nt.node(1).appliedData, ["after"]);
});

// --- §7 Log compaction -------------------------------------------------------------------------

Deno.test("a follower lagging behind a compacted log catches up by snapshot, also after a restart (§7)", () => {
  const nt = led(1, { peers: [1, 2, 3] });
  nt.isolate(3);
  for (let i = 0; i < 20; i++) nt.propose(1, `v${i}`);
  const snap = nt.compact(1);
  nt.compact(2);
  assert.ok(nt.node(1).storage.firstIndex() > nt.node(3).lastIndex + 1, "3's next entry is gone");
  nt.recordSent = true;
  nt.heal();
  nt.tickAll(3);
  assert.ok(nt.sent.some((m) => m.type === MessageType.MsgSnap && m.to === 3), "sent a snapshot");
  assert.equal(nt.node(3).storage.snapshot().metadata.index, snap.metadata.index);
  assert.deepEqual(nt.node(3).appliedData, nt.node(1).appliedData);
  nt.propose(1, "after");
  nt.crash(3);
  nt.restart(3);
  nt.tickAll(3);
  assert.deepEqual(nt.node(3).appliedData, nt.node(1).appliedData);
  assert.equal(nt.node(3).appliedData.at(-1), "after");
});

// --- flow control (etcd's Progress states) ---------------------------------------------------

function progressOf(nt: Network, leader: number, id: number) {
  const p = nt.raw(leader).status().progress?.get(id);
  assert.ok(p !== undefined, `leader ${leader} tracks ${id}`);
  return p;
}

Deno.test("flow control: a full inflight window pauses appends until acks free it", () => {
  const nt = led(1, { peers: [1, 2, 3], maxInflightMsgs: 2, maxSizePerMsg: 1 });
  nt.propose(1, "warm-up");
  assert.equal(progressOf(nt, 1, 2).state, "replicate");
  for (let i = 0; i < 6; i++) nt.raw(1).propose(bytes(`e${i}`));
  nt.processReadys();
  const toTwo = () => nt.inflight.filter((m) => m.type === MessageType.MsgApp && m.to === 2);
  assert.equal(toTwo().length, 2, "only maxInflightMsgs appends in flight");
  // Deliver both, return the acks: the window frees and two more go out.
  for (const m of nt.take({ type: MessageType.MsgApp, to: 2 })) nt.raw(2).step(m);
  nt.processReadys();
  for (const m of nt.take({ type: MessageType.MsgAppResp, from: 2 })) nt.raw(1).step(m);
  nt.processReadys();
  assert.equal(toTwo().length, 2, "two more appends after two acks");
  nt.stabilize();
  assert.deepEqual(nt.node(2).appliedData.length, 7);
});

Deno.test("flow control: a probing leader sends one append at a time and backs off on reject", () => {
  const nt = led(1, { peers: [1, 2, 3], maxSizePerMsg: 1 });
  // Node 1 keeps a stale, shorter tail; node 3 then leads with a longer log, so its first probe
  // to node 1 points past node 1's log and is rejected.
  nt.isolate(1);
  for (const v of ["stale-1", "stale-2", "stale-3"]) nt.propose(1, v);
  nt.campaign(2);
  for (const v of ["a", "b", "c", "d"]) nt.propose(2, v);
  nt.campaign(3);
  assert.equal(nt.node(3).state, StateType.Leader);
  nt.heal();
  const leader = 3;
  let rejects = 0;
  let sawProbe = false;
  for (let i = 0; i < 200 && logTerms(nt, 1).join() !== logTerms(nt, leader).join(); i++) {
    nt.processReadys();
    // A heartbeat only when the network is quiet, so that replies never cross a probe.
    if (nt.inflight.length === 0) {
      nt.raw(leader).tick();
      nt.processReadys();
    }
    const p = nt.raw(leader).status().progress?.get(1);
    const apps = nt.inflight.filter((m) => m.type === MessageType.MsgApp && m.to === 1);
    if (p?.state === "probe") {
      sawProbe = true;
      assert.ok(apps.length <= 1, `probe state sends at most one append, saw ${apps.length}`);
    }
    rejects += nt.inflight.filter((m) => m.type === MessageType.MsgAppResp && m.reject).length;
    nt.deliverRound();
  }
  assert.ok(sawProbe, "the leader probed node 1");
  assert.ok(rejects > 0, "node 1 rejected a mismatching append");
  nt.stabilize();
  assert.deepEqual(logTerms(nt, 1), logTerms(nt, leader));
  assert.equal(progressOf(nt, leader, 1).state, "replicate");
  assert.deepEqual(nt.node(1).appliedData, ["a", "b", "c", "d"]);
});
