/**
 * raftkv's replicated key-value state machine and its REST API.
 *
 * - `encodeCommand` / `decodeCommand`: the binary KV command in a raft entry's data.
 * - `KvStore`: the deterministic state machine (apply, get, range, snapshot, restore).
 * - `KvService`: what the REST API needs from a node; `createApp(service)` builds the Hono app.
 * - Named errors a `KvService` throws, mapped to HTTP statuses by `createApp`.
 *
 * Applying committed entries, in log order: a normal entry with data is
 * `store.apply(entry.index, decodeCommand(entry.data))` (a `KvCommandDecodeError` means the entry
 * is not a KV command); an empty entry or a conf change may be recorded with
 * `store.advanceTo(entry.index)` so that `store.appliedIndex` follows raft's applied index.
 * `store.snapshot()` is the state as of `store.appliedIndex`; `store.restore(data)` replaces it.
 * At a large store, `store.snapshotAsync()` (or `store.beginSnapshot()` and `job.step()`) gives the
 * same bytes as of the index it began at without blocking the event loop, while entries go on
 * being applied.
 */
export {
  COMMAND_VALUE_BYTES_MAX,
  COMMAND_VERSION,
  decodeCommand,
  encodeCommand,
  IF_MATCH_REVISIONS_MAX,
  KEY_BYTES_MAX,
  type KvCommand,
  KvCommandDecodeError,
  type KvCondition,
  REQUEST_ID_BYTES_MAX,
} from "./command.ts";
export {
  BadRequestError,
  ConflictError,
  NoLeaderError,
  NotFoundError,
  NotReadyError,
  PayloadTooLargeError,
  PreconditionFailedError,
  RequestTimeoutError,
} from "./errors.ts";
export {
  type KvResult,
  KvSnapshotCorruptError,
  KvStore,
  RANGE_BYTES_MAX_DEFAULT,
  RANGE_LIMIT_MAX,
  type RangeItem,
  type RangeResult,
  SNAPSHOT_SLICE_MS_DEFAULT,
  type StoredValue,
  verifyKvImage,
} from "./store.ts";
export type { KvSnapshotJob } from "./snapshot_job.ts";
export { KvChangesCorruptError } from "./changes.ts";
export { binaryToBytes, bytesToBinary } from "./keys.ts";
export type {
  ClusterInfo,
  Consistency,
  FollowerProgress,
  Health,
  KvItem,
  KvRangeResult,
  KvService,
  KvValue,
  KvWriteResult,
  Member,
  NodeRole,
  NodeStatus,
  ReadOptions,
} from "./service.ts";
export {
  createApp,
  type CreateAppOptions,
  RANGE_LIMIT_CAP_DEFAULT,
  RANGE_LIMIT_DEFAULT,
  VALUE_BYTES_MAX_DEFAULT,
} from "./http.ts";
