/** The configuration of a raft node, with its defaults and validation. */
import type { Logger } from "./logger.ts";
import { silentLogger } from "./logger.ts";
import type { ReadOnlyOption } from "./read_only.ts";
import type { Storage } from "./storage.ts";
import { mulberry32 } from "./util.ts";

const MiB = 1024 * 1024;

/** Defaults; every limit is bounded (no "0 = unlimited"). */
export const DEFAULT_MAX_SIZE_PER_MSG = 1 * MiB;
export const DEFAULT_MAX_COMMITTED_SIZE_PER_READY = 16 * MiB;
export const DEFAULT_MAX_UNCOMMITTED_ENTRIES_SIZE = 64 * MiB;
export const DEFAULT_MAX_INFLIGHT_MSGS = 256;
/** 32 MiB: 32 full-size messages per follower in flight; 256 of 128 KiB each. */
export const DEFAULT_MAX_INFLIGHT_BYTES = 32 * MiB;

export interface Config {
  /** This node's id; never 0. */
  id: number;
  /** Ticks without hearing from a leader before campaigning; randomized in [e, 2e). */
  electionTicks: number;
  /** Ticks between a leader's heartbeats; less than electionTicks. */
  heartbeatTicks: number;
  storage: Storage;
  /**
   * On restart: the index the state machine has applied; committed entries up to it are not
   * handed out again. Raft rebuilds the membership from the snapshot's ConfState, so this must
   * not be beyond what the ConfState plus the replayed ConfChange entries cover. Default: the
   * index of `storage.snapshot()` (the state machine restarts from the latest snapshot; entries
   * kept below it by a partial compaction are not replayed on top of it).
   */
  applied?: number;
  /** Bytes of entries per MsgApp (at least one entry is always sent). Default 1 MiB. */
  maxSizePerMsg?: number;
  /** Bytes of committed entries per Ready (at least one). Default 16 MiB. */
  maxCommittedSizePerReady?: number;
  /** Payload bytes of uncommitted entries a leader accepts before dropping proposals. 64 MiB. */
  maxUncommittedEntriesSize?: number;
  /** MsgApps in flight per follower in replicate state. Default 256. */
  maxInflightMsgs?: number;
  /** Payload bytes in flight per follower; at least maxSizePerMsg. Default 32 MiB. */
  maxInflightBytes?: number;
  /** A leader steps down without hearing from a quorum within an election timeout (§6.2). */
  checkQuorum?: boolean;
  /** Pre-vote phase before campaigning (thesis §9.6), so partitioned nodes do not disrupt. */
  preVote?: boolean;
  /** "safe" (default, heartbeat round per read) or "lease" (needs checkQuorum). */
  readOnlyOption?: ReadOnlyOption;
  /** Followers drop proposals instead of forwarding them to the leader. */
  disableProposalForwarding?: boolean;
  /** Seeded source in [0, 1) for election timeouts. Default: mulberry32 seeded from the id. */
  random?: () => number;
  logger?: Logger;
}

export interface ResolvedConfig {
  id: number;
  electionTicks: number;
  heartbeatTicks: number;
  storage: Storage;
  /** Undefined: the storage snapshot's index (resolved by Raft, which reads the storage). */
  applied: number | undefined;
  maxSizePerMsg: number;
  maxCommittedSizePerReady: number;
  maxUncommittedEntriesSize: number;
  maxInflightMsgs: number;
  maxInflightBytes: number;
  checkQuorum: boolean;
  preVote: boolean;
  readOnlyOption: ReadOnlyOption;
  disableProposalForwarding: boolean;
  random: () => number;
  logger: Logger;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v <= 0) {
    throw new RangeError(`Invalid raft config: ${name} must be a positive integer, got ${v}`);
  }
  return v;
}

function nonNegativeInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`Invalid raft config: ${name} must be a non-negative integer, got ${v}`);
  }
  return v;
}

/** Applies defaults and validates; throws RangeError (TypeError for a missing storage). */
export function resolveConfig(c: Config): ResolvedConfig {
  positiveInt("id", c.id);
  positiveInt("heartbeatTicks", c.heartbeatTicks);
  positiveInt("electionTicks", c.electionTicks);
  if (c.electionTicks <= c.heartbeatTicks) {
    throw new RangeError(
      `Invalid raft config: electionTicks (${c.electionTicks}) must be greater than heartbeatTicks (${c.heartbeatTicks})`,
    );
  }
  if (c.storage === undefined || c.storage === null) {
    throw new TypeError("Invalid raft config: storage is required");
  }
  const maxSizePerMsg = nonNegativeInt(
    "maxSizePerMsg",
    c.maxSizePerMsg ?? DEFAULT_MAX_SIZE_PER_MSG,
  );
  const maxInflightBytes = positiveInt(
    "maxInflightBytes",
    c.maxInflightBytes ?? Math.max(DEFAULT_MAX_INFLIGHT_BYTES, maxSizePerMsg),
  );
  if (maxInflightBytes < maxSizePerMsg) {
    throw new RangeError(
      `Invalid raft config: maxInflightBytes (${maxInflightBytes}) must be at least maxSizePerMsg (${maxSizePerMsg})`,
    );
  }
  const checkQuorum = c.checkQuorum ?? false;
  const readOnlyOption = c.readOnlyOption ?? "safe";
  if (readOnlyOption !== "safe" && readOnlyOption !== "lease") {
    throw new RangeError(`Invalid raft config: unknown readOnlyOption ${readOnlyOption}`);
  }
  if (readOnlyOption === "lease" && !checkQuorum) {
    throw new RangeError("Invalid raft config: readOnlyOption lease requires checkQuorum");
  }
  return {
    id: c.id,
    electionTicks: c.electionTicks,
    heartbeatTicks: c.heartbeatTicks,
    storage: c.storage,
    applied: c.applied === undefined ? undefined : nonNegativeInt("applied", c.applied),
    maxSizePerMsg,
    maxCommittedSizePerReady: positiveInt(
      "maxCommittedSizePerReady",
      c.maxCommittedSizePerReady ?? DEFAULT_MAX_COMMITTED_SIZE_PER_READY,
    ),
    maxUncommittedEntriesSize: positiveInt(
      "maxUncommittedEntriesSize",
      c.maxUncommittedEntriesSize ?? DEFAULT_MAX_UNCOMMITTED_ENTRIES_SIZE,
    ),
    maxInflightMsgs: positiveInt("maxInflightMsgs", c.maxInflightMsgs ?? DEFAULT_MAX_INFLIGHT_MSGS),
    maxInflightBytes,
    checkQuorum,
    preVote: c.preVote ?? false,
    readOnlyOption,
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    random: c.random ?? mulberry32(c.id),
    logger: c.logger ?? silentLogger,
  };
}
