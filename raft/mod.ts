/**
 * The raft consensus core of raftkv, in the design of etcd's raft library: a pure, deterministic
 * state machine (Raft paper §5, §6, §7 and the thesis' PreVote, CheckQuorum, ReadIndex,
 * leadership transfer and joint consensus). Time enters only through `tick()`, randomness only
 * through `Config.random`, and I/O only through `Ready`.
 *
 * ## The caller's order, for every Ready
 *
 * 1. **persist**: `snapshot` (if any), then `hardState` and `entries` to stable storage (fsync
 *    when `mustSync`), and append them to the `Storage` raft reads (e.g. MemoryStorage);
 * 2. **send** `messages` to the peers (only after step 1: they may promise what was persisted);
 * 3. **apply** `snapshot`, then `committedEntries` to the state machine; a committed entry of
 *    type ConfChange is decoded with `decodeConfChange` and handed to `applyConfChange`; serve
 *    reads of `readStates` once applied >= their index;
 * 4. **advance**: call `advance()`; only then is the next Ready produced.
 *
 * ## Usage
 *
 * ```ts
 * import { MemoryStorage, Node } from "./raft/mod.ts";
 * const storage = new MemoryStorage();
 * const node = new Node({ id: 1, electionTicks: 10, heartbeatTicks: 1, storage });
 * node.bootstrap([1, 2, 3]);                 // a new cluster; skip on restart
 * setInterval(() => node.tick(), 100);       // the clock
 * for await (const rd of node.ready()) {
 *   if (rd.snapshot) storage.applySnapshot(rd.snapshot);
 *   if (rd.hardState) storage.setHardState(rd.hardState);
 *   storage.append(rd.entries);              // after the WAL write (+ fsync if rd.mustSync)
 *   transport.send(rd.messages);
 *   for (const e of rd.committedEntries) apply(e);
 *   node.advance();
 * }
 * ```
 *
 * `RawNode` is the same without the async iterator (`hasReady()` / `ready()` / `advance()`).
 *
 * ## Behaviour worth knowing
 *
 * - Proposals are appended at once but broadcast at the next Ready (or the next non-proposal
 *   input), so that a burst of `propose()` calls goes out as one MsgApp batch per follower;
 *   `proposeBatch(data[])` appends a batch in one step.
 * - On restart, membership comes from `Storage.initialState().confState` (the latest snapshot's)
 *   and committed entries after `Config.applied` are handed out again, ConfChanges included.
 *   `Config.applied` defaults to the storage snapshot's index (the state machine restarts from
 *   the latest snapshot); pass it if your state machine is persisted elsewhere.
 * - A leader that applies its own removal (or demotion) steps down by handing leadership to the
 *   most caught-up remaining voter (MsgTimeoutNow) and drops proposals and reads meanwhile.
 * - A rejected vote carries the voter's commit index and its term; a candidate whose log matches
 *   there adopts it (Log Matching, §5.3). This lets a voter that missed the commit of a config
 *   change apply it, instead of waiting forever for the vote of a removed node.
 * - A vote request with a stale term is rejected with our term (§5.1; etcd ignores it), so a
 *   candidate cannot keep campaigning one term behind a voter that keeps campaigning itself.
 * - A follower restores a snapshot whose ConfState predates its own membership (a member added
 *   after the leader's latest snapshot); the entries after the snapshot then add it. (etcd
 *   refuses such a snapshot, and its leader resends it forever.)
 * - The caller reports snapshot sends with `reportSnapshot` (Failure or Finish): a follower
 *   stays in snapshot state, receiving nothing, until then.
 * - `applyConfChange` throws `ConfChangeError` for a change that is invalid in the current
 *   configuration; the configuration is then unchanged (the same on every node).
 * - A broken invariant throws `RaftInvariantError` (a bug, or a caller that did not persist a
 *   Ready before advancing): the node must stop.
 */
export * from "./types.ts";
export { type Logger, silentLogger } from "./logger.ts";
export { decodeConfChange, encodeConfChange } from "./conf_change_codec.ts";
export {
  CompactedError,
  ProposalDroppedError,
  SnapOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  UnavailableError,
} from "./errors.ts";
export { type InitialState, MemoryStorage, type Storage } from "./storage.ts";
export {
  type Config,
  DEFAULT_MAX_COMMITTED_SIZE_PER_READY,
  DEFAULT_MAX_INFLIGHT_BYTES,
  DEFAULT_MAX_INFLIGHT_MSGS,
  DEFAULT_MAX_SIZE_PER_MSG,
  DEFAULT_MAX_UNCOMMITTED_ENTRIES_SIZE,
} from "./config.ts";
export type { ReadOnlyOption } from "./read_only.ts";
export { mustSync, RawNode } from "./raw_node.ts";
export { Node } from "./node.ts";
export type { ProgressStatus, Status } from "./status.ts";
export type { ProgressState } from "./tracker/progress.ts";
export { ConfChangeError } from "./confchange/changer.ts";
export { RaftInvariantError } from "./util.ts";
