/**
 * The values that cross the raft module's boundary: log entries, the state a node persists, the
 * messages peers exchange and the `Ready` batch handed to the caller. They play the role of etcd's
 * `raftpb` package. Plain objects only, so that the WAL and the transport can encode them.
 *
 * Ids, terms and indexes are non-negative safe integers; id 0 means "none".
 */

/** A node id of 0 names no node (`None` in etcd). */
export const NONE = 0;

export const EntryType = {
  Normal: 0,
  /** `data` is an encoded `ConfChange` (see `encodeConfChange`). */
  ConfChange: 1,
} as const;
export type EntryType = typeof EntryType[keyof typeof EntryType];

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  /** Opaque to raft. An empty normal entry is what a new leader appends for its term. */
  data: Uint8Array;
}

/** What a node must persist before it sends any message of the same Ready (Raft §5, Figure 2). */
export interface HardState {
  term: number;
  /** The candidate this node voted for in `term`, or NONE. */
  vote: number;
  commit: number;
}

export const StateType = {
  Follower: 0,
  Candidate: 1,
  Leader: 2,
  PreCandidate: 3,
} as const;
export type StateType = typeof StateType[keyof typeof StateType];

/** Volatile state, reported in `Ready` when it changes; never persisted. */
export interface SoftState {
  lead: number;
  raftState: StateType;
}

/**
 * The membership configuration. Outside a joint configuration `votersOutgoing` is empty.
 * `learnersNext` holds voters of the outgoing config that become learners when the joint
 * config is left (they cannot be learners and voters at once).
 */
export interface ConfState {
  voters: number[];
  learners: number[];
  votersOutgoing: number[];
  learnersNext: number[];
  /** Leave the joint configuration automatically once it is committed. */
  autoLeave: boolean;
}

export interface SnapshotMetadata {
  confState: ConfState;
  index: number;
  term: number;
}

export interface Snapshot {
  /** The application's state machine at `metadata.index`; opaque to raft. */
  data: Uint8Array;
  metadata: SnapshotMetadata;
}

export const MessageType = {
  /** Local: start an election (the election timer fired or `campaign()` was called). */
  MsgHup: 0,
  /** Local: tell a leader to send heartbeats. */
  MsgBeat: 1,
  /** A proposal: local, or forwarded by a follower to its leader. */
  MsgProp: 2,
  MsgApp: 3,
  MsgAppResp: 4,
  MsgVote: 5,
  MsgVoteResp: 6,
  MsgSnap: 7,
  MsgHeartbeat: 8,
  MsgHeartbeatResp: 9,
  /** Local: the transport could not reach `from`. */
  MsgUnreachable: 10,
  /** Local: the transport finished (or failed) sending a snapshot to `from`. */
  MsgSnapStatus: 11,
  /** Local: a leader checks that a quorum was active within the last election timeout. */
  MsgCheckQuorum: 12,
  MsgTransferLeader: 13,
  MsgTimeoutNow: 14,
  MsgReadIndex: 15,
  MsgReadIndexResp: 16,
  MsgPreVote: 17,
  MsgPreVoteResp: 18,
} as const;
export type MessageType = typeof MessageType[keyof typeof MessageType];

export interface Message {
  type: MessageType;
  to: number;
  from: number;
  term: number;
  /** MsgApp: term of the entry at `index`. Vote requests: term of the candidate's last entry. */
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  /** Only on MsgSnap. */
  snapshot?: Snapshot;
  reject: boolean;
  /** On a rejected MsgAppResp: the follower's hint of where the logs may agree (§5.3 optimization). */
  rejectHint: number;
  /** Opaque bytes: the ReadIndex request id, or the campaign kind on votes. */
  context: Uint8Array;
}

/** A ReadIndex answer: reads issued with `requestCtx` may be served once `applied >= index`. */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

/**
 * One batch of work for the caller. The caller must, in order:
 *  1. persist `snapshot` (if any), then `hardState` and `entries`, syncing when `mustSync`;
 *  2. send `messages` (a leader may send before its own sync completes; etcd §10.2.1);
 *  3. apply `snapshot` and then `committedEntries` to its state machine;
 *  4. call `advance()`.
 */
export interface Ready {
  softState?: SoftState;
  /** Present only when it changed since the previous Ready. */
  hardState?: HardState;
  readStates: ReadState[];
  /** Unstable entries to append to stable storage; they may overwrite a conflicting suffix. */
  entries: Entry[];
  /** An incoming snapshot to persist and apply. */
  snapshot?: Snapshot;
  /** Entries known to be committed and not yet handed out for applying. */
  committedEntries: Entry[];
  messages: Message[];
  /** Whether `hardState` and `entries` must be fsynced before `messages` are sent. */
  mustSync: boolean;
}

export const ConfChangeType = {
  AddNode: 0,
  RemoveNode: 1,
  AddLearnerNode: 2,
} as const;
export type ConfChangeType = typeof ConfChangeType[keyof typeof ConfChangeType];

export const ConfChangeTransition = {
  /** One change: applied directly. Several: joint consensus, left automatically. */
  Auto: 0,
  /** Joint consensus, left automatically once committed. */
  JointImplicit: 1,
  /** Joint consensus, left only by an explicit empty ConfChange. */
  JointExplicit: 2,
} as const;
export type ConfChangeTransition = typeof ConfChangeTransition[keyof typeof ConfChangeTransition];

export interface ConfChangeSingle {
  type: ConfChangeType;
  nodeId: number;
}

/**
 * A membership change (etcd's ConfChangeV2). No changes at all means "leave the joint
 * configuration". `context` is opaque to raft (raftkv puts the new member's peer URL there).
 */
export interface ConfChange {
  transition: ConfChangeTransition;
  changes: ConfChangeSingle[];
  context: Uint8Array;
}

export const SnapshotStatus = {
  Finish: 0,
  Failure: 1,
} as const;
export type SnapshotStatus = typeof SnapshotStatus[keyof typeof SnapshotStatus];
