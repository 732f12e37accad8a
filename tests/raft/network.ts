/**
 * A deterministic in-memory network of RawNodes for cluster-level raft tests.
 *
 * Each node owns a MemoryStorage (its "disk") and a tiny state machine (the list of applied normal
 * entries). `processReady` follows the order documented on `Ready` exactly: persist the snapshot,
 * the hard state and the entries; send the messages into the network; apply the snapshot, then the
 * committed entries (decoding and applying conf changes); advance.
 *
 * Messages wait in one in-flight queue. Faults (drop, delay, duplicate, reorder, partitions) act
 * when a message is delivered. All randomness comes from a seeded Rng, so a test replays exactly.
 */
import {
  type ConfChange,
  type Config,
  type ConfState,
  decodeConfChange,
  type Entry,
  EntryType,
  MemoryStorage,
  type Message,
  MessageType,
  RawNode,
  type ReadState,
  type Snapshot,
  SnapshotStatus,
  StateType,
} from "../../raft/mod.ts";
import { Rng } from "../../sim/rng.ts";

/** Upper bound on messages delivered by one `stabilize()`, so a livelock fails instead of hanging. */
const STABILIZE_MESSAGES_MAX = 200_000;
/** Upper bound on Ready rounds of one node in one `processReadys()`. */
const READY_ROUNDS_MAX = 1_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface NetworkOptions {
  /** Voters the cluster is bootstrapped with. */
  peers: number[];
  /** Nodes that exist (can receive messages) but are not bootstrapped; they join by conf change. */
  spares?: number[];
  preVote?: boolean;
  checkQuorum?: boolean;
  electionTicks?: number;
  heartbeatTicks?: number;
  maxInflightMsgs?: number;
  maxSizePerMsg?: number;
  readOnlyOption?: "safe" | "lease";
  seed?: number;
  /** Shuffle each round of delivered messages. */
  reorder?: boolean;
  /** Last word on each node's config (e.g. a different electionTicks for one node). */
  configure?: (config: Config) => Config;
}

/** Which messages a fault applies to; an absent field matches everything. */
export interface MessageMatch {
  from?: number;
  to?: number;
  type?: MessageType;
  /** Any further condition, e.g. on the entries carried. */
  where?: (m: Message) => boolean;
}

interface Fault extends MessageMatch {
  kind: "drop" | "delay" | "duplicate";
  /** Probability that a matching message is affected. */
  rate: number;
  /** For "delay": how many network ticks the message waits. */
  ticks: number;
}

interface Envelope {
  message: Message;
  /** The network clock value from which the message may be delivered. */
  dueTick: number;
  /** A message is delayed at most once. */
  delayed: boolean;
}

/** One node: its durable storage, its volatile RawNode (absent while crashed) and what it applied. */
export class TestNode {
  readonly id: number;
  readonly storage: MemoryStorage;
  raw: RawNode | undefined;
  /** Data of applied normal entries with non-empty data, in order (the state machine). */
  appliedData: string[] = [];
  /** Every applied entry (normal and conf change), in order, since the last restart or snapshot. */
  appliedEntries: Entry[] = [];
  appliedIndex = 0;
  confState: ConfState = emptyConfState();
  readStates: ReadState[] = [];

  constructor(id: number, storage: MemoryStorage) {
    this.id = id;
    this.storage = storage;
  }

  get alive(): boolean {
    return this.raw !== undefined;
  }

  #node(): RawNode {
    if (this.raw === undefined) throw new Error(`Cannot use node ${this.id}: it is crashed`);
    return this.raw;
  }

  get state(): StateType {
    return this.#node().status().softState.raftState;
  }

  get term(): number {
    return this.#node().status().hardState.term;
  }

  get vote(): number {
    return this.#node().status().hardState.vote;
  }

  get commit(): number {
    return this.#node().status().hardState.commit;
  }

  get lead(): number {
    return this.#node().status().softState.lead;
  }

  /** The index of the last entry in durable storage. */
  get lastIndex(): number {
    return this.storage.lastIndex();
  }

  /** The durable log from `lo` (default: the first available index) on. */
  entries(lo?: number): Entry[] {
    const from = lo ?? this.storage.firstIndex();
    const last = this.storage.lastIndex();
    return from > last ? [] : this.storage.entries(from, last + 1);
  }
}

export function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

/** A message with every field defaulted; tests name only what matters. */
export function msg(fields: Partial<Message> & Pick<Message, "type" | "from" | "to">): Message {
  return {
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: new Uint8Array(),
    ...fields,
  };
}

export function text(data: Uint8Array): string {
  return decoder.decode(data);
}

export function bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

function matches(m: Message, rule: MessageMatch): boolean {
  return (rule.from === undefined || rule.from === m.from) &&
    (rule.to === undefined || rule.to === m.to) &&
    (rule.type === undefined || rule.type === m.type) &&
    (rule.where === undefined || rule.where(m));
}

export class Network {
  readonly rng: Rng;
  readonly #nodes = new Map<number, TestNode>();
  readonly #options: NetworkOptions;
  #queue: Envelope[] = [];
  #faults: Fault[] = [];
  /** Node id -> partition group; nodes in different groups cannot talk. Empty = no partition. */
  #groups = new Map<number, number>();
  /** The network clock, advanced by `tickAll`. */
  #now = 0;
  /** Every message handed to the network, in order (for assertions about what was sent). */
  sent: Message[] = [];
  /** Keep `sent` only when a test asks for it: it grows without bound otherwise. */
  recordSent = false;

  constructor(options: NetworkOptions) {
    this.#options = options;
    this.rng = new Rng(options.seed ?? 1);
    for (const id of options.peers) this.#addNode(id, { bootstrap: true });
    for (const id of options.spares ?? []) this.#addNode(id, { bootstrap: false });
  }

  /** The config a node (re)starts with. */
  config(id: number, options: { storage: MemoryStorage; applied: number }): Config {
    const { storage, applied } = options;
    const o = this.#options;
    let config: Config = {
      id,
      electionTicks: o.electionTicks ?? 10,
      heartbeatTicks: o.heartbeatTicks ?? 1,
      storage,
      applied,
      preVote: o.preVote ?? false,
      checkQuorum: o.checkQuorum ?? false,
      random: this.rng.fork().asFunction(),
    };
    if (o.maxInflightMsgs !== undefined) config.maxInflightMsgs = o.maxInflightMsgs;
    if (o.maxSizePerMsg !== undefined) config.maxSizePerMsg = o.maxSizePerMsg;
    if (o.readOnlyOption !== undefined) config.readOnlyOption = o.readOnlyOption;
    if (o.configure) config = o.configure(config);
    return config;
  }

  #addNode(id: number, options: { bootstrap: boolean }): TestNode {
    if (this.#nodes.has(id)) throw new RangeError(`Cannot add node ${id}: it exists`);
    const node = new TestNode(id, new MemoryStorage());
    node.raw = new RawNode(this.config(id, { storage: node.storage, applied: 0 }));
    if (options.bootstrap) node.raw.bootstrap(this.#options.peers);
    this.#nodes.set(id, node);
    return node;
  }

  /** Creates an empty node (no log, no config) that can join through a conf change. */
  addNode(id: number): TestNode {
    return this.#addNode(id, { bootstrap: false });
  }

  node(id: number): TestNode {
    const node = this.#nodes.get(id);
    if (node === undefined) throw new RangeError(`Cannot find node ${id}`);
    return node;
  }

  raw(id: number): RawNode {
    const raw = this.node(id).raw;
    if (raw === undefined) throw new Error(`Cannot use node ${id}: it is crashed`);
    return raw;
  }

  get ids(): number[] {
    return [...this.#nodes.keys()].sort((a, b) => a - b);
  }

  get nodes(): TestNode[] {
    return this.ids.map((id) => this.node(id));
  }

  /** Messages waiting in the network. */
  get inflight(): readonly Message[] {
    return this.#queue.map((e) => e.message);
  }

  /** The one live node that believes it leads in the highest term, if any. */
  leader(): number | undefined {
    let best: TestNode | undefined;
    for (const node of this.nodes) {
      if (!node.alive || node.state !== StateType.Leader) continue;
      if (best === undefined || node.term > best.term) best = node;
    }
    return best?.id;
  }

  // --- faults -----------------------------------------------------------------------------------

  drop(match: MessageMatch = {}, options: { rate?: number } = {}): void {
    this.#faults.push({ ...match, kind: "drop", rate: options.rate ?? 1, ticks: 0 });
  }

  delay(match: MessageMatch, options: { ticks: number; rate?: number }): void {
    this.#faults.push({ ...match, kind: "delay", rate: options.rate ?? 1, ticks: options.ticks });
  }

  duplicate(match: MessageMatch = {}, options: { rate?: number } = {}): void {
    this.#faults.push({ ...match, kind: "duplicate", rate: options.rate ?? 1, ticks: 0 });
  }

  /** Cuts `id` off from every other node. */
  isolate(id: number): void {
    this.partition([id], this.ids.filter((other) => other !== id));
  }

  /** Splits the nodes into groups that cannot talk to each other; unnamed nodes form one group. */
  partition(...groups: number[][]): void {
    this.#groups.clear();
    groups.forEach((group, i) => group.forEach((id) => this.#groups.set(id, i + 1)));
  }

  /** Removes partitions and every drop/delay/duplicate rule. */
  heal(): void {
    this.#groups.clear();
    this.#faults = [];
  }

  #cut(m: Message): boolean {
    if (this.#groups.size === 0 || m.from === m.to) return false;
    return (this.#groups.get(m.from) ?? 0) !== (this.#groups.get(m.to) ?? 0);
  }

  // --- crash and restart ------------------------------------------------------------------------

  /** Loses the node's volatile state and in-flight messages to it; its storage survives. */
  crash(id: number): void {
    const node = this.node(id);
    node.raw = undefined;
    this.#queue = this.#queue.filter((e) => e.message.to !== id);
  }

  /** Restarts from storage; the state machine restarts from the storage snapshot. */
  restart(id: number): void {
    const node = this.node(id);
    if (node.raw !== undefined) throw new Error(`Cannot restart node ${id}: it is running`);
    const snap = node.storage.snapshot();
    restoreStateMachine(node, snap);
    node.raw = new RawNode(
      this.config(id, { storage: node.storage, applied: snap.metadata.index }),
    );
  }

  /** Takes a snapshot of `id`'s state machine at its applied index and compacts its log to it. */
  compact(id: number, options: { keep?: number } = {}): Snapshot {
    const node = this.node(id);
    const index = node.appliedIndex;
    const data = bytes(JSON.stringify(node.appliedData));
    const snap = node.storage.createSnapshot(index, node.confState, data);
    const compactTo = index - (options.keep ?? 0);
    if (compactTo >= node.storage.firstIndex()) node.storage.compact(compactTo);
    return snap;
  }

  // --- driving the nodes ------------------------------------------------------------------------

  /** Handles one Ready of `id`, if it has one. Returns whether it did. */
  processReady(id: number): boolean {
    const node = this.node(id);
    const raw = node.raw;
    if (raw === undefined || !raw.hasReady()) return false;
    const rd = raw.ready();
    // 1. Persist: snapshot first, then hard state and entries.
    if (rd.snapshot !== undefined) node.storage.applySnapshot(rd.snapshot);
    if (rd.hardState !== undefined) node.storage.setHardState(rd.hardState);
    if (rd.entries.length > 0) node.storage.append(rd.entries);
    // 2. Send.
    for (const m of rd.messages) this.#enqueue(m);
    // 3. Apply the snapshot, then the committed entries.
    if (rd.snapshot !== undefined) restoreStateMachine(node, rd.snapshot);
    for (const e of rd.committedEntries) applyEntry(node, e);
    node.readStates.push(...rd.readStates);
    // 4. Advance.
    raw.advance();
    return true;
  }

  /** Processes Readys of every live node until none has one. Returns whether any did. */
  processReadys(): boolean {
    let any = false;
    for (const id of this.ids) {
      for (let round = 0; this.processReady(id); round++) {
        any = true;
        if (round >= READY_ROUNDS_MAX) throw new Error(`Node ${id} keeps producing Readys`);
      }
    }
    return any;
  }

  #enqueue(m: Message): void {
    if (this.recordSent) this.sent.push(m);
    this.#queue.push({ message: m, dueTick: this.#now, delayed: false });
  }

  /** Hands messages to the network (as if some node sent them) without delivering them. */
  send(...messages: Message[]): void {
    for (const m of messages) this.#enqueue(m);
  }

  /** Removes and returns in-flight messages matching `match` (to inspect or re-inject them). */
  take(match: MessageMatch = {}): Message[] {
    const taken: Message[] = [];
    this.#queue = this.#queue.filter((e) => {
      if (!matches(e.message, match)) return true;
      taken.push(e.message);
      return false;
    });
    return taken;
  }

  /**
   * Delivers one round: every message due now, through the fault rules. Returns how many
   * messages reached a node.
   */
  deliverRound(): number {
    const due: Envelope[] = [];
    const later: Envelope[] = [];
    for (const e of this.#queue) (e.dueTick <= this.#now ? due : later).push(e);
    this.#queue = later;
    if (this.#options.reorder) this.rng.shuffle(due);
    let delivered = 0;
    for (const e of due) {
      const m = e.message;
      if (this.#cut(m)) {
        this.#lost(m);
        continue;
      }
      let dropped = false;
      let copies = 1;
      let delayTicks = 0;
      for (const f of this.#faults) {
        if (!matches(m, f) || (f.rate < 1 && !this.rng.chance(f.rate))) continue;
        if (f.kind === "drop") dropped = true;
        else if (f.kind === "duplicate") copies = 2;
        else delayTicks = Math.max(delayTicks, f.ticks);
      }
      if (dropped) {
        this.#lost(m);
        continue;
      }
      if (delayTicks > 0 && !e.delayed) {
        this.#queue.push({ message: m, dueTick: this.#now + delayTicks, delayed: true });
        continue;
      }
      for (let c = 0; c < copies; c++) {
        const target = this.#nodes.get(m.to);
        if (target?.raw === undefined) {
          this.#lost(m);
          continue;
        }
        // Each copy is a fresh object, as decoded bytes would be: a leader assigns index and
        // term to a proposal's entries in place.
        target.raw.step(c === 0 ? m : { ...m, entries: m.entries.map((e) => ({ ...e })) });
        delivered++;
        if (m.type === MessageType.MsgSnap) {
          this.#nodes.get(m.from)?.raw?.reportSnapshot(m.to, SnapshotStatus.Finish);
        }
      }
    }
    return delivered;
  }

  /** A transport tells the sender of a lost snapshot, so that it can retry. */
  #lost(m: Message): void {
    if (m.type !== MessageType.MsgSnap) return;
    this.#nodes.get(m.from)?.raw?.reportSnapshot(m.to, SnapshotStatus.Failure);
  }

  /**
   * Runs Readys and delivers messages until the cluster is quiet (no Ready, nothing due).
   * Delayed messages stay queued until their tick comes.
   */
  stabilize(): void {
    let total = 0;
    for (;;) {
      this.processReadys();
      if (!this.#queue.some((e) => e.dueTick <= this.#now)) return;
      total += this.deliverRound();
      if (total > STABILIZE_MESSAGES_MAX) {
        throw new Error(`Cannot stabilize: over ${STABILIZE_MESSAGES_MAX} messages delivered`);
      }
    }
  }

  /** Ticks one node `n` times, stabilizing after each tick. */
  tick(id: number, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.raw(id).tick();
      this.stabilize();
    }
  }

  /** Ticks every live node `n` times (advancing the network clock), stabilizing after each. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      this.#now++;
      for (const node of this.nodes) node.raw?.tick();
      this.stabilize();
    }
  }

  /** Makes `id` campaign (as if its election timer fired) and stabilizes. */
  campaign(id: number): void {
    this.raw(id).campaign();
    this.stabilize();
  }

  /** Proposes `data` on `id` and stabilizes. Throws ProposalDroppedError if raft drops it. */
  propose(id: number, data: string): void {
    this.raw(id).propose(bytes(data));
    this.stabilize();
  }

  proposeConfChange(id: number, cc: ConfChange): void {
    this.raw(id).proposeConfChange(cc);
    this.stabilize();
  }
}

export function newNetwork(options: NetworkOptions): Network {
  return new Network(options);
}

function restoreStateMachine(node: TestNode, snap: Snapshot): void {
  node.appliedIndex = snap.metadata.index;
  node.confState = structuredClone(snap.metadata.confState);
  node.appliedData = snap.data.length === 0 ? [] : JSON.parse(text(snap.data)) as string[];
  node.appliedEntries = [];
}

function applyEntry(node: TestNode, e: Entry): void {
  if (e.index !== node.appliedIndex + 1) {
    throw new Error(`Node ${node.id} applies index ${e.index} after ${node.appliedIndex}`);
  }
  node.appliedIndex = e.index;
  node.appliedEntries.push(e);
  if (e.type === EntryType.ConfChange) {
    node.confState = node.raw!.applyConfChange(decodeConfChange(e.data));
  } else if (e.data.length > 0) {
    node.appliedData.push(text(e.data));
  }
}
