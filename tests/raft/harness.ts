/**
 * A hand-routed cluster of RawNodes with MemoryStorage, for role-level tests: each node's Ready
 * is handled in the documented order (persist, send, apply, advance) and messages are delivered
 * in FIFO order unless a test drops or isolates them. Deterministic: no timers, seeded random.
 */
import {
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
  SnapshotStatus,
  StateType,
} from "../../raft/mod.ts";
import { mulberry32 } from "../../raft/util.ts";

export interface TestNode {
  id: number;
  rn: RawNode;
  storage: MemoryStorage;
  /** Data of applied normal entries (empty ones skipped). */
  applied: Entry[];
  readStates: ReadState[];
  confState: ConfState;
}

export interface ClusterOptions {
  /** Voters at bootstrap. */
  peers: number[];
  /** Extra nodes added as learners right after bootstrap (on every node). */
  learners?: number[];
  config?: Partial<Omit<Config, "id" | "storage">>;
}

export class Cluster {
  readonly nodes = new Map<number, TestNode>();
  /** Messages in flight, in send order. */
  queue: Message[] = [];
  /** Nodes whose traffic (both ways) is dropped. */
  readonly isolated = new Set<number>();
  /** Drops the messages it returns true for. */
  drop: (m: Message) => boolean = () => false;
  /** Every message delivered so far (for assertions on traffic). */
  delivered: Message[] = [];
  /**
   * Act as a transport that reports snapshot outcomes: a MsgSnap that is dropped reports
   * Failure to its sender, a delivered one Finish (etcd's ReportSnapshot contract).
   */
  reportSnapshots = false;
  /** Called with each message just before it is delivered (before the receiver mutates it). */
  onDeliver: ((m: Message) => void) | undefined = undefined;

  constructor(options: ClusterOptions) {
    const all = [...options.peers, ...(options.learners ?? [])];
    for (const id of all) this.addNode(id, options);
  }

  addNode(id: number, options: ClusterOptions): TestNode {
    const storage = new MemoryStorage();
    const rn = new RawNode({
      id,
      electionTicks: 10,
      heartbeatTicks: 1,
      storage,
      random: mulberry32(id * 7919),
      ...options.config,
    });
    const node: TestNode = {
      id,
      rn,
      storage,
      applied: [],
      readStates: [],
      confState: {
        voters: [],
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      },
    };
    if (options.peers.includes(id) || (options.learners ?? []).includes(id)) {
      rn.bootstrap(options.peers);
      for (const l of options.learners ?? []) {
        node.confState = rn.applyConfChange({
          transition: 0,
          changes: [{ type: 2, nodeId: l }],
          context: new Uint8Array(),
        });
      }
    }
    this.nodes.set(id, node);
    return node;
  }

  node(id: number): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new RangeError(`no node ${id}`);
    return n;
  }

  raft(id: number) {
    return this.node(id).rn.raft;
  }

  /** Handles one Ready of node `id` if it has one; queues its messages. */
  processReady(id: number): boolean {
    const n = this.node(id);
    if (!n.rn.hasReady()) return false;
    const rd = n.rn.ready();
    if (rd.snapshot !== undefined) {
      n.storage.applySnapshot(rd.snapshot);
      n.confState = rd.snapshot.metadata.confState;
    }
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
    n.storage.append(rd.entries);
    this.queue.push(...rd.messages);
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.ConfChange) {
        n.confState = n.rn.applyConfChange(decodeConfChange(e.data));
      } else if (e.data.byteLength > 0) {
        n.applied.push(e);
      }
    }
    n.readStates.push(...rd.readStates);
    n.rn.advance();
    return true;
  }

  /** Processes every node's Ready once. */
  processAll(): boolean {
    let any = false;
    for (const id of this.nodes.keys()) any = this.processReady(id) || any;
    return any;
  }

  #blocked(m: Message): boolean {
    return this.isolated.has(m.to) || this.isolated.has(m.from) || this.drop(m);
  }

  /** Delivers what is queued now (not what their handling produces). */
  deliverQueued(): number {
    const msgs = this.queue;
    this.queue = [];
    let n = 0;
    for (const m of msgs) {
      if (this.#blocked(m) || !this.nodes.has(m.to)) {
        this.reportDropped(m);
        continue;
      }
      this.delivered.push(m);
      this.onDeliver?.(m);
      this.node(m.to).rn.step(m);
      if (this.reportSnapshots && m.type === MessageType.MsgSnap) {
        this.nodes.get(m.from)?.rn.reportSnapshot(m.to, SnapshotStatus.Finish);
      }
      n++;
    }
    return n;
  }

  /** What a transport does when it loses a message (see reportSnapshots). */
  reportDropped(m: Message): void {
    if (this.reportSnapshots && m.type === MessageType.MsgSnap) {
      this.nodes.get(m.from)?.rn.reportSnapshot(m.to, SnapshotStatus.Failure);
    }
  }

  /** Runs Readys and deliveries until quiet (bounded). */
  stabilize(maxRounds = 200): void {
    for (let round = 0; round < maxRounds; round++) {
      const any = this.processAll();
      if (!any && this.queue.length === 0) return;
      this.deliverQueued();
    }
    throw new Error(`cluster did not stabilize within ${maxRounds} rounds`);
  }

  tick(id: number, times = 1): void {
    for (let k = 0; k < times; k++) this.node(id).rn.tick();
  }

  tickAll(times = 1): void {
    for (let k = 0; k < times; k++) {
      for (const n of this.nodes.values()) n.rn.tick();
      this.stabilize();
    }
  }

  /** Makes `id` campaign and runs the cluster until quiet. */
  elect(id: number): void {
    this.node(id).rn.campaign();
    this.stabilize();
  }

  state(id: number): StateType {
    return this.raft(id).state;
  }

  leaders(): number[] {
    return [...this.nodes.values()].filter((n) => n.rn.raft.state === StateType.Leader).map((n) =>
      n.id
    );
  }

  /** Drains and returns what node `id` would send (after processing its Ready). */
  takeMessages(id: number): Message[] {
    this.processReady(id);
    const mine = this.queue.filter((m) => m.from === id);
    this.queue = this.queue.filter((m) => m.from !== id);
    return mine;
  }
}

export function countType(msgs: Message[], t: MessageType): number {
  return msgs.filter((m) => m.type === t).length;
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/**
 * A bare Raft (inside a RawNode) whose config holds `peers` as voters, with no log entries:
 * tests shape its log with `raft.raftLog.append` and route its `msgs` by hand.
 */
export function newTestRaft(
  id: number,
  peers: number[],
  config: Partial<Omit<Config, "id" | "storage">> = {},
): RawNode {
  const rn = new RawNode({
    id,
    electionTicks: 10,
    heartbeatTicks: 1,
    storage: new MemoryStorage(),
    random: mulberry32(id),
    ...config,
  });
  for (const p of peers) {
    rn.applyConfChange({
      transition: 0,
      changes: [{ type: 0, nodeId: p }],
      context: new Uint8Array(),
    });
  }
  return rn;
}

/** Delivers the `msgs` of bare rafts among themselves until quiet; returns what was delivered. */
export function routeRafts(nodes: RawNode[], maxRounds = 100): Message[] {
  const byId = new Map(nodes.map((n) => [n.raft.id, n]));
  const delivered: Message[] = [];
  for (let round = 0; round < maxRounds; round++) {
    const msgs: Message[] = [];
    for (const n of nodes) {
      msgs.push(...n.raft.msgs);
      n.raft.msgs = [];
    }
    if (msgs.length === 0) return delivered;
    for (const m of msgs) {
      const to = byId.get(m.to);
      if (to === undefined) continue;
      delivered.push(m);
      to.raft.step(m);
    }
  }
  throw new Error(`rafts did not go quiet within ${maxRounds} rounds`);
}

export function entries(spec: Array<[number, number]>): Entry[] {
  return spec.map(([index, term]) => ({
    index,
    term,
    type: EntryType.Normal,
    data: new Uint8Array(),
  }));
}

/** Simulates a crash and restart of node `id`: a new RawNode over the same storage. */
export function restartNode(c: Cluster, id: number, config: Partial<Config> = {}): void {
  const old = c.node(id);
  const rn = new RawNode({
    id,
    electionTicks: 10,
    heartbeatTicks: 1,
    storage: old.storage,
    random: mulberry32(id * 104729),
    ...config,
  });
  // The state machine restarts from the snapshot: what follows it is replayed from the log.
  c.nodes.set(id, {
    ...old,
    rn,
    applied: [],
    readStates: [],
    confState: old.storage.initialState().confState,
  });
}
