/**
 * The raft state machine (etcd's `raft` struct): roles, elections, log replication, commitment,
 * ReadIndex, leadership transfer and membership changes. Pure: time enters through `tick()`,
 * randomness through the injected generator, and output leaves through `msgs`, `readStates` and
 * the log's unstable part (collected into a Ready by RawNode).
 *
 * `step()` does the term checks shared by all roles once, then dispatches to stepLeader,
 * stepCandidate (shared by Candidate and PreCandidate) or stepFollower.
 */
import { Changer, type ChangeResult, restoreConfig } from "./confchange/changer.ts";
import { decodeConfChange, encodeConfChange } from "./conf_change_codec.ts";
import { type Config, resolveConfig, type ResolvedConfig } from "./config.ts";
import {
  CompactedError,
  ProposalDroppedError,
  SnapshotTemporarilyUnavailableError,
  UnavailableError,
} from "./errors.ts";
import type { Logger } from "./logger.ts";
import type { Storage } from "./storage.ts";
import { isJoint, jointVoteResult } from "./quorum/joint.ts";
import type { VoteResult } from "./quorum/majority.ts";
import { RaftLog } from "./raft_log.ts";
import { ReadOnly } from "./read_only.ts";
import { ProgressTracker } from "./tracker/tracker.ts";
import { configToString, type ProgressMap, type TrackerConfig } from "./tracker/tracker.ts";
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  ReadState,
  Snapshot,
  SoftState,
} from "./types.ts";
import { ConfChangeTransition, EntryType, MessageType, NONE, StateType } from "./types.ts";
import { assert, bytesEqual, EMPTY_BYTES, isEmptyHardState, payloadsSize } from "./util.ts";

export type CampaignType = "pre-election" | "election" | "transfer";

/** The context of vote requests of a leadership transfer: they bypass leases (etcd's value). */
export const CAMPAIGN_TRANSFER: Uint8Array = new TextEncoder().encode("CampaignTransfer");

const NO_ENTRIES: Entry[] = Object.freeze([]) as unknown as Entry[];

/** Bound on ReadIndex requests a new leader holds until its first commit in its term. */
export const MAX_PENDING_READ_INDEX_MESSAGES = 4096;

/** A message with every field at its zero value. */
export function newMessage(type: MessageType, to: number, from = NONE, term = 0): Message {
  return {
    type,
    to,
    from,
    term,
    logTerm: 0,
    index: 0,
    entries: NO_ENTRIES,
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: EMPTY_BYTES,
  };
}

function voteRespType(t: MessageType): MessageType {
  switch (t) {
    case MessageType.MsgVote:
      return MessageType.MsgVoteResp;
    case MessageType.MsgPreVote:
      return MessageType.MsgPreVoteResp;
    default:
      throw new RangeError(`Not a vote message: ${t}`);
  }
}

export function stateName(s: StateType): string {
  switch (s) {
    case StateType.Follower:
      return "follower";
    case StateType.Candidate:
      return "candidate";
    case StateType.Leader:
      return "leader";
    case StateType.PreCandidate:
      return "pre-candidate";
  }
}

export class Raft {
  readonly id: number;
  term = 0;
  vote = NONE;
  readStates: ReadState[] = [];
  readonly raftLog: RaftLog;
  readonly maxMsgSize: number;
  readonly maxUncommittedSize: number;
  trk: ProgressTracker;
  state: StateType = StateType.Follower;
  /** Whether this node is a learner in the current config (learners never campaign). */
  isLearner = false;
  /** Outgoing messages, collected into the next Ready. */
  msgs: Message[] = [];
  lead = NONE;
  /** The transfer target while a leadership transfer is in progress (§3.10 of the thesis). */
  leadTransferee = NONE;
  /** Index of the latest conf change proposed by this leader; only one is pending at a time. */
  pendingConfIndex = 0;
  /** Payload bytes of uncommitted entries at this leader. */
  uncommittedSize = 0;
  readOnly: ReadOnly;
  /** Ticks since the last election timeout (leader/candidate) or since hearing the leader. */
  electionElapsed = 0;
  heartbeatElapsed = 0;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly heartbeatTimeout: number;
  readonly electionTimeout: number;
  /** In [electionTimeout, 2 * electionTimeout), redrawn on every reset (§5.2). */
  randomizedElectionTimeout = 0;
  readonly disableProposalForwarding: boolean;
  /** ReadIndex requests held until this leader commits an entry of its term. */
  pendingReadIndexMessages: Message[] = [];
  /**
   * Proposals were appended and not yet broadcast. The broadcast is deferred to the next
   * non-proposal input or Ready, so that many proposals go out in one MsgApp per follower.
   */
  #bcastPending = false;
  readonly #random: () => number;
  readonly logger: Logger;
  readonly #config: ResolvedConfig;

  constructor(config: Config) {
    const c = resolveConfig(config);
    this.#config = c;
    this.id = c.id;
    this.logger = c.logger;
    this.#random = c.random;
    this.raftLog = new RaftLog(c.storage, c.logger, c.maxCommittedSizePerReady);
    this.maxMsgSize = c.maxSizePerMsg;
    this.maxUncommittedSize = c.maxUncommittedEntriesSize;
    this.trk = new ProgressTracker(c.maxInflightMsgs, c.maxInflightBytes);
    this.readOnly = new ReadOnly(c.readOnlyOption);
    this.checkQuorum = c.checkQuorum;
    this.preVote = c.preVote;
    this.heartbeatTimeout = c.heartbeatTicks;
    this.electionTimeout = c.electionTicks;
    this.disableProposalForwarding = c.disableProposalForwarding;

    const { hardState, confState } = c.storage.initialState();
    const restored = restoreConfig(confState, this.#changerLimits());
    this.switchToConfig(restored);
    if (!isEmptyHardState(hardState)) this.#loadState(hardState);
    const applied = c.applied ?? this.#snapshotIndex(c.storage);
    if (applied !== 0 && applied < this.raftLog.applied) {
      throw new RangeError(
        `Invalid raft config: applied ${applied} is below the storage's compaction point ` +
          `${this.raftLog.applied} (those entries cannot be replayed)`,
      );
    }
    if (c.applied !== undefined && applied > this.raftLog.committed) {
      throw new RangeError(
        `Invalid raft config: applied ${applied} is beyond the commit index ${this.raftLog.committed}`,
      );
    }
    if (applied > 0) {
      // The snapshot's entries are committed by definition, even if the HardState lags.
      if (c.applied === undefined) this.raftLog.commitTo(applied);
      this.raftLog.appliedTo(applied);
    }
    this.becomeFollower(this.term, NONE);
    this.logger.info(
      `raft ${this.id} [${configToString(this.trk.config)}] starts at term ${this.term}, ` +
        `commit ${this.raftLog.committed}, applied ${this.raftLog.applied}, ` +
        `lastIndex ${this.raftLog.lastIndex()}, lastTerm ${this.raftLog.lastTerm()}`,
    );
  }

  #snapshotIndex(storage: Storage): number {
    try {
      return storage.snapshot().metadata.index;
    } catch (err) {
      if (!(err instanceof SnapshotTemporarilyUnavailableError)) throw err;
      return 0;
    }
  }

  #changerLimits() {
    return {
      lastIndex: this.raftLog.lastIndex(),
      maxInflight: this.#config.maxInflightMsgs,
      maxInflightBytes: this.#config.maxInflightBytes,
    };
  }

  #loadState(hs: HardState): void {
    if (hs.commit < this.raftLog.committed || hs.commit > this.raftLog.lastIndex()) {
      throw new RangeError(
        `Cannot load raft state of node ${this.id}: commit ${hs.commit} is out of range ` +
          `[${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
      );
    }
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  softState(): SoftState {
    return { lead: this.lead, raftState: this.state };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  /** Queues a message; fills in `from` and the term (except for forwarded proposals/reads). */
  send(m: Message): void {
    m.from = this.id;
    const t = m.type;
    if (
      t === MessageType.MsgVote || t === MessageType.MsgVoteResp ||
      t === MessageType.MsgPreVote || t === MessageType.MsgPreVoteResp
    ) {
      // Vote messages carry the term they are about (a pre-vote's is in our future).
      assert(m.term !== 0, "vote messages carry a term");
    } else {
      assert(m.term === 0, "only vote messages set their own term");
      // Proposals and reads forwarded to the leader act as local messages there: no term.
      if (t !== MessageType.MsgProp && t !== MessageType.MsgReadIndex) m.term = this.term;
    }
    assert(m.to !== this.id, "never send a message to ourselves");
    this.msgs.push(m);
  }

  // ---- Sending to followers (leader) ----

  /** Sends a MsgApp (even an empty one) to `to`, or a snapshot if the log is compacted. */
  sendAppend(to: number): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends what `to` needs next: entries from its `next`, at most maxMsgSize bytes, or a snapshot.
   * Returns whether a message was sent. Throttled followers (paused) get nothing.
   */
  maybeSendAppend(to: number, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    assert(pr !== undefined, "sending to a tracked follower");
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.raftLog.maybeTerm(prevIndex);
    // The log was compacted past what the follower has: only a snapshot can catch it up (§7).
    if (prevTerm === undefined) return this.#maybeSendSnapshot(to);
    let ents: Entry[] = NO_ENTRIES;
    // A replicate follower with a full window gets an empty MsgApp only, so that an ack or
    // rejection frees the window even if all messages in flight were lost.
    if (pr.state !== "replicate" || !pr.inflights.full()) {
      try {
        ents = this.raftLog.entries(pr.next, this.maxMsgSize);
      } catch (err) {
        if (err instanceof CompactedError || err instanceof UnavailableError) {
          return this.#maybeSendSnapshot(to);
        }
        throw err;
      }
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    const m = newMessage(MessageType.MsgApp, to);
    m.index = prevIndex;
    m.logTerm = prevTerm;
    m.entries = ents;
    m.commit = this.raftLog.committed;
    this.send(m);
    pr.sentEntries(ents.length, ents.length === 0 ? 0 : payloadsSize(ents));
    pr.sentCommitTo(m.commit);
    assert(pr.match < pr.next, "match < next after sending");
    return true;
  }

  #maybeSendSnapshot(to: number): boolean {
    const pr = this.trk.progress.get(to)!;
    if (!pr.recentActive) {
      this.logger.debug(`${this.id} not sending a snapshot to ${to}: not recently active`);
      return false;
    }
    let snapshot;
    try {
      snapshot = this.raftLog.snapshot();
    } catch (err) {
      if (err instanceof SnapshotTemporarilyUnavailableError) {
        this.logger.debug(`${this.id} failed to send snapshot to ${to}: temporarily unavailable`);
        return false;
      }
      throw err;
    }
    assert(snapshot.metadata.index > 0, "a snapshot to send is not empty");
    const { index, term } = snapshot.metadata;
    this.logger.info(
      `${this.id} [firstindex: ${this.raftLog.firstIndex()}, commit: ${this.raftLog.committed}] ` +
        `sent snapshot [index: ${index}, term: ${term}] to ${to} [${pr}]`,
    );
    pr.becomeSnapshot(index);
    const m = newMessage(MessageType.MsgSnap, to);
    m.snapshot = snapshot;
    this.send(m);
    return true;
  }

  /** Heartbeats carry min(match, commit): a follower must not commit what it may not have. */
  sendHeartbeat(to: number, ctx: Uint8Array): void {
    const pr = this.trk.progress.get(to);
    assert(pr !== undefined, "heartbeat to a tracked follower");
    const m = newMessage(MessageType.MsgHeartbeat, to);
    m.commit = Math.min(pr.match, this.raftLog.committed);
    m.context = ctx;
    this.send(m);
    pr.sentCommitTo(m.commit);
  }

  bcastAppend(): void {
    for (const id of this.trk.progress.keys()) {
      if (id !== this.id) this.sendAppend(id);
    }
  }

  bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.lastPendingRequestCtx());
  }

  bcastHeartbeatWithCtx(ctx: Uint8Array): void {
    for (const id of this.trk.progress.keys()) {
      if (id !== this.id) this.sendHeartbeat(id, ctx);
    }
  }

  // ---- Commitment and log ----

  /** Advances the commit index to what a quorum has, for entries of this term only (§5.4.2). */
  maybeCommit(): boolean {
    const index = this.trk.committed();
    return this.raftLog.maybeCommit(index, this.term);
  }

  /**
   * Appends proposals as this leader's entries (assigning term and index, in place). Returns
   * false when the uncommitted size limit drops them.
   */
  appendEntry(es: Entry[]): boolean {
    assert(this.state === StateType.Leader, "only a leader appends proposals");
    let li = this.raftLog.lastIndex();
    for (let i = 0; i < es.length; i++) {
      const e = es[i]!;
      e.term = this.term;
      e.index = li + 1 + i;
    }
    if (!this.#increaseUncommittedSize(es)) {
      this.logger.debug(
        `${this.id} appending new entries to log would exceed uncommitted entry size limit; dropping proposal`,
      );
      return false;
    }
    // A leader only ever appends to its log, never overwrites it (Leader Append-Only, §5.3).
    li = this.raftLog.append(es);
    assert(li === es[es.length - 1]!.index, "leader appends at its last index");
    // The leader counts its own entries at once (it persists them before applying anything).
    // Followers have none of the new entries yet, so only a leader that is a quorum by itself
    // can commit them now; skipping the quorum computation keeps proposals cheap.
    this.trk.progress.get(this.id)?.maybeUpdate(li);
    if (this.#leaderAloneIsQuorum()) this.maybeCommit();
    return true;
  }

  #leaderAloneIsQuorum(): boolean {
    const { incoming, outgoing } = this.trk.config.voters;
    const alone = (set: Set<number>) => set.size === 0 || (set.size === 1 && set.has(this.id));
    return incoming.size > 0 && alone(incoming) && alone(outgoing);
  }

  #increaseUncommittedSize(es: Entry[]): boolean {
    const s = payloadsSize(es);
    // Empty entries (a new leader's, leaving joint) are always allowed; so is a first large one.
    if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.maxUncommittedSize) {
      return false;
    }
    this.uncommittedSize += s;
    return true;
  }

  reduceUncommittedSize(s: number): void {
    // May underestimate (entries from earlier terms), never overestimate: saturate at 0.
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s;
  }

  committedEntryInCurrentTerm(): boolean {
    return this.raftLog.maybeTerm(this.raftLog.committed) === this.term;
  }

  // ---- Timers ----

  tick(): void {
    this.flushProposals();
    switch (this.state) {
      case StateType.Leader:
        this.#tickHeartbeat();
        break;
      case StateType.Follower:
      case StateType.Candidate:
      case StateType.PreCandidate:
        this.#tickElection();
        break;
      default: {
        const never: never = this.state;
        throw new RangeError(`unknown raft state ${never}`);
      }
    }
  }

  #tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(newMessage(MessageType.MsgHup, NONE, this.id));
    }
  }

  #tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(newMessage(MessageType.MsgCheckQuorum, NONE, this.id));
      // A transfer that did not finish within an election timeout is abandoned (thesis §3.10);
      // a removed leader picks a target again instead, as it must not stay leader.
      if (this.state === StateType.Leader && this.leadTransferee !== NONE) {
        this.abortLeaderTransfer();
        if (!this.#isVoterSelf()) this.#handOffLeadership();
      }
    }
    if (this.state !== StateType.Leader) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(newMessage(MessageType.MsgBeat, NONE, this.id));
    }
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  resetRandomizedElectionTimeout(): void {
    const r = this.#random();
    assert(r >= 0 && r < 1, "random source returns values in [0, 1)");
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(r * this.electionTimeout);
  }

  // ---- Role transitions ----

  #reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const last = this.raftLog.lastIndex();
    for (const [id, pr] of this.trk.progress) {
      pr.reset(0, last + 1);
      if (id === this.id) pr.match = last;
    }
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.#bcastPending = false;
    this.readOnly = new ReadOnly(this.readOnly.option);
    this.pendingReadIndexMessages = [];
  }

  becomeFollower(term: number, lead: number): void {
    this.#reset(term);
    this.lead = lead;
    this.state = StateType.Follower;
    this.logger.info(`${this.id} became follower at term ${this.term}`);
  }

  becomeCandidate(): void {
    assert(this.state !== StateType.Leader, "invalid transition [leader -> candidate]");
    this.#reset(this.term + 1);
    this.vote = this.id;
    this.state = StateType.Candidate;
    this.logger.info(`${this.id} became candidate at term ${this.term}`);
  }

  becomePreCandidate(): void {
    assert(this.state !== StateType.Leader, "invalid transition [leader -> pre-candidate]");
    // A pre-candidate changes neither its term nor its vote (thesis §9.6).
    this.trk.resetVotes();
    this.lead = NONE;
    this.state = StateType.PreCandidate;
    this.logger.info(`${this.id} became pre-candidate at term ${this.term}`);
  }

  becomeLeader(): void {
    assert(this.state !== StateType.Follower, "invalid transition [follower -> leader]");
    this.#reset(this.term);
    this.lead = this.id;
    this.state = StateType.Leader;
    const pr = this.trk.progress.get(this.id);
    assert(pr !== undefined, "a new leader is a member");
    // The leader's own progress is always in replicate state.
    pr.becomeReplicate();
    pr.recentActive = true;
    // There may be an unapplied conf change in the tail: refuse new ones until it is applied.
    this.pendingConfIndex = this.raftLog.lastIndex();
    // An empty entry of the new term: committing it commits everything before (§5.4.2, §8).
    const empty: Entry = { term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES };
    const ok = this.appendEntry([empty]);
    assert(ok, "the empty entry of a new leader is never dropped");
    assert(this.raftLog.lastTerm() === this.term, "a new leader's last entry is of its term");
    this.logger.info(`${this.id} became leader at term ${this.term}`);
  }

  /** Whether this node may campaign: a voter with no snapshot waiting to be applied. */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasNextOrInProgressSnapshot();
  }

  #hasUnappliedConfChanges(): boolean {
    if (this.raftLog.applied >= this.raftLog.committed) return false;
    let lo = this.raftLog.applied + 1;
    const hi = this.raftLog.committed + 1;
    // Paginated, so that a long unapplied tail does not load at once. Bounded by hi - lo.
    while (lo < hi) {
      const ents = this.raftLog.slice(lo, hi, this.raftLog.maxApplyingEntsSize);
      assert(ents.length > 0, "a non-empty range yields entries");
      for (const e of ents) if (e.type === EntryType.ConfChange) return true;
      lo += ents.length;
    }
    return false;
  }

  hup(t: CampaignType): void {
    if (this.state === StateType.Leader) {
      this.logger.debug(`${this.id} ignoring MsgHup because already leader`);
      return;
    }
    if (!this.promotable()) {
      this.logger.warn(`${this.id} is unpromotable and can not campaign`);
      return;
    }
    if (this.#hasUnappliedConfChanges()) {
      this.logger.warn(`${this.id} cannot campaign at term ${this.term}: unapplied conf changes`);
      return;
    }
    this.logger.info(`${this.id} is starting a new election at term ${this.term}`);
    this.campaign(t);
  }

  campaign(t: CampaignType): void {
    if (!this.promotable()) {
      // E.g. a pre-candidate that applied its own removal (or a snapshot) before winning.
      this.logger.warn(`${this.id} is unpromotable: not campaigning at term ${this.term}`);
      if (this.state !== StateType.Follower) this.becomeFollower(this.term, NONE);
      return;
    }
    let term: number;
    let voteMsg: MessageType;
    if (t === "pre-election") {
      this.becomePreCandidate();
      voteMsg = MessageType.MsgPreVote;
      // Pre-vote requests carry the term we would campaign at, without incrementing ours.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.MsgVote;
      term = this.term;
    }
    if (this.#poll(this.id, voteRespType(voteMsg), true) === "won") {
      // We won by voting for ourselves: a single-voter cluster.
      if (t === "pre-election") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    for (const id of this.trk.voterIds()) {
      if (id === this.id) continue;
      const m = newMessage(voteMsg, id, NONE, term);
      m.index = lastIndex;
      m.logTerm = lastTerm;
      if (t === "transfer") m.context = CAMPAIGN_TRANSFER;
      this.send(m);
    }
  }

  #poll(id: number, t: MessageType, granted: boolean): VoteResult {
    this.logger.debug(
      `${this.id} received ${t === MessageType.MsgPreVoteResp ? "pre-vote" : "vote"} ` +
        `${granted ? "grant" : "rejection"} from ${id} at term ${this.term}`,
    );
    this.trk.recordVote(id, granted);
    return this.trk.tallyVotes().result;
  }

  // ---- Step ----

  /**
   * Feeds a message (local or from a peer). Throws ProposalDroppedError when a proposal cannot
   * be accepted; every other outcome is reflected in the next Ready.
   */
  step(m: Message): void {
    if (m.type !== MessageType.MsgProp) this.flushProposals();
    if (m.term === 0) {
      // Local message (or a forwarded proposal / read index).
    } else if (m.term > this.term) {
      if (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) {
        const force = bytesEqual(m.context, CAMPAIGN_TRANSFER);
        const inLease = this.checkQuorum && this.lead !== NONE &&
          this.electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          // We heard from a leader within the minimum election timeout: do not let a
          // partitioned node's vote disrupt it (thesis §4.2.3), and do not raise our term.
          this.logger.info(
            `${this.id} [term ${this.term}] ignored vote request from ${m.from} at term ${m.term}: ` +
              `lease not expired (${this.electionTimeout - this.electionElapsed} ticks remaining)`,
          );
          return;
        }
      }
      if (m.type === MessageType.MsgPreVote) {
        // Never change our term in response to a pre-vote.
      } else if (m.type === MessageType.MsgPreVoteResp && !m.reject) {
        // A granted pre-vote carries the future term we asked about; the real vote raises terms.
      } else {
        this.logger.info(
          `${this.id} [term: ${this.term}] received a message with higher term from ${m.from} [term: ${m.term}]`,
        );
        const fromLeader = m.type === MessageType.MsgApp ||
          m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgSnap;
        this.becomeFollower(m.term, fromLeader ? m.from : NONE);
      }
    } else if (m.term < this.term) {
      this.#stepLowerTerm(m);
      return;
    }

    switch (m.type) {
      case MessageType.MsgHup:
        this.hup(this.preVote ? "pre-election" : "election");
        return;
      case MessageType.MsgVote:
      case MessageType.MsgPreVote:
        this.#handleVoteRequest(m);
        return;
    }

    switch (this.state) {
      case StateType.Leader:
        this.#stepLeader(m);
        break;
      case StateType.Candidate:
      case StateType.PreCandidate:
        this.#stepCandidate(m);
        break;
      case StateType.Follower:
        this.#stepFollower(m);
        break;
      default: {
        const never: never = this.state;
        throw new RangeError(`unknown raft state ${never}`);
      }
    }
  }

  #stepLowerTerm(m: Message): void {
    if (
      (this.checkQuorum || this.preVote || !this.promotable()) &&
      (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp)
    ) {
      // A stale leader (or one cut off by CheckQuorum/PreVote, whose term can no longer
      // reach ours through votes) learns our term from this response and steps down. A node
      // that cannot campaign (a learner, or a voter that has not applied its promotion) has
      // no other way to bring the others to its term, so it answers in every mode.
      this.send(newMessage(MessageType.MsgAppResp, m.from));
    } else if (m.type === MessageType.MsgPreVote || m.type === MessageType.MsgVote) {
      // Reject with our term, so that the candidate learns it is behind (§5.1) instead of
      // campaigning again and again one term behind us (etcd ignores a stale MsgVote).
      this.#rejectVote(m);
    } else {
      this.logger.debug(
        `${this.id} [term: ${this.term}] ignored a message ${m.type} with lower term from ${m.from} [term: ${m.term}]`,
      );
    }
  }

  #handleVoteRequest(m: Message): void {
    // We can vote if this is a repeat of a vote we cast, if we have not voted and know no
    // leader in this term, or if it is a pre-vote for a future term (§5.2, thesis §9.6).
    const canVote = this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === MessageType.MsgPreVote && m.term > this.term);
    const respType = voteRespType(m.type);
    if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
      this.logger.info(
        `${this.id} cast ${
          m.type === MessageType.MsgPreVote ? "pre-vote" : "vote"
        } for ${m.from} at term ${m.term}`,
      );
      // The response carries the request's term (for a pre-vote, a term we have not reached).
      this.send(newMessage(respType, m.from, NONE, m.term));
      if (m.type === MessageType.MsgVote) {
        this.electionElapsed = 0;
        this.vote = m.from;
        assert(this.term === m.term, "a vote is cast in the candidate's term");
      }
    } else {
      this.#rejectVote(m);
    }
  }

  /** Rejects a (pre-)vote with our term and what we know is committed (see below). */
  #rejectVote(m: Message): void {
    const resp = newMessage(voteRespType(m.type), m.from, NONE, this.term);
    resp.reject = true;
    resp.index = this.raftLog.committed;
    resp.logTerm = this.raftLog.maybeTerm(resp.index) ?? 0;
    this.send(resp);
    assert(
      resp.term >= m.term || m.type === MessageType.MsgPreVote,
      "a vote is rejected at our term",
    );
  }

  // ---- Leader ----

  #stepLeader(m: Message): void {
    assert(this.state === StateType.Leader, "stepLeader runs on a leader");
    switch (m.type) {
      case MessageType.MsgBeat:
        this.bcastHeartbeat();
        return;
      case MessageType.MsgCheckQuorum:
        if (!this.trk.quorumActive()) {
          this.logger.warn(`${this.id} stepped down to follower since quorum is not active`);
          this.becomeFollower(this.term, NONE);
        }
        // Everyone but us must prove they are active again within the next timeout.
        for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.recentActive = false;
        return;
      case MessageType.MsgProp:
        this.#handlePropose(m);
        return;
      case MessageType.MsgReadIndex:
        this.#handleReadIndex(m);
        return;
    }
    // Everything else is about a follower: it must be tracked.
    const pr = this.trk.progress.get(m.from);
    if (pr === undefined) {
      this.logger.debug(`${this.id} no progress available for ${m.from}`);
      return;
    }
    switch (m.type) {
      case MessageType.MsgAppResp:
        this.#handleAppendResponse(m);
        break;
      case MessageType.MsgHeartbeatResp:
        this.#handleHeartbeatResponse(m);
        break;
      case MessageType.MsgSnapStatus:
        if (pr.state !== "snapshot") return;
        if (m.reject) {
          // The snapshot never applied: probe again from what we know it has.
          pr.pendingSnapshot = 0;
        }
        pr.becomeProbe();
        // Wait for a MsgAppResp (success) or a heartbeat interval (failure) before sending.
        pr.msgAppFlowPaused = true;
        this.logger.debug(
          `${this.id} snapshot ${
            m.reject ? "failed" : "succeeded"
          } for ${m.from}, resumed sending [${pr}]`,
        );
        break;
      case MessageType.MsgUnreachable:
        // In optimistic replication an unreachable peer has most likely lost a MsgApp.
        if (pr.state === "replicate") pr.becomeProbe();
        this.logger.debug(`${this.id} failed to send message to ${m.from}: unreachable [${pr}]`);
        break;
      case MessageType.MsgTransferLeader:
        this.#handleTransferLeader(m);
        break;
    }
  }

  #handlePropose(m: Message): void {
    if (m.entries.length === 0) {
      // Only a peer's malformed forward can be empty (local proposals always carry entries).
      this.logger.warn(`${this.id} ignored an empty proposal from ${m.from}`);
      return;
    }
    if (!this.trk.progress.has(this.id)) {
      // We were removed from the configuration while leader: stop taking proposals.
      throw new ProposalDroppedError(`node ${this.id} is no longer a member of the cluster`);
    }
    if (this.leadTransferee !== NONE) {
      throw new ProposalDroppedError(
        `leader ${this.id} is transferring leadership to ${this.leadTransferee}`,
      );
    }
    if (m.from !== this.id) {
      // A forwarded proposal's entries may be shared with the sender (an in-memory transport,
      // a duplicated message): take our own copies, as appendEntry assigns term and index.
      m.entries = m.entries.map((e) => ({ term: 0, index: 0, type: e.type, data: e.data }));
    }
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i]!;
      if (e.type !== EntryType.ConfChange) continue;
      let failed = "";
      let wantsLeaveJoint = false;
      try {
        wantsLeaveJoint = decodeConfChange(e.data).changes.length === 0;
      } catch (err) {
        failed = `undecodable conf change: ${(err as Error).message}`;
      }
      const alreadyPending = this.pendingConfIndex > this.raftLog.applied;
      const alreadyJoint = isJoint(this.trk.config.voters);
      if (failed !== "") {
        // Already set.
      } else if (alreadyPending) {
        failed = `possible unapplied conf change at index ${this.pendingConfIndex} ` +
          `(applied to ${this.raftLog.applied})`;
      } else if (alreadyJoint && !wantsLeaveJoint) {
        failed = "must transition out of joint config first";
      } else if (!alreadyJoint && wantsLeaveJoint) {
        failed = "not in joint state; refusing empty conf change";
      }
      if (failed !== "") {
        // Keep the slot (other proposals in the batch keep their indexes) with a no-op entry.
        this.logger.info(
          `${this.id} ignoring conf change at config ${this.#configString()}: ${failed}`,
        );
        m.entries[i] = { term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES };
      } else {
        this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
      }
    }
    if (!this.appendEntry(m.entries)) {
      throw new ProposalDroppedError(
        `uncommitted entries at leader ${this.id} exceed ${this.maxUncommittedSize} bytes`,
      );
    }
    this.#bcastPending = true;
  }

  /** Sends the MsgApps for proposals appended since the last broadcast (see #bcastPending). */
  flushProposals(): void {
    if (!this.#bcastPending) return;
    this.#bcastPending = false;
    if (this.state !== StateType.Leader) return;
    for (const id of this.trk.progress.keys()) {
      if (id === this.id) continue;
      // Fill the follower's window (bounded by maxInflight: each send adds one, or pauses).
      for (let k = 0; k <= this.trk.maxInflight; k++) {
        if (!this.maybeSendAppend(id, false)) break;
      }
    }
  }

  #configString(): string {
    return configToString(this.trk.config);
  }

  #handleReadIndex(m: Message): void {
    if (m.entries.length !== 1) {
      this.logger.warn(`${this.id} ignored a read index request with ${m.entries.length} entries`);
      return;
    }
    if (!this.#isVoterSelf()) {
      // A removed leader handing over serves no new reads: "singleton" would then name another
      // node, and the client can retry at the next leader.
      this.logger.info(`${this.id} dropping read index request: no longer a voter`);
      return;
    }
    // A leader that is the only voter is a quorum by itself: answer at once.
    if (this.#leaderAloneIsQuorum()) {
      this.#respondToReadIndex(m, this.raftLog.committed);
      return;
    }
    // Until this leader commits an entry of its term, its commit index may be behind the
    // cluster's (thesis §6.4): hold the request until then.
    if (!this.committedEntryInCurrentTerm()) {
      if (this.pendingReadIndexMessages.length >= MAX_PENDING_READ_INDEX_MESSAGES) {
        this.logger.warn(`${this.id} dropping read index request: too many pending`);
        return;
      }
      this.pendingReadIndexMessages.push(m);
      return;
    }
    this.#sendReadIndexResponse(m);
  }

  #sendReadIndexResponse(m: Message): void {
    switch (this.readOnly.option) {
      case "safe": {
        // Confirm leadership with a heartbeat round carrying the request's context.
        const ctx = m.entries[0]!.data;
        if (!this.readOnly.addRequest(this.raftLog.committed, m)) {
          this.logger.debug(`${this.id} read index request dropped (duplicate or queue full)`);
          return;
        }
        this.readOnly.recvAck(this.id, ctx);
        this.bcastHeartbeatWithCtx(ctx);
        break;
      }
      case "lease":
        this.#respondToReadIndex(m, this.raftLog.committed);
        break;
    }
  }

  #releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0) return;
    assert(this.committedEntryInCurrentTerm(), "pending reads are released after a commit in term");
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.#sendReadIndexResponse(m);
  }

  #respondToReadIndex(req: Message, readIndex: number): void {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index: readIndex, requestCtx: req.entries[0]!.data });
      return;
    }
    const resp = newMessage(MessageType.MsgReadIndexResp, req.from);
    resp.index = readIndex;
    resp.entries = req.entries;
    this.send(resp);
  }

  #handleAppendResponse(m: Message): void {
    const pr = this.trk.progress.get(m.from)!;
    assert(this.state === StateType.Leader, "only a leader handles MsgAppResp");
    pr.recentActive = true;
    if (m.reject) {
      this.logger.debug(
        `${this.id} received MsgAppResp(rejected, hint: (index ${m.rejectHint}, term ${m.logTerm})) ` +
          `from ${m.from} for index ${m.index}`,
      );
      // Fast backtracking (§5.3): skip every entry of ours whose term is above the follower's
      // term at the hint, which cannot match.
      let nextProbeIdx = m.rejectHint;
      if (m.logTerm > 0) {
        nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index;
      }
      if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
        this.logger.debug(`${this.id} decreased progress of ${m.from} to [${pr}]`);
        if (pr.state === "replicate") pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    // An ack at our match can still move a probing follower to replicate.
    if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === "probe")) {
      // A caught-up transferee that did not campaign (e.g. it had a conf change to apply
      // first) is asked again on its next ack.
      if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
        this.#sendTimeoutNow(m.from);
      }
      return;
    }
    switch (pr.state) {
      case "probe":
        pr.becomeReplicate();
        break;
      case "snapshot":
        // The follower caught up past the compaction point (by the snapshot or otherwise).
        if (pr.match + 1 >= this.raftLog.firstIndex()) {
          pr.becomeProbe();
          pr.becomeReplicate();
        }
        break;
      case "replicate":
        pr.inflights.freeLE(m.index);
        break;
    }
    if (this.maybeCommit()) {
      // The commit index moved in this term: held reads may be served now.
      this.#releasePendingReadIndexMessages();
      this.bcastAppend();
    } else if (m.from !== this.id && pr.canBumpCommit(this.raftLog.committed)) {
      // This follower may not know the latest commit index yet (it was paused when the
      // commit moved): tell it now rather than at the next heartbeat.
      this.sendAppend(m.from);
    }
    if (m.from !== this.id) {
      // Fill the window again; bounded by the inflights limit (each send adds one).
      for (let k = 0; k <= this.trk.maxInflight; k++) {
        if (!this.maybeSendAppend(m.from, false)) break;
      }
    }
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
      this.logger.info(`${this.id} sent MsgTimeoutNow to ${m.from} after it caught up`);
      this.#sendTimeoutNow(m.from);
    }
  }

  #handleHeartbeatResponse(m: Message): void {
    const pr = this.trk.progress.get(m.from)!;
    assert(this.state === StateType.Leader, "only a leader handles MsgHeartbeatResp");
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    // A heartbeat answer lets a stalled follower get a MsgApp again (even with a full window).
    if (pr.match < this.raftLog.lastIndex() || pr.state === "probe") this.sendAppend(m.from);
    if (this.readOnly.option !== "safe" || m.context.byteLength === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (acks === undefined) return;
    if (jointVoteResult(this.trk.config.voters, acks) !== "won") return;
    for (const rs of this.readOnly.advance(m.context)) {
      this.#respondToReadIndex(rs.req, rs.index);
    }
  }

  #handleTransferLeader(m: Message): void {
    const pr = this.trk.progress.get(m.from)!;
    assert(this.state === StateType.Leader, "only a leader transfers leadership");
    if (pr.isLearner) {
      this.logger.debug(`${this.id} is ignoring transfer leadership to learner ${m.from}`);
      return;
    }
    const transferee = m.from;
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === transferee) {
        this.logger.info(`${this.id} transfer to ${transferee} already in progress; ignored`);
        return;
      }
      this.abortLeaderTransfer();
    }
    if (transferee === this.id) {
      this.logger.debug(`${this.id} is already leader; transfer to self ignored`);
      return;
    }
    this.logger.info(`${this.id} starts to transfer leadership to ${transferee}`);
    // The transfer must finish within an election timeout.
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.raftLog.lastIndex()) {
      this.#sendTimeoutNow(transferee);
    } else {
      this.sendAppend(transferee);
    }
  }

  #sendTimeoutNow(to: number): void {
    this.send(newMessage(MessageType.MsgTimeoutNow, to));
    if (this.state === StateType.Leader && !this.#isVoterSelf()) {
      // A removed leader's handoff is done: the target has our whole log, so it can win even a
      // vote that still needs ours. Step down now; nobody would tell us of the new term.
      this.logger.info(`${this.id} stepping down after handing leadership to ${to}`);
      this.becomeFollower(this.term, NONE);
    }
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  // ---- Candidate and pre-candidate ----

  #stepCandidate(m: Message): void {
    assert(
      this.state === StateType.Candidate || this.state === StateType.PreCandidate,
      "stepCandidate runs on a (pre-)candidate",
    );
    // Only the responses for our current campaign kind count (stale ones are ignored).
    const myVoteRespType = this.state === StateType.PreCandidate
      ? MessageType.MsgPreVoteResp
      : MessageType.MsgVoteResp;
    switch (m.type) {
      case MessageType.MsgProp:
        throw new ProposalDroppedError(
          `node ${this.id} is campaigning: no leader at term ${this.term}`,
        );
      case MessageType.MsgApp:
        // A leader exists in our term (§5.2): step down.
        this.becomeFollower(m.term, m.from);
        this.#handleAppendEntries(m);
        break;
      case MessageType.MsgHeartbeat:
        this.becomeFollower(m.term, m.from);
        this.#handleHeartbeat(m);
        break;
      case MessageType.MsgSnap:
        this.becomeFollower(m.term, m.from);
        this.#handleSnapshot(m);
        break;
      case myVoteRespType: {
        if (m.reject) this.#learnCommitFromVoteResp(m);
        const result = this.#poll(m.from, m.type, !m.reject);
        if (result === "won") {
          if (this.state === StateType.PreCandidate) {
            this.campaign("election");
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === "lost") {
          // A pre-candidate or candidate that lost returns to follower in its current term.
          this.becomeFollower(this.term, NONE);
        }
        break;
      }
      case MessageType.MsgTimeoutNow:
        this.logger.debug(`${this.id} ignored MsgTimeoutNow from ${m.from} as a candidate`);
        break;
    }
  }

  /**
   * A rejecting voter reports its commit index and the term there. If our entry at that index
   * has the same term, our logs are identical up to it (Log Matching, §5.3) and it is committed:
   * adopt it. This breaks a deadlock after membership changes: a voter that missed the commit of
   * a config change still counts an old config, whose other voter (removed or demoted, with a
   * longer log) refuses its vote and never campaigns; learning the commit lets the candidate
   * apply the new config, where it can win.
   */
  #learnCommitFromVoteResp(m: Message): void {
    if (m.index <= this.raftLog.committed || m.logTerm === 0) return;
    if (!this.raftLog.matchTerm(m.index, m.logTerm)) return;
    assert(m.index <= this.raftLog.lastIndex(), "a matching entry is in our log");
    this.logger.info(`${this.id} learned commit index ${m.index} from ${m.from}'s vote rejection`);
    this.raftLog.commitTo(m.index);
  }

  // ---- Follower ----

  #stepFollower(m: Message): void {
    assert(this.state === StateType.Follower, "stepFollower runs on a follower");
    switch (m.type) {
      case MessageType.MsgProp:
        if (this.lead === NONE) {
          throw new ProposalDroppedError(`no leader at term ${this.term}`);
        }
        if (this.disableProposalForwarding) {
          throw new ProposalDroppedError(
            `node ${this.id} does not forward proposals to leader ${this.lead}`,
          );
        }
        m.to = this.lead;
        m.term = 0;
        this.send(m);
        break;
      case MessageType.MsgApp:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleAppendEntries(m);
        break;
      case MessageType.MsgHeartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleHeartbeat(m);
        break;
      case MessageType.MsgSnap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleSnapshot(m);
        break;
      case MessageType.MsgTransferLeader:
        if (this.lead === NONE) {
          this.logger.info(`${this.id} no leader at term ${this.term}; dropping leader transfer`);
          return;
        }
        m.to = this.lead;
        m.term = 0;
        this.send(m);
        break;
      case MessageType.MsgTimeoutNow:
        // The leader hands over: campaign at once, bypassing pre-vote and leases (thesis §3.10).
        this.logger.info(`${this.id} [term ${this.term}] received MsgTimeoutNow from ${m.from}`);
        this.hup("transfer");
        break;
      case MessageType.MsgReadIndex:
        if (this.lead === NONE) {
          this.logger.info(`${this.id} no leader at term ${this.term}; dropping read index`);
          return;
        }
        m.to = this.lead;
        m.term = 0;
        this.send(m);
        break;
      case MessageType.MsgReadIndexResp:
        if (m.entries.length !== 1) {
          this.logger.error(
            `${this.id} invalid MsgReadIndexResp from ${m.from}: ${m.entries.length} entries`,
          );
          return;
        }
        this.readStates.push({ index: m.index, requestCtx: m.entries[0]!.data });
        break;
    }
  }

  #handleAppendEntries(m: Message): void {
    // A leader never takes entries from another node: it never overwrites its own log.
    assert(this.state === StateType.Follower, "only a follower appends a leader's entries");
    // Entries up to our commit index are known to match: just tell the leader where we are.
    if (m.index < this.raftLog.committed) {
      const resp = newMessage(MessageType.MsgAppResp, m.from);
      resp.index = this.raftLog.committed;
      this.send(resp);
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      assert(this.raftLog.committed <= this.raftLog.lastIndex(), "committed <= lastIndex");
      const resp = newMessage(MessageType.MsgAppResp, m.from);
      resp.index = lastNew;
      this.send(resp);
      return;
    }
    // The consistency check failed (§5.3). Hint the largest (index, term) where our logs may
    // agree: at most m.index, with a term at most m.logTerm. The leader skips whole terms.
    const hintIndex = Math.min(m.index, this.raftLog.lastIndex());
    const hint = this.raftLog.findConflictByTerm(hintIndex, m.logTerm);
    this.logger.debug(
      `${this.id} rejected MsgApp [logterm: ${m.logTerm}, index: ${m.index}] from ${m.from}; ` +
        `hint (index ${hint.index}, term ${hint.term})`,
    );
    const resp = newMessage(MessageType.MsgAppResp, m.from);
    resp.index = m.index;
    resp.reject = true;
    resp.rejectHint = hint.index;
    resp.logTerm = hint.term;
    this.send(resp);
  }

  #handleHeartbeat(m: Message): void {
    assert(this.state === StateType.Follower, "only a follower handles heartbeats");
    // The leader sends min(match, commit), so this never commits past what we have.
    this.raftLog.commitTo(m.commit);
    const resp = newMessage(MessageType.MsgHeartbeatResp, m.from);
    resp.context = m.context;
    this.send(resp);
  }

  #handleSnapshot(m: Message): void {
    assert(this.state === StateType.Follower, "only a follower handles snapshots");
    const s = m.snapshot;
    if (s === undefined) {
      this.logger.error(`${this.id} ignored MsgSnap without a snapshot from ${m.from}`);
      return;
    }
    const resp = newMessage(MessageType.MsgAppResp, m.from);
    if (this.restore(s)) {
      this.logger.info(
        `${this.id} [commit: ${this.raftLog.committed}] restored snapshot [index: ${s.metadata.index}, term: ${s.metadata.term}]`,
      );
      resp.index = this.raftLog.lastIndex();
    } else {
      this.logger.info(
        `${this.id} [commit: ${this.raftLog.committed}] ignored snapshot [index: ${s.metadata.index}, term: ${s.metadata.term}]`,
      );
      resp.index = this.raftLog.committed;
    }
    this.send(resp);
  }

  /**
   * Restores the log and the configuration from a snapshot (§7). Returns false when the
   * snapshot is not needed (we have it already or commit beyond it).
   */
  restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.raftLog.committed) return false;
    if (this.state !== StateType.Follower) {
      // Defense in depth: only followers restore. Raising the term makes a leader step down.
      this.logger.warn(`${this.id} attempted to restore snapshot as ${stateName(this.state)}`);
      this.becomeFollower(this.term + 1, NONE);
      return false;
    }
    const cs = s.metadata.confState;
    const found = cs.voters.includes(this.id) || cs.learners.includes(this.id) ||
      cs.votersOutgoing.includes(this.id);
    if (!found) {
      // A member added after the leader's latest snapshot (etcd refuses these, and the leader
      // then resends the same snapshot forever). We restore it like a joining node that has
      // not applied its own addition yet: the entries after the snapshot add us.
      this.logger.info(
        `${this.id} restoring snapshot at index ${s.metadata.index} that predates our membership`,
      );
    }
    if (this.raftLog.matchTerm(s.metadata.index, s.metadata.term)) {
      // We have the entry already: fast-forward the commit index instead.
      this.logger.info(`${this.id} fast-forwarded commit to snapshot [index: ${s.metadata.index}]`);
      this.raftLog.commitTo(s.metadata.index);
      return false;
    }
    this.raftLog.restore(s);
    this.trk = new ProgressTracker(this.trk.maxInflight, this.trk.maxInflightBytes);
    const restored = restoreConfig(cs, this.#changerLimits());
    const got = this.switchToConfig(restored);
    assert(confStatesEquivalent(cs, got), "restored ConfState matches the snapshot's");
    assert(this.raftLog.lastIndex() === s.metadata.index, "log ends at the restored snapshot");
    return true;
  }

  // ---- Membership ----

  /** Applies a committed conf change to the tracker; throws ConfChangeError if invalid. */
  applyConfChange(cc: ConfChange): ConfState {
    const changer = new Changer({
      config: this.trk.config,
      progress: this.trk.progress,
      ...this.#changerLimits(),
    });
    let result: ChangeResult;
    if (cc.changes.length === 0) {
      result = changer.leaveJoint();
    } else if (cc.transition !== ConfChangeTransition.Auto || cc.changes.length > 1) {
      const autoLeave = cc.transition !== ConfChangeTransition.JointExplicit;
      result = changer.enterJoint(autoLeave, cc.changes);
    } else {
      result = changer.simple(cc.changes);
    }
    return this.switchToConfig(result);
  }

  /** Installs a new configuration and reacts to it (a removed leader steps down). */
  switchToConfig(result: { config: TrackerConfig; progress: ProgressMap }): ConfState {
    this.trk.config = result.config;
    this.trk.progress = result.progress;
    this.logger.info(`${this.id} switched to configuration ${this.#configString()}`);
    const cs = this.trk.confState();
    const pr = this.trk.progress.get(this.id);
    this.isLearner = pr !== undefined && pr.isLearner;
    if ((pr === undefined || this.isLearner) && this.state === StateType.Leader) {
      // We were removed (or demoted) as leader: step down by handing leadership over.
      this.#handOffLeadership();
      return cs;
    }
    if (
      !this.#isVoterSelf() &&
      (this.state === StateType.Candidate || this.state === StateType.PreCandidate)
    ) {
      // Removed or demoted mid-election (e.g. by the commit index a vote rejection carried):
      // only a voter may lead (§6), so the campaign ends here instead of winning it.
      this.logger.info(`${this.id} ends its campaign: no longer a voter`);
      this.becomeFollower(this.term, NONE);
      return cs;
    }
    if (this.state !== StateType.Leader || cs.voters.length === 0) return cs;
    // The quorum may have changed: commit what the new config allows; probe new members.
    if (this.maybeCommit()) {
      this.#releasePendingReadIndexMessages();
      this.bcastAppend();
    } else {
      for (const id of this.trk.progress.keys()) {
        if (id !== this.id) this.maybeSendAppend(id, false);
      }
    }
    if (this.leadTransferee !== NONE && !this.trk.isVoter(this.leadTransferee)) {
      this.abortLeaderTransfer();
    }
    assert(this.state === StateType.Leader, "config switch keeps a voter leader leading");
    return cs;
  }

  /** Whether this leader is still a voter of its own configuration. */
  #isVoterSelf(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && this.trk.isVoter(this.id);
  }

  /**
   * A leader that applied its own removal (or demotion) steps down by transferring leadership
   * to the most caught-up remaining voter (etcd's TODO in switchToConfig), and keeps leading
   * until that voter takes over. Stepping down at once can leave the cluster without a leader:
   * a remaining voter that missed the commit of the removal still needs our vote, which we
   * refuse while our log is longer, and we no longer campaign. Until the handover completes we
   * keep sending the commit index (so the others apply the new config) and drop proposals.
   */
  #handOffLeadership(): void {
    assert(this.state === StateType.Leader, "only a leader hands off leadership");
    let target = NONE;
    let best = -1;
    for (const id of this.trk.voterIds()) {
      if (id === this.id) continue;
      const m = this.trk.progress.get(id)!.match;
      if (m > best) {
        best = m;
        target = id;
      }
    }
    if (target === NONE) {
      this.logger.info(`${this.id} stepping down: no longer a voter and no voter to hand over to`);
      this.becomeFollower(this.term, NONE);
      return;
    }
    this.logger.info(
      `${this.id} is no longer a voter in ${this.#configString()}: handing leadership to ${target}`,
    );
    this.abortLeaderTransfer();
    this.electionElapsed = 0;
    this.leadTransferee = target;
    // Everyone learns the commit index (and applies the config that removed us).
    this.bcastAppend();
    if (this.trk.progress.get(target)!.match === this.raftLog.lastIndex()) {
      this.#sendTimeoutNow(target);
      assert(this.leadTransferee === NONE, "a removed leader steps down after handoff");
    }
  }

  /** The application applied entries up to `index` (called from RawNode.advance). */
  appliedTo(index: number): void {
    const newApplied = Math.max(index, this.raftLog.applied);
    this.raftLog.appliedTo(newApplied);
    // Invariant: applied <= committed <= lastIndex.
    assert(
      this.raftLog.applied <= this.raftLog.committed &&
        this.raftLog.committed <= this.raftLog.lastIndex(),
      "applied <= committed <= lastIndex",
    );
    if (
      this.trk.config.autoLeave && newApplied >= this.pendingConfIndex &&
      this.state === StateType.Leader
    ) {
      // The joint config is applied: propose leaving it (an empty ConfChange).
      const data = encodeConfChange({
        transition: ConfChangeTransition.Auto,
        changes: [],
        context: EMPTY_BYTES,
      });
      const m = newMessage(MessageType.MsgProp, NONE, this.id);
      m.entries = [{ term: 0, index: 0, type: EntryType.ConfChange, data }];
      try {
        this.step(m);
        this.logger.info(`${this.id} initiating automatic transition out of joint configuration`);
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err;
        this.logger.debug(`${this.id} not leaving joint configuration yet: ${err.message}`);
      }
    }
  }
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort((x, y) => x - y);
  const sb = [...b].sort((x, y) => x - y);
  return sa.every((v, i) => v === sb[i]);
}

export function confStatesEquivalent(a: ConfState, b: ConfState): boolean {
  return sameIds(a.voters, b.voters) && sameIds(a.learners, b.learners) &&
    sameIds(a.votersOutgoing, b.votersOutgoing) && sameIds(a.learnersNext, b.learnersNext) &&
    a.autoLeave === b.autoLeave;
}
