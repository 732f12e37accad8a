/**
 * A randomized, deterministic cluster simulator for the raft core.
 *
 * One run drives a cluster of RawNodes through `steps` random actions drawn from one seeded Rng:
 * ticks, message deliveries over a faulty network (loss, duplication, reordering, partitions),
 * proposals, ReadIndex requests, crashes and restarts, conf changes (voters, learners, joint
 * consensus), leadership transfers and log compaction. A crashed node keeps only what it persisted
 * in its MemoryStorage (hard state, entries, snapshot); its RawNode, unprocessed Ready and state
 * machine are lost, and it restarts from its storage snapshot.
 *
 * After every step the Checker's safety invariants must hold (see checker.ts); then, with every
 * fault healed and every node restarted, a leader must be elected and a new proposal committed and
 * applied by all members within `livenessTicksMax` ticks. The same options give the same run.
 */
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  type Config,
  type ConfState,
  decodeConfChange,
  type Entry,
  EntryType,
  MemoryStorage,
  type Message,
  MessageType,
  ProposalDroppedError,
  RawNode,
  type Ready,
  type Snapshot,
  SnapshotStatus,
  SnapshotTemporarilyUnavailableError,
  StateType,
} from "../raft/mod.ts";
import { Checker, entryKey, InvariantViolation } from "./checker.ts";
import { Rng } from "./rng.ts";
import assert from "node:assert/strict";

/** Bound on messages in flight; a full network drops new messages, as a full transport queue does. */
const QUEUE_MESSAGES_MAX = 4096;
/** Bound on Readys one node handles in one step. */
const READYS_PER_STEP_MAX = 4;
/** Bound on messages delivered while the liveness phase settles one tick. */
const SETTLE_MESSAGES_MAX = 20_000;
/** Bound on members, so that conf changes do not grow the cluster without limit. */
const MEMBERS_MAX = 7;

/** What one step may do. */
export const ACTIONS = [
  "tick",
  "tickOne",
  "deliver",
  "propose",
  "read",
  "partition",
  "heal",
  "crash",
  "restart",
  "reboot",
  "confChange",
  "transfer",
  "compact",
  "campaign",
] as const;
export type Action = typeof ACTIONS[number];

/**
 * Relative weights of the actions (per mille by default). Partitions last ~100 steps (~30 ticks,
 * beyond an election timeout) so that a deposed leader can coexist with a new one.
 */
export const DEFAULT_WEIGHTS: Readonly<Record<Action, number>> = {
  tick: 300,
  tickOne: 20,
  deliver: 390,
  propose: 110,
  read: 40,
  partition: 15,
  heal: 10,
  crash: 15,
  restart: 25,
  reboot: 10,
  confChange: 20,
  transfer: 10,
  compact: 25,
  campaign: 10,
};

export interface SimulationOptions {
  seed: number;
  steps: number;
  /** Voters the cluster is bootstrapped with (ids 1..nodes). Default 5. */
  nodes?: number;
  /** Default: drawn from the seed. */
  preVote?: boolean;
  /** Default: drawn from the seed. */
  checkQuorum?: boolean;
  electionTicks?: number;
  heartbeatTicks?: number;
  /** Ticks the liveness phase may take. Default 40 election timeouts. */
  livenessTicksMax?: number;
  /** How many recent actions a failure report shows. Default 40. */
  traceSize?: number;
  /**
   * Let conf changes remove or demote the current leader (default on). With configs taking
   * effect when applied (etcd's design) this once left clusters without a leader for good (seed
   * 195 before the core handed leadership over on removal); off narrows the search.
   */
  leaderRemoval?: boolean;
  /** Overrides of DEFAULT_WEIGHTS, e.g. `{ confChange: 100 }` for a membership-heavy run. */
  weights?: Partial<Record<Action, number>>;
  /** Called with every action, for `--verbose`. */
  onAction?: (step: number, action: string) => void;
}

export interface SimulationStats {
  leaderTerms: number;
  proposals: number;
  reads: number;
  maxApplied: number;
  crashes: number;
  confChanges: number;
  transfers: number;
  compactions: number;
  snapshotsSent: number;
  delivered: number;
  dropped: number;
  livenessTicks: number;
}

export type SimulationResult =
  & { seed: number; stats: SimulationStats; preVote: boolean; checkQuorum: boolean }
  & (
    | { ok: true; steps: number; digest: string }
    | { ok: false; step: number; phase: "steps" | "liveness"; violation: string; trace: string[] }
  );

/**
 * MemoryStorage whose snapshot() is sometimes "being built" (SnapshotTemporarilyUnavailableError),
 * as a server's may be, so that the leader's retry path runs. The simulator reads the real one
 * through `durableSnapshot()`.
 */
class FlakyStorage extends MemoryStorage {
  unavailable: () => boolean = () => false;

  override snapshot(): Snapshot {
    if (this.unavailable()) {
      throw new SnapshotTemporarilyUnavailableError("snapshot is being built");
    }
    return super.snapshot();
  }

  durableSnapshot(): Snapshot {
    return super.snapshot();
  }
}

/** One simulated machine: durable storage that survives crashes, and volatile state that does not. */
class Host {
  readonly id: number;
  readonly storage = new FlakyStorage();
  raw: RawNode | undefined;
  /** Stopped for good (a removed member shuts down); never restarted. */
  stopped = false;
  // State machine: the applied index and a hash chain over the applied entries.
  smIndex = 0;
  smHash = 0;
  confState: ConfState = {
    voters: [],
    learners: [],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  };
  // What the Readys reported (volatile).
  term = 0;
  vote = 0;
  role: StateType = StateType.Follower;
  commit = 0;
  /** Committed indexes up to here were compared with the checker's (durable view). */
  checkedCommit = 0;

  constructor(id: number) {
    this.id = id;
  }

  get alive(): boolean {
    return this.raw !== undefined;
  }
}

function isMember(cs: ConfState, id: number): boolean {
  return cs.voters.includes(id) || cs.learners.includes(id) || cs.votersOutgoing.includes(id) ||
    cs.learnersNext.includes(id);
}

function isVoter(cs: ConfState, id: number): boolean {
  return cs.voters.includes(id) || cs.votersOutgoing.includes(id);
}

function members(cs: ConfState): number[] {
  return [...new Set([...cs.voters, ...cs.learners, ...cs.votersOutgoing, ...cs.learnersNext])];
}

function encodeState(index: number, hash: number): Uint8Array {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setFloat64(0, index);
  v.setUint32(8, hash);
  return b;
}

function decodeState(data: Uint8Array): { index: number; hash: number } {
  if (data.length === 0) return { index: 0, hash: 0 };
  if (data.length !== 12) throw new InvariantViolation(`snapshot data of ${data.length} bytes`);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { index: v.getFloat64(0), hash: v.getUint32(8) };
}

const TYPE_NAMES = Object.fromEntries(Object.entries(MessageType).map(([k, v]) => [v, k]));

function describe(m: Message): string {
  let s = `${TYPE_NAMES[m.type]} ${m.from}->${m.to} t${m.term} i${m.index} lt${m.logTerm}`;
  if (m.entries.length > 0) s += ` n${m.entries.length}`;
  if (m.commit > 0) s += ` c${m.commit}`;
  if (m.reject) s += ` reject hint${m.rejectHint}`;
  if (m.snapshot !== undefined) s += ` snap${m.snapshot.metadata.index}`;
  return s;
}

export class Simulation {
  readonly #o: Required<Omit<SimulationOptions, "onAction" | "weights">> & SimulationOptions;
  readonly #rng: Rng;
  readonly #checker = new Checker();
  readonly #hosts = new Map<number, Host>();
  #hostList: Host[] = [];
  #queue: Message[] = [];
  #groups = new Map<number, number>();
  #nextId: number;
  #proposalSeq = 0;
  #readSeq = 0;
  /** ReadIndex context -> the highest index applied anywhere when the read was issued. */
  readonly #pendingReads = new Map<string, number>();
  #trace: string[] = [];
  /** The key of the liveness phase's proposal, and the index it was first applied at. */
  #livenessKey = -1;
  #livenessIndex = 0;
  #step = 0;
  // Fault rates, drawn per run.
  readonly #lossRate: number;
  readonly #dupRate: number;
  readonly #reorderRate: number;
  readonly #readyRate: number;
  readonly #maxInflightMsgs: number;
  readonly #maxSizePerMsg: number;
  readonly #flakySnapshots: boolean;
  readonly #refreshSnapshots: boolean;
  readonly #sameObjectDups: boolean;
  readonly #weights: Record<Action, number>;
  readonly #weightsTotal: number;
  /** Small limits on some runs exercise paginated Readys, dropped proposals, byte windows. */
  readonly #limits: Partial<Config>;
  readonly stats: SimulationStats = {
    leaderTerms: 0,
    proposals: 0,
    reads: 0,
    maxApplied: 0,
    crashes: 0,
    confChanges: 0,
    transfers: 0,
    compactions: 0,
    snapshotsSent: 0,
    delivered: 0,
    dropped: 0,
    livenessTicks: 0,
  };

  constructor(options: SimulationOptions) {
    this.#rng = new Rng(options.seed);
    const electionTicks = options.electionTicks ?? 10;
    this.#o = {
      nodes: 5,
      leaderRemoval: true,
      preVote: this.#rng.chance(0.5),
      checkQuorum: this.#rng.chance(0.5),
      electionTicks,
      heartbeatTicks: 1,
      livenessTicksMax: 40 * electionTicks,
      traceSize: 40,
      ...options,
    };
    this.#lossRate = this.#rng.pick([0, 0.01, 0.05, 0.15]);
    this.#dupRate = this.#rng.pick([0, 0.01, 0.05]);
    this.#reorderRate = this.#rng.pick([0, 0.1, 0.5]);
    this.#readyRate = this.#rng.pick([1, 0.9, 0.6]);
    this.#maxInflightMsgs = this.#rng.pick([1, 4, 256]);
    this.#maxSizePerMsg = this.#rng.pick([64, 1024, 1 << 20]);
    this.#weights = { ...DEFAULT_WEIGHTS, ...options.weights };
    this.#weightsTotal = ACTIONS.reduce((sum, a) => sum + this.#weights[a], 0);
    if (!ACTIONS.every((a) => Number.isSafeInteger(this.#weights[a]) && this.#weights[a] >= 0)) {
      throw new RangeError("Cannot simulate: action weights must be non-negative integers");
    }
    if (this.#weightsTotal <= 0) throw new RangeError("Cannot simulate: all weights are zero");
    this.#flakySnapshots = this.#rng.chance(0.3);
    this.#refreshSnapshots = this.#rng.chance(0.5);
    this.#sameObjectDups = this.#rng.chance(0.5);
    this.#limits = this.#rng.chance(0.3)
      ? {
        maxCommittedSizePerReady: this.#rng.pick([1, 200]),
        maxUncommittedEntriesSize: this.#rng.pick([100, 1000]),
        maxInflightBytes: Math.max(this.#maxSizePerMsg, this.#rng.pick([64, 500])),
      }
      : {};
    const peers = Array.from({ length: this.#o.nodes }, (_, i) => i + 1);
    this.#nextId = this.#o.nodes + 1;
    for (const id of peers) {
      const host = this.#addHost(id);
      host.raw = new RawNode(this.#config(host, 0));
      host.raw.bootstrap(peers);
    }
  }

  /** What each node looks like now (for debugging a seed from a script). */
  describeNodes(): string[] {
    return this.#hostList.map((h) => {
      const cs = h.confState;
      const st = h.raw?.status();
      return `${h.id}: ${h.alive ? "up" : h.stopped ? "stopped" : "down"} ` +
        `role=${h.role} term=${h.term} commit=${h.commit} applied=${h.smIndex} ` +
        `last=${h.storage.lastIndex()} voters=${cs.voters} out=${cs.votersOutgoing} ` +
        `learners=${cs.learners} lead=${st?.softState.lead}`;
    });
  }

  get preVote(): boolean {
    return this.#o.preVote;
  }

  get checkQuorum(): boolean {
    return this.#o.checkQuorum;
  }

  #addHost(id: number): Host {
    const host = new Host(id);
    if (this.#flakySnapshots) host.storage.unavailable = () => this.#rng.chance(0.3);
    this.#hosts.set(id, host);
    this.#hostList = [...this.#hosts.values()].sort((a, b) => a.id - b.id);
    return host;
  }

  #config(host: Host, applied: number): Config {
    return {
      id: host.id,
      electionTicks: this.#o.electionTicks,
      heartbeatTicks: this.#o.heartbeatTicks,
      storage: host.storage,
      applied,
      preVote: this.#o.preVote,
      checkQuorum: this.#o.checkQuorum,
      maxInflightMsgs: this.#maxInflightMsgs,
      maxSizePerMsg: this.#maxSizePerMsg,
      ...this.#limits,
      random: this.#rng.fork().asFunction(),
    };
  }

  #note(action: string): void {
    this.#trace.push(`step ${this.#step}: ${action}`);
    if (this.#trace.length > this.#o.traceSize * 2) {
      this.#trace = this.#trace.slice(-this.#o.traceSize);
    }
    this.#o.onAction?.(this.#step, action);
  }

  /** Runs the whole simulation; never throws for a raft bug, it reports it. */
  run(): SimulationResult {
    const base = {
      seed: this.#o.seed,
      stats: this.stats,
      preVote: this.#o.preVote,
      checkQuorum: this.#o.checkQuorum,
    };
    let phase: "steps" | "liveness" = "steps";
    try {
      for (this.#step = 1; this.#step <= this.#o.steps; this.#step++) {
        this.#randomAction();
        this.#processReadys(false);
      }
      phase = "liveness";
      this.#liveness();
    } catch (err) {
      const violation = err instanceof InvariantViolation
        ? err.message
        : `exception: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
      this.#finishStats();
      return {
        ...base,
        ok: false,
        step: this.#step,
        phase,
        violation,
        trace: this.#trace.slice(-this.#o.traceSize),
      };
    }
    this.#finishStats();
    const digest = this.#hostList.map((h) => `${h.id}:${h.smIndex}:${h.smHash.toString(16)}`)
      .join(" ");
    return { ...base, ok: true, steps: this.#o.steps, digest };
  }

  #finishStats(): void {
    this.stats.leaderTerms = this.#checker.terms;
    this.stats.maxApplied = this.#checker.maxApplied;
  }

  // --- actions ----------------------------------------------------------------------------------

  #randomAction(): void {
    const w = this.#weights;
    let r = this.#rng.int(this.#weightsTotal);
    for (const action of ACTIONS) {
      r -= w[action];
      if (r < 0) {
        this.#act(action);
        return;
      }
    }
    assert(false, "the weights cover every draw");
  }

  #act(action: Action): void {
    switch (action) {
      case "tick":
        return this.#tickAll();
      case "tickOne":
        return this.#tickOne();
      case "deliver":
        return this.#deliver(this.#rng.between(1, 8));
      case "propose":
        return this.#propose();
      case "read":
        return this.#read();
      case "partition":
        return this.#partition();
      case "heal":
        return this.#heal();
      case "crash":
        return this.#crash();
      case "restart":
        return this.#restart();
      case "reboot":
        return this.#reboot();
      case "confChange":
        return this.#confChange();
      case "transfer":
        return this.#transfer();
      case "compact":
        return this.#compact();
      case "campaign":
        return this.#campaign();
      default: {
        const never: never = action;
        throw new RangeError(`Cannot run unknown action ${never}`);
      }
    }
  }

  /** A crash followed at once by a restart: only what was persisted survives. */
  #reboot(host?: Host): void {
    const live = this.#live();
    if (live.length === 0) return;
    const h = host ?? this.#rng.pick(live);
    this.#crash(h);
    this.#restart(h);
  }

  #live(): Host[] {
    return this.#hostList.filter((h) => h.raw !== undefined);
  }

  /** The live node that reports itself leader at the highest term. */
  #leader(): Host | undefined {
    let best: Host | undefined;
    for (const h of this.#hostList) {
      if (h.raw === undefined || h.role !== StateType.Leader) continue;
      if (best === undefined || h.term > best.term) best = h;
    }
    return best;
  }

  #tickAll(): void {
    this.#note("tick");
    for (const h of this.#hostList) h.raw?.tick();
  }

  /** One node's clock runs ahead of the others' (clock skew). */
  #tickOne(): void {
    const live = this.#live();
    if (live.length === 0) return;
    const h = this.#rng.pick(live);
    this.#note(`tick ${h.id} alone`);
    h.raw!.tick();
  }

  #campaign(): void {
    const live = this.#live();
    if (live.length === 0) return;
    const h = this.#rng.pick(live);
    this.#note(`campaign ${h.id}`);
    h.raw!.campaign();
  }

  #deliver(count: number): void {
    for (let i = 0; i < count && this.#queue.length > 0; i++) {
      const at = this.#rng.chance(this.#reorderRate) ? this.#rng.int(this.#queue.length) : 0;
      const m = at === 0 ? this.#queue.shift()! : this.#queue.splice(at, 1)[0]!;
      this.#deliverOne(m, true);
    }
  }

  #deliverOne(m: Message, faulty: boolean): void {
    const target = this.#hosts.get(m.to);
    const cut = this.#groups.size > 0 &&
      (this.#groups.get(m.from) ?? 0) !== (this.#groups.get(m.to) ?? 0);
    if (
      target?.raw === undefined || cut || (faulty && this.#rng.chance(this.#lossRate))
    ) {
      this.stats.dropped++;
      this.#note(`drop ${describe(m)}`);
      this.#reportDropped(m);
      return;
    }
    if (faulty && this.#queue.length < QUEUE_MESSAGES_MAX && this.#rng.chance(this.#dupRate)) {
      // A copy, as a real network delivers decoded bytes; on some runs the very same object,
      // as an in-process transport might (the core must not alter a message it steps: e22b893).
      this.#queue.push(
        this.#sameObjectDups ? m : { ...m, entries: m.entries.map((e) => ({ ...e })) },
      );
    }
    this.stats.delivered++;
    this.#note(`deliver ${describe(m)}`);
    target.raw.step(m);
    if (m.type === MessageType.MsgSnap) {
      this.#hosts.get(m.from)?.raw?.reportSnapshot(m.to, SnapshotStatus.Finish);
    }
  }

  /** What a transport tells its node when a message is lost. */
  #reportDropped(m: Message): void {
    const sender = this.#hosts.get(m.from)?.raw;
    if (sender === undefined) return;
    if (m.type === MessageType.MsgSnap) sender.reportSnapshot(m.to, SnapshotStatus.Failure);
    else if (this.#rng.chance(0.2)) sender.reportUnreachable(m.to);
  }

  #send(m: Message): void {
    if (m.type === MessageType.MsgSnap) {
      this.stats.snapshotsSent++;
      // A snapshot older than the target's addition does not name it (etcd's followers ignore
      // it, and the leader would resend it forever): on some runs, like a server, take a fresh
      // one; on the others the core must cope with the old one.
      const sender = this.#hosts.get(m.from);
      const cs = m.snapshot?.metadata.confState;
      if (
        this.#refreshSnapshots && sender !== undefined && cs !== undefined && !isMember(cs, m.to)
      ) {
        this.#takeSnapshot(sender, 0);
      }
    }
    if (this.#queue.length >= QUEUE_MESSAGES_MAX) {
      this.stats.dropped++;
      this.#reportDropped(m);
      return;
    }
    this.#queue.push(m);
  }

  #propose(): void {
    const live = this.#live();
    if (live.length === 0) return;
    // Mostly to the leader, sometimes to a follower (forwarded).
    const leader = this.#leader();
    const h = leader !== undefined && this.#rng.chance(0.8) ? leader : this.#rng.pick(live);
    const seq = ++this.#proposalSeq;
    const data = new Uint8Array(8 + this.#rng.int(48));
    new DataView(data.buffer).setUint32(0, seq);
    new DataView(data.buffer).setUint32(4, this.#o.seed >>> 0);
    this.#note(`propose #${seq} on ${h.id}`);
    this.stats.proposals++;
    try {
      h.raw!.propose(data);
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
    }
  }

  #read(): void {
    const live = this.#live();
    if (live.length === 0) return;
    // Often on a node that believes it leads: a deposed leader must not answer stale reads.
    const leaders = live.filter((x) => x.role === StateType.Leader);
    const h = this.#rng.pick(leaders.length > 0 && this.#rng.chance(0.5) ? leaders : live);
    const ctx = `r${++this.#readSeq}`;
    // Linearizability: the read must see every write applied anywhere before it was issued.
    this.#pendingReads.set(ctx, this.#checker.maxApplied);
    this.stats.reads++;
    this.#note(`readIndex ${ctx} on ${h.id}`);
    h.raw!.readIndex(new TextEncoder().encode(ctx));
  }

  #partition(): void {
    const ids = this.#rng.shuffle(this.#hostList.map((h) => h.id));
    if (ids.length < 2) return;
    this.#groups.clear();
    const leader = this.#leader();
    if (leader !== undefined && this.#rng.chance(0.4)) {
      // Cut the leader (maybe with one follower) off the rest: the rest elect a new leader
      // while the old one may still believe it leads.
      const minority = [leader.id];
      const other = ids.find((id) => id !== leader.id);
      if (other !== undefined && this.#rng.chance(0.5)) minority.push(other);
      for (const id of ids) this.#groups.set(id, minority.includes(id) ? 1 : 2);
      this.#note(`partition leader side ${minority.join(",")} | rest`);
      return;
    }
    if (this.#rng.chance(0.4)) {
      this.#groups.set(ids[0]!, 1);
      this.#note(`isolate ${ids[0]}`);
      return;
    }
    const cut = this.#rng.between(1, ids.length - 1);
    ids.forEach((id, i) => this.#groups.set(id, i < cut ? 1 : 2));
    this.#note(`partition ${ids.slice(0, cut).join(",")} | ${ids.slice(cut).join(",")}`);
  }

  #heal(): void {
    if (this.#groups.size === 0) return;
    this.#note("heal");
    this.#groups.clear();
  }

  #crash(host?: Host): void {
    const live = this.#live();
    const crashed = this.#hostList.filter((h) => !h.alive && !h.stopped).length;
    if (host === undefined && (live.length === 0 || crashed >= 2)) return;
    const h = host ?? this.#rng.pick(live);
    this.#note(`crash ${h.id}`);
    this.stats.crashes++;
    h.raw = undefined;
    // Volatile state is gone: the Readys it reports after restart start from scratch.
    h.role = StateType.Follower;
  }

  #restart(host?: Host): void {
    const down = this.#hostList.filter((h) => !h.alive && !h.stopped);
    if (host === undefined && down.length === 0) return;
    const h = host ?? this.#rng.pick(down);
    this.#note(`restart ${h.id}`);
    const snap = h.storage.durableSnapshot();
    const state = decodeState(snap.data);
    if (state.index !== snap.metadata.index) {
      throw new InvariantViolation(`node ${h.id} snapshot data at ${state.index} in a snapshot`);
    }
    this.#checker.restored(h.id, state);
    h.smIndex = state.index;
    h.smHash = state.hash;
    h.confState = structuredClone(snap.metadata.confState);
    const hs = h.storage.initialState().hardState;
    // Invariant: the commit index restarts at the persisted one, never below what was checked.
    h.term = hs.term;
    h.vote = hs.vote;
    h.commit = hs.commit;
    h.role = StateType.Follower;
    h.raw = new RawNode(this.#config(h, snap.metadata.index));
    if (h.id <= this.#o.nodes && h.storage.lastIndex() === 0 && hs.term === 0) {
      // Crashed before persisting its bootstrap: a server bootstraps again on an empty disk.
      h.raw.bootstrap(Array.from({ length: this.#o.nodes }, (_, i) => i + 1));
    }
  }

  #confChange(): void {
    const leader = this.#leader();
    if (leader === undefined) return;
    const cc = this.#randomConfChange(leader.confState, this.#o.leaderRemoval ? 0 : leader.id);
    if (cc === undefined) return;
    const summary = cc.changes.map((c) => `${["add", "remove", "learner"][c.type]} ${c.nodeId}`)
      .join(", ");
    this.#note(`confChange on ${leader.id} [${summary}] transition ${cc.transition}`);
    for (const c of cc.changes) {
      if (!this.#hosts.has(c.nodeId)) {
        const h = this.#addHost(c.nodeId);
        h.raw = new RawNode(this.#config(h, 0));
      }
    }
    try {
      leader.raw!.proposeConfChange(cc);
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
    }
  }

  /** A valid change against `cs` (etcd's confchange rules), or undefined. */
  #randomConfChange(cs: ConfState, keep: number): ConfChange | undefined {
    const empty = new Uint8Array();
    if (cs.votersOutgoing.length > 0) {
      // In a joint config only leaving it is allowed.
      if (cs.autoLeave) return undefined;
      return { transition: ConfChangeTransition.Auto, changes: [], context: empty };
    }
    const joint = this.#rng.chance(0.3);
    const count = joint ? 2 : 1;
    const voters = new Set(cs.voters);
    const learners = new Set(cs.learners);
    const changes: ConfChange["changes"] = [];
    // `keep` (the leader, unless leaderRemoval) is never removed nor demoted.
    const used = new Set<number>([keep]);
    for (let i = 0; i < count; i++) {
      const kind = this.#rng.int(4);
      const memberIds = [...voters, ...learners].filter((id) => !used.has(id));
      if (kind === 0 && voters.size + learners.size < MEMBERS_MAX) {
        // A brand-new node (ids are never reused), as voter or learner.
        const id = this.#nextId++;
        const type = this.#rng.chance(0.5) ? ConfChangeType.AddNode : ConfChangeType.AddLearnerNode;
        (type === ConfChangeType.AddNode ? voters : learners).add(id);
        changes.push({ type, nodeId: id });
        used.add(id);
      } else if (kind === 1 && memberIds.length > 0) {
        const id = this.#rng.pick(memberIds);
        voters.delete(id);
        learners.delete(id);
        changes.push({ type: ConfChangeType.RemoveNode, nodeId: id });
        used.add(id);
      } else if (kind === 2 && learners.size > 0) {
        const id = this.#rng.pick([...learners].filter((x) => !used.has(x)).concat([0]));
        if (id === 0) continue;
        learners.delete(id);
        voters.add(id);
        changes.push({ type: ConfChangeType.AddNode, nodeId: id });
        used.add(id);
      } else if (kind === 3 && voters.size > 1) {
        const id = this.#rng.pick([...voters].filter((x) => !used.has(x)).concat([0]));
        if (id === 0) continue;
        voters.delete(id);
        learners.add(id);
        changes.push({ type: ConfChangeType.AddLearnerNode, nodeId: id });
        used.add(id);
      }
    }
    if (changes.length === 0 || voters.size === 0) return undefined;
    let transition: ConfChangeTransition = ConfChangeTransition.Auto;
    if (joint) {
      transition = this.#rng.pick([
        ConfChangeTransition.Auto,
        ConfChangeTransition.JointImplicit,
        ConfChangeTransition.JointExplicit,
      ]);
    } else {
      // A simple change may change at most one voter; a demotion plus nothing else is fine.
      const changed = [...voters].filter((v) => !cs.voters.includes(v)).length +
        cs.voters.filter((v) => !voters.has(v)).length;
      if (changed > 1) return undefined;
    }
    if (changes.length === 1 && transition === ConfChangeTransition.Auto && joint) {
      // One change under Auto is a simple change: it must change at most one voter.
      const changed = [...voters].filter((v) => !cs.voters.includes(v)).length +
        cs.voters.filter((v) => !voters.has(v)).length;
      if (changed > 1) return undefined;
    }
    return { transition, changes, context: empty };
  }

  #transfer(): void {
    const leader = this.#leader();
    if (leader === undefined) return;
    const targets = leader.confState.voters.filter((id) => id !== leader.id);
    if (targets.length === 0) return;
    const to = this.#rng.pick(targets);
    this.#note(`transferLeader ${leader.id} -> ${to}`);
    this.stats.transfers++;
    leader.raw!.transferLeader(to);
  }

  #compact(): void {
    const live = this.#live();
    if (live.length === 0) return;
    const h = this.#rng.pick(live);
    this.#takeSnapshot(h, this.#rng.int(8));
  }

  /** Snapshots `h`'s state machine at its applied index and compacts all but `keep` entries. */
  #takeSnapshot(h: Host, keep: number): void {
    const snapIndex = h.storage.durableSnapshot().metadata.index;
    if (h.smIndex <= snapIndex || h.smIndex > h.storage.lastIndex()) return;
    this.#note(`compact ${h.id} snapshot at ${h.smIndex}, keep ${keep}`);
    this.stats.compactions++;
    h.storage.createSnapshot(h.smIndex, h.confState, encodeState(h.smIndex, h.smHash));
    const to = h.smIndex - keep;
    if (to >= h.storage.firstIndex()) h.storage.compact(to);
  }

  // --- Ready processing and the invariants it feeds ---------------------------------------------

  #processReadys(all: boolean): boolean {
    let any = false;
    for (const h of this.#hostList) {
      for (let i = 0; i < READYS_PER_STEP_MAX; i++) {
        if (h.raw === undefined || !h.raw.hasReady()) break;
        if (!all && !this.#rng.chance(this.#readyRate)) break;
        const voted = this.#handleReady(h, h.raw, h.raw.ready(), all);
        any = true;
        // Crash right after casting a vote: the vote must have been persisted (§5.2, Figure 2).
        if (voted && !all && h.alive && this.#rng.chance(0.25)) this.#reboot(h);
      }
    }
    return any;
  }

  /** Handles one Ready; returns whether it carried a granted vote. */
  #handleReady(h: Host, raw: RawNode, rd: Ready, calm: boolean): boolean {
    const checker = this.#checker;
    // 1. Persist the snapshot, the hard state and the entries.
    if (rd.snapshot !== undefined) {
      const meta = rd.snapshot.metadata;
      const term = checker.committedTermAt(meta.index);
      if (term !== undefined && term !== meta.term) {
        throw new InvariantViolation(
          `node ${h.id} got a snapshot at ${meta.index} term ${meta.term}, committed term ${term}`,
        );
      }
      h.storage.applySnapshot(rd.snapshot);
    }
    const persistedCommit = h.storage.initialState().hardState.commit;
    for (const e of rd.entries) {
      checker.logged(e, h.id);
      // Invariant: a committed entry is never overwritten.
      if (e.index <= persistedCommit) {
        checker.committed(e, { id: h.id, how: "overwrote committed" });
      }
    }
    if (rd.entries.length > 0) h.storage.append(rd.entries);
    if (rd.hardState !== undefined) {
      const hs = rd.hardState;
      if (hs.commit < h.commit) {
        throw new InvariantViolation(
          `node ${h.id} commit index went from ${h.commit} down to ${hs.commit}`,
        );
      }
      if (hs.term < h.term) {
        throw new InvariantViolation(`node ${h.id} term went from ${h.term} down to ${hs.term}`);
      }
      if (hs.term === h.term && h.vote !== 0 && hs.vote !== h.vote) {
        throw new InvariantViolation(
          `vote once per term (§5.2): node ${h.id} voted for ${h.vote}, then ${hs.vote} in term ${hs.term}`,
        );
      }
      h.term = hs.term;
      h.vote = hs.vote;
      h.commit = hs.commit;
      h.storage.setHardState(hs);
      this.#checkDurableCommit(h);
    }
    if (rd.softState !== undefined) {
      const was = h.role;
      h.role = rd.softState.raftState;
      if (h.role === StateType.Leader && was !== StateType.Leader) this.#checkCompleteness(h);
    }
    if (h.role === StateType.Leader) checker.leader(h.id, { term: h.term, how: "reported leader" });
    // A rare crash after persisting, before sending or applying.
    if (!calm && this.#rng.chance(0.002)) {
      this.#crash(h);
      return false;
    }
    // 2. Send.
    for (const m of rd.messages) {
      if (
        m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat ||
        m.type === MessageType.MsgSnap
      ) {
        checker.leader(m.from, { term: m.term, how: `sent ${describe(m)}` });
      }
      this.#send(m);
    }
    // 3. Apply the snapshot, then the committed entries.
    if (rd.snapshot !== undefined) this.#restore(h, rd.snapshot);
    for (const e of rd.committedEntries) this.#apply(h, raw, e);
    for (const rs of rd.readStates) {
      const ctx = new TextDecoder().decode(rs.requestCtx);
      const minIndex = this.#pendingReads.get(ctx);
      if (minIndex === undefined) continue;
      this.#pendingReads.delete(ctx);
      if (rs.index < minIndex) {
        throw new InvariantViolation(
          `linearizable read (ReadIndex) ${ctx} on node ${h.id} got index ${rs.index}, but ` +
            `index ${minIndex} was already applied when the read was issued`,
        );
      }
    }
    // 4. Advance.
    raw.advance();
    return rd.messages.some((m) =>
      (m.type === MessageType.MsgVoteResp || m.type === MessageType.MsgPreVoteResp) && !m.reject
    );
  }

  /** Leader completeness (§5.4): a new leader's (persisted) log holds every committed entry. */
  #checkCompleteness(h: Host): void {
    const last = h.storage.lastIndex();
    const max = this.#checker.maxCommitted;
    if (max > last) {
      throw new InvariantViolation(
        `leader completeness (§5.4): node ${h.id} leads term ${h.term} with last index ${last}, ` +
          `but index ${max} is committed`,
      );
    }
    for (let i = h.storage.firstIndex(); i <= max; i++) {
      const want = this.#checker.committedTermAt(i);
      if (want !== undefined && h.storage.term(i) !== want) {
        throw new InvariantViolation(
          `leader completeness (§5.4): node ${h.id} leads term ${h.term} with term ` +
            `${h.storage.term(i)} at ${i}, where term ${want} is committed`,
        );
      }
    }
  }

  /** Every entry this node durably marks committed must be the committed one. */
  #checkDurableCommit(h: Host): void {
    const commit = h.commit;
    if (commit <= h.checkedCommit) return;
    const last = h.storage.lastIndex();
    if (commit > last) {
      throw new InvariantViolation(
        `node ${h.id} persisted commit ${commit} beyond its persisted log (last index ${last})`,
      );
    }
    const lo = Math.max(h.checkedCommit + 1, h.storage.firstIndex());
    if (lo <= commit) {
      for (const e of h.storage.entries(lo, commit + 1)) {
        this.#checker.committed(e, { id: h.id, how: "persisted as committed" });
      }
    }
    h.checkedCommit = commit;
  }

  #restore(h: Host, snap: Snapshot): void {
    const state = decodeState(snap.data);
    if (state.index !== snap.metadata.index) {
      throw new InvariantViolation(
        `node ${h.id} got snapshot ${snap.metadata.index} holding state at ${state.index}`,
      );
    }
    if (state.index < h.smIndex) {
      throw new InvariantViolation(
        `node ${h.id} restores snapshot ${state.index} behind its applied index ${h.smIndex}`,
      );
    }
    this.#checker.restored(h.id, state);
    h.smIndex = state.index;
    h.smHash = state.hash;
    h.confState = structuredClone(snap.metadata.confState);
    if (h.checkedCommit < state.index) h.checkedCommit = state.index;
  }

  #apply(h: Host, raw: RawNode, e: Entry): void {
    h.smHash = this.#checker.applied(e, { id: h.id, index: h.smIndex, hash: h.smHash });
    h.smIndex = e.index;
    if (this.#livenessIndex === 0 && entryKey(e) === this.#livenessKey) {
      this.#livenessIndex = e.index;
    }
    if (e.type === EntryType.ConfChange) {
      const cs = raw.applyConfChange(decodeConfChange(e.data));
      // Bootstrap pre-applies all its entries at once, a replay after a restart one by one: the
      // configs at indexes 1..nodes legitimately differ between the two.
      if (e.index > this.#o.nodes) this.#checker.conf(h.id, { index: e.index, cs });
      h.confState = cs;
      this.stats.confChanges++;
    }
  }

  // --- liveness ---------------------------------------------------------------------------------

  /** The newest config any node applied. */
  #latestConf(): ConfState {
    let best = this.#hostList[0]!;
    for (const h of this.#hostList) if (h.smIndex > best.smIndex) best = h;
    return best.confState;
  }

  #liveness(): void {
    this.#note("liveness: heal everything, restart every node");
    this.#groups.clear();
    for (const h of this.#hostList) if (!h.alive && !h.stopped) this.#restart(h);
    this.#settle();
    const payload = new TextEncoder().encode(`liveness ${this.#o.seed}`);
    this.#livenessKey = entryKey({ term: 0, index: 0, type: EntryType.Normal, data: payload });
    let proposedTo: Host | undefined;
    let proposedTerm = 0;
    let committedAt = 0;
    for (let t = 1; t <= this.#o.livenessTicksMax; t++) {
      this.#step++;
      this.stats.livenessTicks = t;
      this.#stopRemoved();
      for (const h of this.#hostList) h.raw?.tick();
      this.#settle();
      if (committedAt === 0) committedAt = this.#livenessIndex;
      if (committedAt > 0) {
        const cs = this.#latestConf();
        const lagging = members(cs).filter((id) => {
          const h = this.#hosts.get(id);
          return h !== undefined && h.alive && h.smIndex < committedAt;
        });
        if (lagging.length === 0) return;
        continue;
      }
      const leader = this.#leader();
      if (leader === undefined || !isVoter(leader.confState, leader.id)) continue;
      if (proposedTo !== leader || proposedTerm !== leader.term) {
        proposedTo = leader;
        proposedTerm = leader.term;
        this.#note(`liveness: propose on leader ${leader.id} term ${leader.term}`);
        try {
          leader.raw!.propose(payload);
        } catch (err) {
          if (!(err instanceof ProposalDroppedError)) throw err;
          proposedTo = undefined;
        }
        this.#settle();
      }
    }
    const state = this.#hostList.map((h) =>
      `${h.id}:${
        h.stopped ? "stopped" : ["follower", "candidate", "leader", "precandidate"][h.role]
      } t${h.term} c${h.commit} a${h.smIndex}`
    ).join(", ");
    const cs = this.#latestConf();
    const conf = `voters ${cs.voters} learners ${cs.learners} outgoing ${cs.votersOutgoing}`;
    const what = committedAt === 0
      ? `no proposal committed within ${this.#o.livenessTicksMax} ticks after healing`
      : `members did not apply index ${committedAt} within ${this.#o.livenessTicksMax} ticks`;
    throw new InvariantViolation(`liveness: ${what} (config: ${conf}; nodes: ${state})`);
  }

  /** Removed members shut down (as a server does once it applies its own removal). */
  #stopRemoved(): void {
    const cs = this.#latestConf();
    const memberHosts = members(cs).map((id) => this.#hosts.get(id)).filter((h) => h?.alive);
    for (const h of this.#hostList) {
      if (h.stopped || isMember(cs, h.id)) continue;
      // Only nodes that were members once; a node still joining keeps running.
      if (h.smIndex === 0 && h.storage.lastIndex() === 0) continue;
      // A member that has not applied the removal yet may still need this node's vote.
      if (memberHosts.some((m) => isMember(m!.confState, h.id))) continue;
      this.#note(`liveness: stop removed node ${h.id}`);
      h.raw = undefined;
      h.stopped = true;
    }
  }

  /** Delivers every message and handles every Ready until the cluster is quiet. */
  #settle(): void {
    for (let delivered = 0; delivered < SETTLE_MESSAGES_MAX;) {
      const any = this.#processReadys(true);
      if (this.#queue.length === 0) {
        if (!any) return;
        continue;
      }
      const batch = this.#queue;
      this.#queue = [];
      for (const m of batch) this.#deliverOne(m, false);
      delivered += batch.length;
    }
    throw new InvariantViolation(`liveness: over ${SETTLE_MESSAGES_MAX} messages in one tick`);
  }
}

export function simulate(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run();
}
