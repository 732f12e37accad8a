/**
 * `KvService`: what the REST API (`createApp`) needs from a node. The server implements it over
 * raft + `KvStore`; tests implement it over a bare `KvStore` (tests/kv/fake_service.ts).
 *
 * Keys and values are bytes. Methods report failures by throwing the named errors of
 * `kv/errors.ts` (`NoLeaderError`, `NotReadyError`, `RequestTimeoutError`,
 * `PreconditionFailedError`, `NotFoundError`, `BadRequestError`, `ConflictError`); anything else
 * is answered as a 500.
 */
import type { KvCondition } from "./command.ts";

/** `linearizable` (default) goes through read-index; `serializable` reads this node's state. */
export type Consistency = "linearizable" | "serializable";

export interface ReadOptions {
  consistency: Consistency;
}

export interface KvWriteResult {
  /** The raft log index of the entry that applied the write. */
  revision: number;
}

export interface KvValue {
  value: Uint8Array;
  /** The raft log index of the entry that last wrote the key. */
  revision: number;
}

export interface KvItem {
  key: Uint8Array;
  value: Uint8Array;
  revision: number;
}

export interface KvRangeResult {
  /** The store's revision (its applied index) when the range was read. */
  revision: number;
  /** In byte order of the keys. */
  items: KvItem[];
  /** Whether more keys with the prefix follow the last item. */
  more: boolean;
}

export interface Member {
  id: number;
  peerURL: string;
  learner: boolean;
}

export interface ClusterInfo {
  clusterId: string;
  /** null when this node knows no leader. */
  leader: number | null;
  term: number;
  members: Member[];
}

export type NodeRole = "leader" | "follower" | "candidate" | "pre-candidate";

export interface FollowerProgress {
  match: number;
  next: number;
  state: "probe" | "replicate" | "snapshot";
}

export interface NodeStatus {
  id: number;
  role: NodeRole;
  term: number;
  leader: number | null;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  /** Leader only: per member id (as a string key), its replication progress. */
  progress?: Record<string, FollowerProgress>;
}

export interface Health {
  healthy: boolean;
  /** Why not, when `healthy` is false (e.g. "no leader"). */
  reason?: string;
}

export interface KvService {
  /**
   * Resolves once the write is committed and applied on this node.
   * Throws `PreconditionFailedError` (with the current revision) when `condition` fails.
   */
  put(key: Uint8Array, value: Uint8Array, condition?: KvCondition): Promise<KvWriteResult>;
  /**
   * Resolves once the delete is committed and applied. Throws `NotFoundError` when the key is
   * absent and there is no condition, `PreconditionFailedError` when `condition` fails
   * (an `ifMatch` on an absent key fails with currentRevision 0).
   */
  delete(key: Uint8Array, condition?: KvCondition): Promise<KvWriteResult>;
  /** undefined when the key is absent. */
  get(key: Uint8Array, options: ReadOptions): Promise<KvValue | undefined>;
  /** At most `limit` items (1 <= limit), keys starting with `prefix`, in byte order. */
  range(prefix: Uint8Array, limit: number, options: ReadOptions): Promise<KvRangeResult>;
  cluster(): Promise<ClusterInfo>;
  /** Resolves with the new member list once the change is applied. */
  addMember(member: Member): Promise<Member[]>;
  /** Resolves with the new member list once the learner is a voter. */
  promoteMember(id: number): Promise<Member[]>;
  /** Resolves with the new member list once the member is removed. */
  removeMember(id: number): Promise<Member[]>;
  /** Resolves once `id` leads. */
  transferLeader(id: number): Promise<void>;
  status(): Promise<NodeStatus>;
  health(): Promise<Health>;
  /** Prometheus text exposition format. */
  metrics(): Promise<string>;
}
