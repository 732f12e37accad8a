/**
 * RawNode: the synchronous, single-threaded face of the raft core (etcd's RawNode in its classic
 * mode). Inputs act at once; outputs are collected by `ready()` and acknowledged by `advance()`.
 *
 * The caller's loop: `if (rn.hasReady()) { const rd = rn.ready(); persist(rd.snapshot,
 * rd.hardState, rd.entries); send(rd.messages); apply(rd.snapshot, rd.committedEntries);
 * rn.advance(); }`. At most one Ready is outstanding at a time.
 */
import { encodeConfChange } from "./conf_change_codec.ts";
import type { Config } from "./config.ts";
import { ProposalDroppedError } from "./errors.ts";
import { newMessage, Raft } from "./raft.ts";
import { getStatus, type Status } from "./status.ts";
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  Ready,
  SoftState,
} from "./types.ts";
import {
  ConfChangeTransition,
  ConfChangeType,
  EntryType,
  MessageType,
  NONE,
  SnapshotStatus,
  StateType,
} from "./types.ts";
import {
  assert,
  EMPTY_BYTES,
  hardStateEqual,
  isEmptyHardState,
  payloadsSize,
  softStateEqual,
} from "./util.ts";

/** Messages only the local node may generate; they are refused from the network. */
function isLocalMsg(t: MessageType): boolean {
  return t === MessageType.MsgHup || t === MessageType.MsgBeat ||
    t === MessageType.MsgUnreachable || t === MessageType.MsgSnapStatus ||
    t === MessageType.MsgCheckQuorum;
}

function isResponseMsg(t: MessageType): boolean {
  return t === MessageType.MsgAppResp || t === MessageType.MsgVoteResp ||
    t === MessageType.MsgHeartbeatResp || t === MessageType.MsgUnreachable ||
    t === MessageType.MsgPreVoteResp;
}

/**
 * etcd's MustSync: the HardState's term or vote changed, or there are entries to append. A
 * commit index change alone need not be synced (it can be recovered from a quorum).
 */
export function mustSync(st: HardState, prev: HardState, entriesCount: number): boolean {
  return entriesCount !== 0 || st.vote !== prev.vote || st.term !== prev.term;
}

export class RawNode {
  /** The state machine; exposed for tests and the simulator, not for applications. */
  readonly raft: Raft;
  #prevSoftState: SoftState;
  #prevHardState: HardState;
  /** The Ready handed out and not yet advanced. */
  #pending: Ready | undefined = undefined;

  constructor(config: Config) {
    this.raft = new Raft(config);
    this.#prevSoftState = this.raft.softState();
    this.#prevHardState = this.raft.hardState();
  }

  /**
   * Starts a new cluster on empty storage: one AddNode ConfChange entry per peer at term 1,
   * indexes 1..n, committed. They appear in the next Ready (entries and committedEntries); the
   * application applies them like any committed ConfChange.
   */
  bootstrap(peers: readonly number[]): void {
    if (peers.length === 0) throw new RangeError("Cannot bootstrap raft: no peers given");
    const r = this.raft;
    if (r.raftLog.lastIndex() !== 0) {
      throw new RangeError(
        `Cannot bootstrap raft node ${r.id}: storage is not empty (last index ${r.raftLog.lastIndex()})`,
      );
    }
    const seen = new Set<number>();
    for (const id of peers) {
      if (!Number.isSafeInteger(id) || id <= 0 || seen.has(id)) {
        throw new RangeError(`Cannot bootstrap raft: invalid or duplicate peer id ${id}`);
      }
      seen.add(id);
    }
    assert(r.raftLog.committed === 0, "bootstrap on a fresh node");
    r.becomeFollower(1, NONE);
    const ents: Entry[] = peers.map((id, i) => ({
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange({
        transition: ConfChangeTransition.Auto,
        changes: [{ type: ConfChangeType.AddNode, nodeId: id }],
        context: EMPTY_BYTES,
      }),
    }));
    r.raftLog.append(ents);
    // The initial entries are committed: no election is needed to agree on them.
    r.raftLog.committed = ents.length;
    for (const id of peers) {
      r.applyConfChange({
        transition: ConfChangeTransition.Auto,
        changes: [{ type: ConfChangeType.AddNode, nodeId: id }],
        context: EMPTY_BYTES,
      });
    }
    assert(r.trk.config.voters.incoming.size === peers.length, "bootstrap adds every peer");
  }

  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (pre-vote first when enabled). */
  campaign(): void {
    this.raft.step(newMessage(MessageType.MsgHup, NONE, this.raft.id));
  }

  /** Proposes data to be appended to the log. Throws ProposalDroppedError when dropped. */
  propose(data: Uint8Array): void {
    const m = newMessage(MessageType.MsgProp, NONE, this.raft.id);
    m.entries = [{ term: 0, index: 0, type: EntryType.Normal, data }];
    this.raft.step(m);
  }

  /** Proposes several entries in one message (one append and one broadcast for all). */
  proposeBatch(data: readonly Uint8Array[]): void {
    if (data.length === 0) return;
    const m = newMessage(MessageType.MsgProp, NONE, this.raft.id);
    m.entries = data.map((d) => ({ term: 0, index: 0, type: EntryType.Normal, data: d }));
    this.raft.step(m);
  }

  /** Proposes a membership change; apply it with `applyConfChange` once committed. */
  proposeConfChange(cc: ConfChange): void {
    const m = newMessage(MessageType.MsgProp, NONE, this.raft.id);
    m.entries = [{ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) }];
    this.raft.step(m);
  }

  /**
   * Feeds a message from a peer. Local-only message types and responses from unknown peers are
   * ignored; a forwarded proposal that this leader drops is dropped silently.
   */
  step(m: Message): void {
    if (isLocalMsg(m.type)) {
      this.raft.logger.warn(
        `${this.raft.id} ignored local message type ${m.type} from the network`,
      );
      return;
    }
    if (!this.raft.trk.progress.has(m.from) && isResponseMsg(m.type)) {
      this.raft.logger.debug(
        `${this.raft.id} ignored response ${m.type} from unknown peer ${m.from}`,
      );
      return;
    }
    try {
      this.raft.step(m);
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
      this.raft.logger.debug(`${this.raft.id} dropped forwarded proposal: ${err.message}`);
    }
  }

  /**
   * Requests a linearizable read point; the answer arrives as a ReadState carrying `ctx` (which
   * must be unique among pending requests) in a later Ready.
   */
  readIndex(ctx: Uint8Array): void {
    const m = newMessage(MessageType.MsgReadIndex, NONE);
    m.entries = [{ term: 0, index: 0, type: EntryType.Normal, data: ctx }];
    this.raft.step(m);
  }

  /** Asks the leader to hand leadership to `transferee`. */
  transferLeader(transferee: number): void {
    this.raft.step(newMessage(MessageType.MsgTransferLeader, NONE, transferee));
  }

  /**
   * As leader: the largest index a quorum of voters holds on stable storage, counting this node's
   * log only up to `selfPersisted` and each follower's up to its acknowledged match. A leader
   * counts its entries toward commit as soon as it appends them (etcd's raft, classic mode); a
   * caller that writes its own log beside the loop, and whose followers acknowledge only what
   * they have persisted, may answer for committed entries up to this index before its own write
   * ends. 0 when not leader.
   */
  durableIndex(selfPersisted: number): number {
    const r = this.raft;
    if (r.state !== StateType.Leader) return 0;
    return Math.min(r.raftLog.committed, r.trk.committedWith(r.id, selfPersisted));
  }

  /** Applies a committed ConfChange; returns the new ConfState to store with snapshots. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  reportUnreachable(id: number): void {
    this.raft.step(newMessage(MessageType.MsgUnreachable, this.raft.id, id));
  }

  reportSnapshot(id: number, status: SnapshotStatus): void {
    const m = newMessage(MessageType.MsgSnapStatus, this.raft.id, id);
    m.reject = status === SnapshotStatus.Failure;
    this.raft.step(m);
  }

  /**
   * True when raft has messages waiting for the next Ready. Proposals not yet broadcast do not
   * count (unlike `hasReady`, this does not flush them), so a caller can wait for the network
   * without being woken by every proposal.
   */
  hasMessages(): boolean {
    return this.raft.msgs.length > 0;
  }

  /**
   * Takes out the proposals and read requests this node forwards to its leader (etcd's raft, too,
   * lets these go before the Ready's write). They claim nothing about this node's log or term, so
   * they need not wait for its disk: sent at once, a write or a read through a follower skips
   * the follower's fsync. The other messages keep their order and stay for the next Ready.
   */
  takeForwarded(): Message[] {
    const r = this.raft;
    const forwarded: Message[] = [];
    let kept = 0;
    for (const m of r.msgs) {
      if (m.type === MessageType.MsgProp || m.type === MessageType.MsgReadIndex) forwarded.push(m);
      else r.msgs[kept++] = m;
    }
    r.msgs.length = kept;
    return forwarded;
  }

  hasReady(): boolean {
    const r = this.raft;
    r.flushProposals();
    if (!softStateEqual(r.softState(), this.#prevSoftState)) return true;
    const hs = r.hardState();
    if (!isEmptyHardState(hs) && !hardStateEqual(hs, this.#prevHardState)) return true;
    if (r.raftLog.hasNextUnstableSnapshot()) return true;
    if (r.msgs.length > 0) return true;
    if (r.raftLog.hasNextUnstableEnts() || r.raftLog.hasNextCommittedEnts()) return true;
    return r.readStates.length > 0;
  }

  /** Collects the pending work. Throws if the previous Ready was not advanced. */
  ready(): Ready {
    if (this.#pending !== undefined) {
      throw new Error("Cannot produce a Ready: the previous Ready was not advanced");
    }
    const r = this.raft;
    r.flushProposals();
    const log = r.raftLog;
    const rd: Ready = {
      readStates: r.readStates,
      entries: log.nextUnstableEnts(),
      committedEntries: log.nextCommittedEnts(),
      messages: r.msgs,
      mustSync: false,
    };
    const ss = r.softState();
    if (!softStateEqual(ss, this.#prevSoftState)) {
      rd.softState = ss;
      this.#prevSoftState = ss;
    }
    const hs = r.hardState();
    if (!hardStateEqual(hs, this.#prevHardState)) rd.hardState = hs;
    const snap = log.nextUnstableSnapshot();
    if (snap !== undefined) rd.snapshot = snap;
    rd.mustSync = mustSync(hs, this.#prevHardState, rd.entries.length);
    this.#prevHardState = hs;
    // Accept: these outputs now belong to the caller.
    r.msgs = [];
    r.readStates = [];
    log.unstable.acceptInProgress();
    const ce = rd.committedEntries;
    if (ce.length > 0) log.acceptApplying(ce[ce.length - 1]!.index);
    assert(
      log.applied <= log.applying && log.applying <= log.committed,
      "applied <= applying <= committed",
    );
    this.#pending = rd;
    return rd;
  }

  /**
   * The last Ready was persisted, its messages sent and its committed entries applied: mark
   * entries stable and applied, and let raft continue (e.g. leave a joint config).
   */
  advance(): void {
    const rd = this.#pending;
    if (rd === undefined) throw new Error("Cannot advance: no Ready is outstanding");
    this.#pending = undefined;
    const r = this.raft;
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      r.raftLog.stableTo(last.index, last.term);
    }
    if (rd.snapshot !== undefined) r.raftLog.stableSnapTo(rd.snapshot.metadata.index);
    const ce = rd.committedEntries;
    let applied = 0;
    if (ce.length > 0) applied = ce[ce.length - 1]!.index;
    else if (rd.snapshot !== undefined) applied = rd.snapshot.metadata.index;
    if (applied > 0) r.appliedTo(applied);
    if (ce.length > 0) r.reduceUncommittedSize(payloadsSize(ce));
    assert(r.raftLog.applied <= r.raftLog.committed, "applied <= committed after advance");
  }

  status(): Status {
    return getStatus(this.raft);
  }
}
