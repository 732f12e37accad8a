/**
 * One raftkv node: the raft `Node`, its storage (WAL, snapshots, MemoryStorage), the peer
 * transport and the state machine, joined by the Ready loop.
 *
 * The loop handles each Ready in etcd's order:
 *  1. a leader hands its messages to the transport first, so followers write while it writes
 *     (Raft thesis §10.2.1);
 *  2. committed entries already on this node's disk are applied at once;
 *  3. persist: an incoming snapshot (file, then WAL marker), then hard state and entries to the WAL
 *     with one fsync;
 *  4. install the snapshot and append the entries to MemoryStorage;
 *  5. a follower sends its messages now, after its sync: an acknowledgement means "on disk"
 *     (what it forwards to its leader, proposals and reads, left at once, with no Ready:
 *     `propose`);
 *  6. apply the other committed entries and conf changes, answer waiting writes and reads: a write
 *     is answered only once it is in the WAL of a majority of voters;
 *  7. every `snapshotCount` applied entries (at this node's phase: snapshot_schedule.ts), take a
 *     snapshot: the keys changed since the last one (at once), or now and then an image of the
 *     whole store (beside the loop; see snapshot_chain.ts), which a busy node puts off until a
 *     tick finds it idle; mark a finished one in the WAL, compact MemoryStorage, release WAL
 *     segments and snapshot files no chain needs;
 *  8. `advance()`.
 *
 * A leader writes its WAL beside the loop instead (`#handleLeaderReady`): it applies a committed
 * entry once a majority has it on disk, itself or not, and goes on once this Ready's entries are
 * on a majority's disk, so that the requests arriving meanwhile share the next Ready
 * (`#untilReplicated`).
 */
import {
  type ConfChange,
  ConfChangeError,
  ConfChangeType,
  type ConfState,
  decodeConfChange,
  type Entry,
  EntryType,
  type Logger,
  MemoryStorage,
  type Message,
  MessageType,
  Node,
  type Ready,
  SnapOutOfDateError,
  type Snapshot,
  type SnapshotMetadata,
  type SnapshotStatus,
  StateType,
} from "../raft/mod.ts";
import { Wal } from "../wal/mod.ts";
import type { Snapshotter } from "../snap/mod.ts";
import { decodeCommand, type KvResult, KvStore } from "../kv/mod.ts";
import type { HttpTransport } from "../transport/mod.ts";
import { decodeConfChangeContext, type Member, Members } from "./members.ts";
import {
  checkSnapshotImage,
  decodeSnapshotData,
  releaseSnapshotBytes,
  snapshotDataPrefix,
} from "./snapshot_data.ts";
import { type ChainLink, SnapshotChain } from "./snapshot_chain.ts";
import {
  idFraction,
  idleWindowMs,
  snapshotDue,
  type SnapshotPhase,
  snapshotPhase,
} from "./snapshot_schedule.ts";
import { IdleMeter } from "./idle_meter.ts";
import type { ServerMetrics } from "./metrics.ts";
import { WaitRegistry } from "./wait.ts";
import { ReadIndexBatcher } from "./read_index.ts";

/**
 * A leader's WAL writes running at once: the loop waits for the oldest before it starts another,
 * so a disk slower than the followers holds the leader back instead of queueing without end.
 */
const LEADER_WRITES_MAX = 2;
/** Entries kept in memory behind a snapshot, so a slow follower catches up by log, not snapshot. */
const CATCH_UP_ENTRIES_MAX = 5000;
/**
 * Changed keys above which a snapshot is an image rather than a change set: a change set is
 * encoded in one go on the loop, an image in slices beside it.
 */
const CHANGED_KEYS_MAX = 100_000;
/** Raft storage keeps snapshot metadata only: the data lives in snap/ and in the store. */
const NO_DATA = new Uint8Array();
/**
 * An image is encoded and written this much at a time (snapshot_job.ts `chunks`): a few ms of
 * encoding per chunk beside the loop, and one reused buffer instead of the whole image.
 */
const IMAGE_CHUNK_BYTES = 1024 * 1024;

/**
 * Waits for every promise to settle, then throws the first failure: unlike `Promise.all`, nothing
 * is still running when the caller goes on.
 */
async function allDone(promises: readonly Promise<unknown>[]): Promise<void> {
  for (const result of await Promise.allSettled(promises)) {
    if (result.status === "rejected") throw result.reason;
  }
}

/** A change set captured at `index`, encoding beside the loop behind its snapshot data prefix. */
interface ChangeSetTaken {
  index: number;
  confState: ConfState;
  prefix: Uint8Array;
  data: Promise<Uint8Array>;
}

/** What a waiting conf change learns once its entry applies. */
export type ConfChangeResult = { ok: true; members: Member[] } | { ok: false; reason: string };

export interface RaftServerOptions {
  id: number;
  clusterId: string;
  node: Node;
  storage: MemoryStorage;
  wal: Wal;
  snapshotter: Snapshotter;
  transport: HttpTransport;
  store: KvStore;
  members: Members;
  /** Peer URLs from the command line, used for members bootstrapped without one. */
  bootstrapURLs: Map<number, string>;
  appliedIndex: number;
  snapshotIndex: number;
  /** The snapshot files the recovered state came from (empty for none). */
  snapshotChain: SnapshotChain;
  /** The configuration as of `appliedIndex` (from the snapshot, or empty). */
  confState: ConfState;
  snapshotCount: number;
  tickMs: number;
  electionTicks: number;
  requestTimeoutMs: number;
  logger: Logger;
  metrics: ServerMetrics;
  /** Called once, when this node has applied its own removal from the cluster. */
  onRemoved(): void;
}

export class RaftServer {
  readonly id: number;
  readonly clusterId: string;
  readonly node: Node;
  readonly store: KvStore;
  readonly members: Members;
  readonly writes: WaitRegistry<KvResult>;
  readonly confChanges: WaitRegistry<ConfChangeResult>;
  readonly reads: ReadIndexBatcher;
  #options: RaftServerOptions;
  #log: Logger;
  #storage: MemoryStorage;
  #appliedIndex: number;
  #snapshotIndex: number;
  #confState: ConfState;
  #leader = 0;
  #role: StateType = StateType.Follower;
  #term = 0;
  #commitIndex = 0;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #loop: Promise<void> | undefined;
  #stopped = false;
  #leaderWatchers = new Set<() => void>();
  #removed = false;
  #snapshotRunning = false;
  /** The last index written to the WAL: entries up to it survive a crash of this node. */
  #persistedIndex: number;
  /** A leader's WAL writes still running beside the loop, oldest first (see #handleLeaderReady). */
  #leaderWrites: Promise<void>[] = [];
  /** Why a leader's WAL write failed: the loop stops on it. */
  #walFailure: unknown;
  /** The loop's waits (see `#until`), run by `#recheckWaits`. */
  #loopWaiters = new Set<() => void>();
  /** Ticks since start: a leader's wait for its followers ends at the next one (`#untilReplicated`). */
  #ticks = 0;
  /** A snapshot whose file is written, waiting for the loop to put its marker in the WAL. */
  #snapshotSaved: { link: ChainLink; started: number } | undefined;
  /** The chain of the newest snapshot marked in the WAL, and the one before its image. */
  #chain: SnapshotChain;
  #previousChain = new SnapshotChain();
  /** A failed snapshot lost the store's record of changes: the next one must be an image. */
  #imageNeeded = false;
  /** Store images (local, or for a follower) are taken one at a time: the store allows one job. */
  #imageTail: Promise<unknown> = Promise.resolve();
  #snapshotPhase: SnapshotPhase;
  /**
   * Lowers this node's image limits (`SnapshotChain.imageNeed`): every node reaches them at
   * about the same index, and three images of 185 MB written at once put writes to a follower at
   * p99 815 ms.
   */
  #imageStagger: number;
  /**
   * When a node under load defers an image (`SnapshotChain.imageNeed`), it is taken once idle:
   * quiet for longer the higher its stagger (`idleWindowMs`).
   */
  #idleMeter: IdleMeter;
  /**
   * The loop is handling a Ready: it may be waiting on the disk, and then the node uses little CPU
   * but is not idle. Loading a million keys, a follower began its deferred image half a second
   * after another node began one, as if idle, most likely while its WAL fsync waited.
   */
  #inReady = false;

  constructor(options: RaftServerOptions) {
    this.#options = options;
    this.id = options.id;
    this.clusterId = options.clusterId;
    this.node = options.node;
    this.store = options.store;
    this.members = options.members;
    this.#log = options.logger;
    this.#storage = options.storage;
    this.#appliedIndex = options.appliedIndex;
    this.#snapshotIndex = options.snapshotIndex;
    this.#confState = options.confState;
    this.#chain = options.snapshotChain;
    this.#snapshotPhase = snapshotPhase(options.id, options.snapshotCount);
    this.#imageStagger = idFraction(options.id);
    this.#idleMeter = new IdleMeter({ windowMs: idleWindowMs(this.#imageStagger) });
    const { hardState } = options.storage.initialState();
    this.#term = hardState.term;
    this.#commitIndex = hardState.commit;
    this.#persistedIndex = options.storage.lastIndex();
    this.writes = new WaitRegistry({ waitersMax: 100_000, timeoutMs: options.requestTimeoutMs });
    this.confChanges = new WaitRegistry({ waitersMax: 64, timeoutMs: options.requestTimeoutMs });
    const electionMs = options.tickMs * options.electionTicks;
    this.reads = new ReadIndexBatcher({
      issue: (context) => {
        this.node.readIndex(context);
        this.#sendForwarded();
        // Its heartbeats go out with the next Ready: a leader loop waiting on followers goes on.
        this.#recheckWaits();
      },
      appliedIndex: () => this.#appliedIndex,
      timeoutMs: options.requestTimeoutMs,
      retryMs: Math.max(electionMs, 50),
      readersMax: 100_000,
    });
  }

  get appliedIndex(): number {
    return this.#appliedIndex;
  }
  get snapshotIndex(): number {
    return this.#snapshotIndex;
  }
  get leader(): number {
    return this.#leader;
  }
  get role(): StateType {
    return this.#role;
  }
  get term(): number {
    return this.#term;
  }
  get commitIndex(): number {
    return this.#commitIndex;
  }
  get lastIndex(): number {
    return this.#storage.lastIndex();
  }
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Starts the ticker and the Ready loop. */
  start(): void {
    this.#ticker = setInterval(() => {
      this.node.tick();
      this.#ticks++;
      this.#recheckWaits();
      this.#idleMeter.sample();
      // A loop inside a Ready may be waiting on its disk, which uses no CPU: not idle.
      if (this.#idleMeter.idle && !this.#inReady) this.#maybeStartIdleImage();
    }, this.#options.tickMs);
    this.#loop = this.#run().catch((error) => {
      // A failed WAL write or a broken invariant: the node cannot go on safely.
      this.#log.error(`raft loop stopped: ${(error as Error).stack ?? error}`);
      this.#stopped = true;
      throw error;
    });
  }

  /** Stops ticking, lets the Ready in hand finish, and resolves once the loop has ended. */
  async stop(): Promise<void> {
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
    this.#ticker = undefined;
    this.#stopped = true;
    this.#recheckWaits();
    this.node.stop();
    await this.#loop?.catch(() => {});
  }

  /** Resolves when the leader changes (or after `timeoutMs`); for leader transfer and tests. */
  waitLeaderChange(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#leaderWatchers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#leaderWatchers.add(done);
    });
  }

  /** A message from a peer; garbage that raft refuses is logged, never fatal. */
  receive(message: Message): void {
    try {
      // Raft does not look inside snapshot data: check it here, before raft takes it.
      if (message.type === MessageType.MsgSnap) checkSnapshotImage(message.snapshot?.data);
      this.node.step(message);
      // An acknowledgement may make entries durable on a majority without this node, and any
      // message may give raft something to send: a waiting leader loop goes on (#untilReplicated).
      this.#recheckWaits();
    } catch (error) {
      this.#log.warn(`dropped message from ${message.from}: ${(error as Error).message}`);
    }
  }

  /**
   * Proposes `data`; throws ProposalDroppedError as `Node.propose` does. A follower sends the
   * proposal to its leader now rather than with its next Ready, whose messages go out after this
   * node's fsync: a write through a follower no longer waits for that disk on its way in.
   */
  propose(data: Uint8Array): void {
    this.node.propose(data);
    this.#sendForwarded();
  }

  /** Sends what this follower forwards to its leader (RawNode.takeForwarded) without a Ready. */
  #sendForwarded(): void {
    if (this.node.rawNode.raft.state === StateType.Leader) return;
    this.#send(this.node.takeForwarded());
  }

  reportUnreachable(id: number): void {
    this.node.reportUnreachable(id);
  }

  reportSnapshot(id: number, status: SnapshotStatus): void {
    this.node.reportSnapshot(id, status);
  }

  async #run(): Promise<void> {
    for await (const ready of this.node.ready()) {
      this.#inReady = true;
      await this.#handleReady(ready);
      this.#inReady = false;
      this.node.advance();
      if (this.#stopped) break;
    }
  }

  async #handleReady(ready: Ready): Promise<void> {
    if (ready.softState) this.#updateSoftState(ready.softState.lead, ready.softState.raftState);
    if (ready.hardState) {
      this.#term = ready.hardState.term;
      this.#commitIndex = ready.hardState.commit;
    }
    if (this.#walFailure !== undefined) throw this.#walFailure;
    const isLeader = this.#role === StateType.Leader;
    if (isLeader && ready.snapshot === undefined) return await this.#handleLeaderReady(ready);
    // A node that led until now may still be writing its last entries: they go first.
    if (this.#leaderWrites.length > 0) await Promise.all(this.#leaderWrites);
    if (isLeader) this.#send(ready.messages);

    // Committed entries already on this node's disk need not wait for this Ready's sync: applying
    // them first takes a whole fsync off the latency of a write.
    let committed = ready.committedEntries;
    if (ready.snapshot === undefined) {
      const durable = Math.min(this.#persistedIndex, (ready.entries[0]?.index ?? Infinity) - 1);
      const split = committed.findIndex((entry) => entry.index > durable);
      const now = split === -1 ? committed : committed.slice(0, split);
      committed = split === -1 ? [] : committed.slice(split);
      if (now.length > 0) {
        this.#applyEntries(now);
        this.reads.onApplied();
      }
    }

    // A snapshot's file and its restore into the store run at once: the one waits on the disk,
    // the other on the CPU (at a million keys about 2 s each: the wiped follower of `--scale`).
    const received = ready.snapshot &&
      { snapshot: ready.snapshot, ...decodeSnapshotData(ready.snapshot.data) };
    if (received) {
      await allDone([
        this.#saveSnapshot(received.snapshot),
        // In slices: the node keeps serving reads of its old state meanwhile.
        this.store.restoreAsync(received.store),
      ]);
    }
    const started = performance.now();
    await this.#options.wal.save(ready.hardState, ready.entries, { sync: ready.mustSync });
    if (ready.mustSync) {
      this.#options.metrics.walSyncSeconds.observe((performance.now() - started) / 1000);
    }
    const lastSaved = ready.entries.at(-1)?.index;
    if (received) this.#persistedIndex = received.snapshot.metadata.index;
    if (lastSaved !== undefined) this.#persistedIndex = lastSaved;

    if (received) {
      this.#storage.applySnapshot({ metadata: received.snapshot.metadata, data: NO_DATA });
      this.#installSnapshot(received.snapshot.metadata, received.members);
      // Saved and installed: nothing reads these bytes again (a snapshot this node sends is
      // built anew from the store).
      releaseSnapshotBytes(received.snapshot.data);
    }
    if (ready.hardState) this.#storage.setHardState(ready.hardState);
    if (ready.entries.length > 0) this.#storage.append(ready.entries);
    if (!isLeader) this.#send(ready.messages);

    this.#applyEntries(committed);
    if (ready.readStates.length > 0) this.reads.onReadStates(ready.readStates);
    else if (committed.length > 0) this.reads.onApplied();
    await this.#finishSnapshot();
    this.#maybeStartSnapshot();
  }

  /**
   * A leader's Ready. Its WAL write runs beside the loop: raft counts a leader's entries toward
   * commit as soon as it appends them, and a write is answered once its entry is in the fsynced
   * WAL of a majority of voters (SPEC): the leader's and a follower's, or both followers' when the
   * leader's fsync is the slow one (`node.durableIndex`). On two shared cores one fsync in a few
   * dozen takes 10-20 ms while the process waits for a CPU; before, every such fsync of the
   * leader's held up every write in flight.
   *
   * The loop then waits until this Ready's entries are durable on a majority (`#untilReplicated`),
   * not merely on this node's disk. Under load the leader's fsync ends before a follower's
   * acknowledgement, and a loop that went on then took a Ready of the one or two requests that
   * had arrived, and made every node write and fsync it alone: at 64 connections 42% of the
   * leader's Readies held one or two entries, and the requests answered by one Ready reached the
   * next only after that small one. Waiting for the acknowledgement halves the Readies, and so the
   * fsyncs and messages of every node.
   */
  async #handleLeaderReady(ready: Ready): Promise<void> {
    // Followers write while the leader writes (Raft thesis §10.2.1).
    this.#send(ready.messages);
    // Raft reads entries back from storage once they are stable (after advance), not from disk.
    if (ready.hardState) this.#storage.setHardState(ready.hardState);
    if (ready.entries.length > 0) this.#storage.append(ready.entries);
    await this.#startLeaderWrite(ready);
    const committed = ready.committedEntries;
    const lastCommitted = committed.at(-1)?.index;
    if (lastCommitted !== undefined) await this.#untilDurable(lastCommitted);
    this.#applyEntries(committed);
    if (ready.readStates.length > 0) this.reads.onReadStates(ready.readStates);
    else if (committed.length > 0) this.reads.onApplied();
    const lastEntry = ready.entries.at(-1)?.index;
    if (lastEntry !== undefined) await this.#untilReplicated(lastEntry);
    await this.#finishSnapshot();
    this.#maybeStartSnapshot();
  }

  /** Starts the WAL write of a leader's Ready; waits first while two are still running. */
  async #startLeaderWrite(ready: Ready): Promise<void> {
    if (ready.hardState === undefined && ready.entries.length === 0) return;
    if (this.#leaderWrites.length >= LEADER_WRITES_MAX) await this.#leaderWrites[0];
    if (this.#walFailure !== undefined) throw this.#walFailure;
    const started = performance.now();
    const lastSaved = ready.entries.at(-1)?.index;
    const write = this.#options.wal.save(ready.hardState, ready.entries, { sync: ready.mustSync })
      .then(() => {
        if (ready.mustSync) {
          this.#options.metrics.walSyncSeconds.observe((performance.now() - started) / 1000);
        }
        if (lastSaved !== undefined) {
          this.#persistedIndex = Math.max(this.#persistedIndex, lastSaved);
        }
      }, (error) => {
        this.#walFailure ??= error;
      }).finally(() => {
        this.#leaderWrites.splice(this.#leaderWrites.indexOf(write), 1);
        this.#recheckWaits();
      });
    this.#leaderWrites.push(write);
  }

  /**
   * True when entry `index` is in this node's WAL, or (as leader) in the WALs of a majority. A
   * committed entry in this node's WAL is on a majority: its commit counted this node.
   */
  #isDurable(index: number): boolean {
    return this.#persistedIndex >= index || this.node.durableIndex(this.#persistedIndex) >= index;
  }

  /**
   * A leader's wait at the end of a Ready whose entries end at `index`: resolves once a majority
   * holds them on disk, or, once this node does, as soon as raft has messages to send (a
   * follower's answer, a read's heartbeat), a tick has passed, or this node no longer leads. So
   * the loop never stalls on followers that do not answer, and never holds back what raft sends.
   */
  #untilReplicated(index: number): Promise<void> {
    const ticksAtStart = this.#ticks;
    // Raft's own state, not `#role`: the soft state that would update `#role` is in the very
    // Ready this wait holds back.
    return this.#until(() =>
      this.#stopped || this.node.durableIndex(this.#persistedIndex) >= index ||
      (this.#persistedIndex >= index &&
        (this.node.rawNode.hasMessages() || this.#ticks > ticksAtStart ||
          this.node.rawNode.raft.state !== StateType.Leader))
    );
  }

  /** Resolves once `#isDurable(index)`; rejects if a WAL write failed meanwhile. */
  #untilDurable(index: number): Promise<void> {
    return this.#until(() => this.#isDurable(index));
  }

  /** Resolves once `done()`, checked by `#recheckWaits`. */
  #until(done: () => boolean): Promise<void> {
    if (this.#walFailure !== undefined) return Promise.reject(this.#walFailure);
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.#walFailure !== undefined) reject(this.#walFailure);
        else if (done()) resolve();
        else return;
        this.#loopWaiters.delete(check);
      };
      this.#loopWaiters.add(check);
    });
  }

  /** Runs the loop's waits: when a WAL write ends, a message arrives, a read is issued, a tick passes. */
  #recheckWaits(): void {
    if (this.#loopWaiters.size === 0) return;
    for (const check of [...this.#loopWaiters]) check();
  }

  #updateSoftState(lead: number, role: StateType): void {
    const changed = lead !== this.#leader;
    if (changed) this.#log.info(`leader is now ${lead === 0 ? "unknown" : lead}`);
    this.#leader = lead;
    this.#role = role;
    if (changed) { for (const watcher of [...this.#leaderWatchers]) watcher(); }
  }

  #send(messages: Message[]): void {
    if (messages.length === 0) return;
    this.#options.transport.send(messages);
  }

  async #saveSnapshot(snapshot: Snapshot): Promise<void> {
    // The file first, then the WAL marker: on restart only snapshots the WAL knows are loaded.
    await this.#options.snapshotter.save(snapshot);
    const { index, term } = snapshot.metadata;
    await this.#options.wal.saveSnapshot({ index, term });
    this.#markChain({ index, term, bytes: snapshot.data.length, image: true });
  }

  /** Records a snapshot marked in the WAL, and removes the files no kept chain needs. */
  #markChain(link: ChainLink): void {
    if (link.image) this.#previousChain = this.#chain;
    this.#chain = this.#chain.then(link);
    const keep = [...this.#previousChain.links, ...this.#chain.links];
    this.#options.snapshotter.retain(keep).catch((error) => {
      this.#log.warn(`cannot remove old snapshot files: ${(error as Error).message}`);
    });
  }

  /** Takes up a snapshot from the leader once it is saved and the store restored from it. */
  #installSnapshot(metadata: SnapshotMetadata, members: Members): void {
    const { index, confState } = metadata;
    this.#confState = confState;
    this.#replaceMembers(members);
    this.#appliedIndex = index;
    this.#snapshotIndex = index;
    this.#options.metrics.snapshots.inc({ source: "peer" });
    this.#log.info(`installed snapshot at index ${index} from the leader`);
  }

  #replaceMembers(next: Members): void {
    for (const member of this.members.list()) {
      if (!next.has(member.id)) this.members.remove(member.id);
    }
    for (const member of next.list()) this.#setMember(member);
    const self = next.has(this.id);
    if (!self && next.isRemoved(this.id)) this.markRemoved();
  }

  #applyEntries(entries: Entry[]): void {
    for (const entry of entries) {
      if (entry.index <= this.#appliedIndex) continue;
      if (entry.index !== this.#appliedIndex + 1) {
        throw new Error(
          `Cannot apply entry ${entry.index}: applied index is ${this.#appliedIndex} (gap in the log)`,
        );
      }
      if (entry.type === EntryType.ConfChange) this.#applyConfChange(entry);
      else if (entry.data.length > 0) this.#applyCommand(entry);
      // The store's index follows raft's, so that its snapshots and change sets carry it.
      if (this.store.appliedIndex < entry.index) this.store.advanceTo(entry.index);
      this.#appliedIndex = entry.index;
    }
    this.#options.metrics.appliedEntries.inc({}, entries.length);
  }

  #applyCommand(entry: Entry): void {
    let command;
    try {
      command = decodeCommand(entry.data);
    } catch (error) {
      // Every node skips the same bytes, so the replicas stay identical.
      this.#log.error(`skipping entry ${entry.index}: ${(error as Error).message}`);
      return;
    }
    const result = this.store.apply(entry.index, command);
    this.writes.trigger(command.requestId, result);
  }

  #applyConfChange(entry: Entry): void {
    let change: ConfChange;
    try {
      change = decodeConfChange(entry.data);
    } catch (error) {
      this.#log.error(`skipping conf change entry ${entry.index}: ${(error as Error).message}`);
      return;
    }
    const context = decodeConfChangeContext(change.context);
    const refusal = this.#validateConfChange(change);
    if (refusal !== undefined) {
      this.#log.warn(`conf change at ${entry.index} refused: ${refusal}`);
      if (context.requestId) {
        this.confChanges.trigger(context.requestId, { ok: false, reason: refusal });
      }
      return;
    }
    try {
      this.#confState = this.node.applyConfChange(change);
    } catch (error) {
      // Raft refuses a change that does not fit its configuration; every node refuses alike.
      if (!(error instanceof ConfChangeError)) throw error;
      this.#log.warn(`conf change at ${entry.index} refused by raft: ${error.message}`);
      if (context.requestId) {
        this.confChanges.trigger(context.requestId, { ok: false, reason: error.message });
      }
      return;
    }
    for (const single of change.changes) {
      const id = single.nodeId;
      if (single.type === ConfChangeType.RemoveNode) {
        this.members.remove(id);
        if (id !== this.id) this.#options.transport.removePeer(id);
        this.#log.info(`member ${id} removed`);
        if (id === this.id) this.markRemoved();
        continue;
      }
      const peerURL = context.peerURL ?? this.members.get(id)?.peerURL ??
        this.#options.bootstrapURLs.get(id);
      if (peerURL === undefined) {
        this.#log.error(`member ${id} added without a peer URL; it cannot be reached`);
        continue;
      }
      const learner = single.type === ConfChangeType.AddLearnerNode;
      this.#setMember({ id, peerURL, learner });
      this.#log.info(`member ${id} at ${peerURL} is now a ${learner ? "learner" : "voter"}`);
    }
    if (context.requestId) {
      this.confChanges.trigger(context.requestId, { ok: true, members: this.members.list() });
    }
  }

  /** Same answer on every node: it depends only on the applied member table. */
  #validateConfChange(change: ConfChange): string | undefined {
    for (const single of change.changes) {
      const member = this.members.get(single.nodeId);
      switch (single.type) {
        case ConfChangeType.AddNode:
          if (member !== undefined && !member.learner) {
            return `node ${single.nodeId} is already a voter`;
          }
          break;
        case ConfChangeType.AddLearnerNode:
          if (member !== undefined) return `node ${single.nodeId} is already a member`;
          break;
        case ConfChangeType.RemoveNode:
          if (member === undefined) return `node ${single.nodeId} is not a member`;
          break;
        default:
          return `unknown change type ${single.type}`;
      }
    }
    return undefined;
  }

  #setMember(member: Member): void {
    this.members.set(member);
    if (member.id !== this.id) this.#options.transport.addPeer(member.id, member.peerURL);
  }

  /** This node is no longer a member: from its own log, or because a member said so. */
  markRemoved(): void {
    if (this.#removed) return;
    this.#removed = true;
    this.#log.warn("this node was removed from the cluster");
    this.#options.onRemoved();
  }

  /**
   * Builds the data of a MsgSnap for a follower: an image of the store as of now, which may be
   * newer than the snapshot raft chose (the metadata is rewritten to match; any committed prefix
   * serves, as in etcd). Runs beside the loop; raft hears of the outcome from the transport.
   */
  prepareSnapshot(message: Message): Promise<Message> {
    // After any image in progress: the store encodes one at a time.
    return this.#withImageJob(async () => {
      const started = performance.now();
      await this.store.sortKeysAsync();
      const index = this.#appliedIndex;
      const metadata = { index, term: this.#storage.term(index), confState: this.#confState };
      const prefix = snapshotDataPrefix(this.members);
      // Copy-on-write from here on: entries go on being applied while the image is encoded.
      const { data, index: imageIndex } = await this.store.snapshotAsync({
        headroom: prefix.length,
      });
      if (imageIndex !== index) {
        throw new Error(`the image is at index ${imageIndex}, the snapshot at ${index}`);
      }
      data.set(prefix, 0);
      this.#log.info(
        `snapshot for member ${message.to} at index ${index}: image of ` +
          `${data.length - prefix.length} bytes built in ${
            (performance.now() - started).toFixed(0)
          } ms`,
      );
      return { ...message, snapshot: { metadata, data } };
    });
  }

  /** Runs `take` once no other image is being taken: the store encodes one at a time. */
  #withImageJob<T>(take: () => Promise<T>): Promise<T> {
    const p = this.#imageTail.then(take, take);
    this.#imageTail = p.catch(() => {});
    return p;
  }

  /**
   * Takes a snapshot if `snapshotCount` entries were applied since the last one: a change set of
   * the keys written since then, encoded now (it costs what was written), or an image of the
   * whole store when the chain calls for one (snapshot_chain.ts), encoded in slices beside the
   * loop. The file is written beside the loop; the loop marks it (`#finishSnapshot`).
   */
  #maybeStartSnapshot(): void {
    if (this.snapshotInProgress) return;
    if (!snapshotDue(this.#snapshotIndex, this.#appliedIndex, this.#snapshotPhase)) return;
    const tip = this.#chain.tip;
    const image = tip === undefined || this.#imageNeeded ||
      this.#chain.imageNeed(this.store.imageBytes, this.#imageStagger) === "now" ||
      this.store.changedKeys > CHANGED_KEYS_MAX || tip.index !== this.#snapshotIndex;
    this.#startSnapshot(image);
  }

  /** Takes the image that the chain put off until this node is idle, if there is one. */
  #maybeStartIdleImage(): void {
    if (this.snapshotInProgress) return;
    if (this.imageDue) this.#startSnapshot(true);
  }

  /**
   * True while the snapshot chain calls for an image that this node puts off until it is idle,
   * until that image is saved (its metrics say so: the bench waits for it before it measures).
   */
  get imageDue(): boolean {
    if (this.#stopped) return false;
    // Only past the last snapshot: an image at its index would be the same state again.
    if (this.#appliedIndex <= this.#snapshotIndex) return false;
    return this.#chain.imageNeed(this.store.imageBytes, this.#imageStagger) === "when idle";
  }

  /** True from the start of a snapshot until the loop takes up its saved file to mark it. */
  get snapshotInProgress(): boolean {
    return this.#snapshotRunning || this.#snapshotSaved !== undefined;
  }

  #startSnapshot(image: boolean): void {
    this.#snapshotRunning = true;
    const started = performance.now();
    const tip = this.#chain.tip;
    // A change set is captured here, synchronously, so that it ends at exactly this index.
    let changes: ChangeSetTaken | undefined;
    if (!image) {
      const prefix = snapshotDataPrefix(this.members, {
        previous: { index: tip!.index, term: tip!.term },
      });
      changes = {
        index: this.#appliedIndex,
        confState: this.#confState,
        prefix,
        data: this.store.takeChangesAsync({ headroom: prefix.length }),
      };
    }
    (async () => {
      const link = changes !== undefined
        ? await this.#saveChangeSet(changes)
        : await this.#withImageJob(() => this.#saveImage());
      this.#snapshotSaved = { link, started };
    })().catch((error) => {
      // A newer snapshot from the leader may have replaced this one; anything else is logged.
      if (!(error instanceof SnapOutOfDateError)) {
        this.#log.error(
          `snapshot at index ${this.#appliedIndex} failed: ${(error as Error).message}`,
        );
        // The store forgot the changes this snapshot took: only a whole image covers them now.
        this.#imageNeeded = true;
      }
    }).finally(() => this.#snapshotRunning = false);
  }

  /** Writes the file of a change set taken by `#maybeStartSnapshot`. */
  async #saveChangeSet(changes: ChangeSetTaken): Promise<ChainLink> {
    const data = await changes.data;
    data.set(changes.prefix, 0);
    // Raft keeps the metadata; the data is in the file, and in the store.
    const { metadata } = this.#storage.createSnapshot(changes.index, changes.confState, NO_DATA);
    await this.#options.snapshotter.save({ metadata, data });
    const bytes = data.length - changes.prefix.length;
    // The buffer is this snapshot's own: free it now, not at the next full collection.
    releaseSnapshotBytes(data);
    return { index: metadata.index, term: metadata.term, bytes, image: false };
  }

  /**
   * Writes the file of an image of the store as of now. The image is encoded a chunk at a time as
   * the file is written (copy-on-write: entries go on being applied meanwhile), so it is never
   * whole in memory; at a million keys it would be hundreds of MB.
   */
  async #saveImage(): Promise<ChainLink> {
    await this.store.sortKeysAsync();
    const job = this.store.beginSnapshot({ resetChanges: true });
    try {
      if (job.index !== this.#appliedIndex) {
        throw new Error(`the store is at index ${job.index}, the node at ${this.#appliedIndex}`);
      }
      const prefix = snapshotDataPrefix(this.members);
      const { metadata } = this.#storage.createSnapshot(job.index, this.#confState, NO_DATA);
      await this.#options.snapshotter.save({
        metadata,
        dataBytes: prefix.length + job.totalBytes,
        chunks: (function* () {
          yield prefix;
          yield* job.chunks(IMAGE_CHUNK_BYTES);
        })(),
      });
      return { index: metadata.index, term: metadata.term, bytes: job.totalBytes, image: true };
    } finally {
      // A save that failed before it asked for a chunk has not run the job: stop it here.
      job.abort();
    }
  }

  /** Marks a saved snapshot in the WAL, then compacts memory and releases old WAL segments. */
  async #finishSnapshot(): Promise<void> {
    const saved = this.#snapshotSaved;
    if (saved === undefined) return;
    this.#snapshotSaved = undefined;
    const { link } = saved;
    // A snapshot from the leader came meanwhile: this one is older than the chain's tip.
    if (link.index <= this.#snapshotIndex) return;
    // Only once the marker is in the WAL does a restart load this snapshot.
    await this.#options.wal.saveSnapshot({ index: link.index, term: link.term });
    this.#snapshotIndex = link.index;
    this.#markChain(link);
    if (link.image) this.#imageNeeded = false;
    const keep = Math.min(CATCH_UP_ENTRIES_MAX, this.#options.snapshotCount);
    if (link.index - keep > this.#storage.firstIndex()) this.#storage.compact(link.index - keep);
    await this.#options.wal.releaseTo(link.index);
    this.#options.metrics.snapshots.inc({ source: "local" });
    const seconds = (performance.now() - saved.started) / 1000;
    this.#options.metrics.snapshotSeconds.observe(seconds);
    this.#log.info(
      `snapshot at index ${link.index}: ${link.image ? "image" : "change set"} of ${link.bytes} ` +
        `bytes in ${(seconds * 1000).toFixed(0)} ms`,
    );
  }
}
