/**
 * `KvService` over raft: what the REST API asks of a node.
 *
 * A write becomes a proposal carrying a request id; it is answered when the entry with that id
 * applies on this node, so a 200 means "committed by a quorum and applied here". A proposal raft
 * refuses at once never entered the log (503); one that is not applied in time may still apply
 * (504). A linearizable read waits for a ReadIndex confirmed by the leader and for this node to
 * apply up to it.
 */
import {
  ConfChangeTransition,
  ConfChangeType,
  type Logger,
  ProposalDroppedError,
  StateType,
} from "../raft/mod.ts";
import {
  BadRequestError,
  type ClusterInfo,
  ConflictError,
  encodeCommand,
  type Health,
  type KvCommand,
  type KvCondition,
  type KvRangeResult,
  type KvResult,
  type KvService,
  type KvValue,
  type KvWriteResult,
  type Member,
  type NodeRole,
  type NodeStatus,
  NoLeaderError,
  NotFoundError,
  NotReadyError,
  PreconditionFailedError,
  type ReadOptions,
  RequestTimeoutError,
} from "../kv/mod.ts";
import { encodeConfChangeContext } from "./members.ts";
import type { ServerMetrics } from "./metrics.ts";
import type { ConfChangeResult, RaftServer } from "./raft_server.ts";
import { ReadTimeoutError } from "./read_index.ts";
import { WaitCancelledError, WaitTimeoutError } from "./wait.ts";

/** A learner is promoted only once this close to the leader's commit index. */
const PROMOTE_LAG_ENTRIES_MAX = 1000;

const ROLES: Record<StateType, NodeRole> = {
  [StateType.Follower]: "follower",
  [StateType.Candidate]: "candidate",
  [StateType.Leader]: "leader",
  [StateType.PreCandidate]: "pre-candidate",
};

export interface RaftKvServiceOptions {
  raft: RaftServer;
  metrics: ServerMetrics;
  requestTimeoutMs: number;
  logger: Logger;
}

export class RaftKvService implements KvService {
  #raft: RaftServer;
  #metrics: ServerMetrics;
  #timeoutMs: number;
  #log: Logger;
  /** Request ids are unique across restarts: an old entry applied late never answers a new request. */
  #requestPrefix = crypto.randomUUID().slice(0, 8);
  #requestSequence = 0;
  #closed = false;

  constructor(options: RaftKvServiceOptions) {
    this.#raft = options.raft;
    this.#metrics = options.metrics;
    this.#timeoutMs = options.requestTimeoutMs;
    this.#log = options.logger;
  }

  /** Fails everything waiting and refuses new requests (shutdown). */
  close(): void {
    this.#closed = true;
    const error = new NotReadyError("The node is shutting down");
    this.#raft.writes.cancelAll(error);
    this.#raft.confChanges.cancelAll(error);
    this.#raft.reads.close(error);
  }

  async put(key: Uint8Array, value: Uint8Array, condition?: KvCondition): Promise<KvWriteResult> {
    const command: KvCommand = { requestId: this.#nextRequestId(), op: "put", key, value };
    if (condition !== undefined) command.condition = condition;
    return toWriteResult(await this.#write(command));
  }

  async delete(key: Uint8Array, condition?: KvCondition): Promise<KvWriteResult> {
    const command: KvCommand = { requestId: this.#nextRequestId(), op: "delete", key };
    if (condition !== undefined) command.condition = condition;
    return toWriteResult(await this.#write(command));
  }

  async get(key: Uint8Array, options: ReadOptions): Promise<KvValue | undefined> {
    await this.#readBarrier(options);
    const stored = this.#raft.store.get(key);
    return stored && { value: stored.value, revision: stored.revision };
  }

  async range(prefix: Uint8Array, limit: number, options: ReadOptions): Promise<KvRangeResult> {
    await this.#readBarrier(options);
    // The keys added since the last range are sorted in first, beside the loop.
    await this.#raft.store.sortKeysAsync();
    const { items, more } = this.#raft.store.range(prefix, limit);
    return { revision: this.#raft.appliedIndex, items, more };
  }

  cluster(): Promise<ClusterInfo> {
    const raft = this.#raft;
    return Promise.resolve({
      clusterId: raft.clusterId,
      leader: raft.leader === 0 ? null : raft.leader,
      term: raft.term,
      members: raft.members.list(),
    });
  }

  async addMember(member: Member): Promise<Member[]> {
    if (!Number.isSafeInteger(member.id) || member.id < 1) {
      throw new BadRequestError(`member id must be a positive integer, got ${member.id}`);
    }
    let url: URL;
    try {
      url = new URL(member.peerURL);
    } catch {
      throw new BadRequestError(`peerURL "${member.peerURL}" is not a URL`);
    }
    if (url.protocol !== "http:" || url.pathname !== "/") {
      throw new BadRequestError(`peerURL "${member.peerURL}" must be http://host:port`);
    }
    if (this.#raft.members.has(member.id)) {
      throw new ConflictError(`node ${member.id} is already a member`);
    }
    const type = member.learner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode;
    return await this.#changeMembership(type, member.id, url.origin);
  }

  async promoteMember(id: number): Promise<Member[]> {
    const member = this.#raft.members.get(id);
    if (member === undefined) throw new NotFoundError(`node ${id} is not a member`);
    if (!member.learner) throw new ConflictError(`node ${id} is already a voter`);
    const progress = await this.#leaderProgress(id);
    if (progress.commitIndex - progress.match > PROMOTE_LAG_ENTRIES_MAX) {
      throw new ConflictError(
        `learner ${id} has not caught up yet (at ${progress.match}, commit ${progress.commitIndex}); retry later`,
      );
    }
    return await this.#changeMembership(ConfChangeType.AddNode, id, member.peerURL);
  }

  async removeMember(id: number): Promise<Member[]> {
    if (!this.#raft.members.has(id)) throw new NotFoundError(`node ${id} is not a member`);
    return await this.#changeMembership(ConfChangeType.RemoveNode, id, undefined);
  }

  async transferLeader(id: number): Promise<void> {
    const member = this.#raft.members.get(id);
    if (member === undefined) throw new NotFoundError(`node ${id} is not a member`);
    if (member.learner) throw new BadRequestError(`node ${id} is a learner and cannot lead`);
    this.#checkServing();
    if (this.#raft.leader === 0) throw new NoLeaderError();
    const deadline = Date.now() + this.#timeoutMs;
    while (this.#raft.leader !== id) {
      // Raft forwards the request to the leader; repeated until it takes, as a transfer may abort.
      // Between two leaders none is known: then only wait.
      if (this.#raft.leader !== 0) this.#raft.node.transferLeader(id);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new RequestTimeoutError(`leadership did not move to node ${id} in time`);
      }
      await this.#raft.waitLeaderChange(Math.min(left, 1000));
    }
  }

  status(): Promise<NodeStatus> {
    const raft = this.#raft;
    const status: NodeStatus = {
      id: raft.id,
      role: ROLES[raft.role],
      term: raft.term,
      leader: raft.leader === 0 ? null : raft.leader,
      commitIndex: raft.commitIndex,
      appliedIndex: raft.appliedIndex,
      lastIndex: raft.lastIndex,
      snapshotIndex: raft.snapshotIndex,
    };
    const progress = raft.node.status().progress;
    if (raft.role === StateType.Leader && progress !== undefined) {
      status.progress = Object.fromEntries(
        [...progress.entries()].filter(([id]) => id !== raft.id).map((
          [id, p],
        ) => [String(id), { match: p.match, next: p.next, state: p.state }]),
      );
    }
    return Promise.resolve(status);
  }

  health(): Promise<Health> {
    if (this.#closed || this.#raft.stopped) {
      return Promise.resolve({ healthy: false, reason: "stopping" });
    }
    if (this.#raft.leader === 0) return Promise.resolve({ healthy: false, reason: "no leader" });
    return Promise.resolve({ healthy: true });
  }

  metrics(): Promise<string> {
    return Promise.resolve(this.#metrics.registry.render());
  }

  #checkServing(): void {
    if (this.#closed || this.#raft.stopped) throw new NotReadyError("The node is shutting down");
  }

  #nextRequestId(): string {
    return `${this.#requestPrefix}-${++this.#requestSequence}`;
  }

  async #write(command: KvCommand): Promise<KvResult> {
    this.#checkServing();
    if (this.#raft.leader === 0) throw new NoLeaderError();
    if (this.#raft.writes.full) throw new NotReadyError("Too many writes in flight");
    const data = encodeCommand(command);
    const started = performance.now();
    const applied = this.#raft.writes.register(command.requestId);
    try {
      this.#raft.propose(data);
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
      // Raft refused it before it entered any log: it will never apply.
      this.#raft.writes.cancel(command.requestId, new NoLeaderError(error.message));
      this.#metrics.proposals.inc({ outcome: "dropped" });
    }
    try {
      const result = await applied;
      this.#metrics.proposals.inc({ outcome: "committed" });
      this.#metrics.proposalSeconds.observe((performance.now() - started) / 1000);
      return result;
    } catch (error) {
      if (error instanceof WaitTimeoutError) {
        this.#metrics.proposals.inc({ outcome: "timeout" });
        throw new RequestTimeoutError();
      }
      throw error;
    }
  }

  async #readBarrier(options: ReadOptions): Promise<void> {
    this.#checkServing();
    if (options.consistency === "serializable") return;
    if (this.#raft.leader === 0) throw new NoLeaderError();
    const started = performance.now();
    try {
      await this.#raft.reads.read();
    } catch (error) {
      if (error instanceof ReadTimeoutError) {
        // A read changes nothing, so "no leader" is the useful answer when that is the cause.
        if (this.#raft.leader === 0) throw new NoLeaderError();
        throw new RequestTimeoutError("The read timed out waiting for the leader to confirm it");
      }
      throw error;
    }
    this.#metrics.readIndexSeconds.observe((performance.now() - started) / 1000);
  }

  async #changeMembership(
    type: ConfChangeType,
    nodeId: number,
    peerURL: string | undefined,
  ): Promise<Member[]> {
    this.#checkServing();
    if (this.#raft.leader === 0) throw new NoLeaderError();
    const requestId = this.#nextRequestId();
    const context = encodeConfChangeContext(peerURL ? { requestId, peerURL } : { requestId });
    const applied = this.#raft.confChanges.register(requestId);
    try {
      this.#raft.node.proposeConfChange({
        transition: ConfChangeTransition.Auto,
        changes: [{ type, nodeId }],
        context,
      });
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
      this.#raft.confChanges.cancel(requestId, new NoLeaderError(error.message));
    }
    let result: ConfChangeResult;
    try {
      result = await applied;
    } catch (error) {
      if (error instanceof WaitTimeoutError) {
        // Raft also turns a conf change into a no-op while another one is pending.
        throw new RequestTimeoutError(
          "The membership change was proposed but not applied in time (another change may be pending); it may still apply",
        );
      }
      if (error instanceof WaitCancelledError) throw new NotReadyError(error.message);
      throw error;
    }
    if (!result.ok) throw new ConflictError(result.reason);
    this.#log.info(`membership change for node ${nodeId} applied`);
    return result.members;
  }

  /** The leader's view of a follower: asked locally on the leader, over the peer port elsewhere. */
  async #leaderProgress(id: number): Promise<{ match: number; commitIndex: number }> {
    const raft = this.#raft;
    if (raft.role === StateType.Leader) {
      const progress = raft.node.status().progress?.get(id);
      if (progress === undefined) throw new NotFoundError(`node ${id} has no progress`);
      return { match: progress.match, commitIndex: raft.commitIndex };
    }
    const leader = raft.members.get(raft.leader);
    if (leader === undefined) throw new NoLeaderError();
    try {
      const response = await fetch(`${leader.peerURL}/raft/progress/${id}`, {
        signal: AbortSignal.timeout(2000),
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new NoLeaderError("The leader did not report the learner's progress");
      }
      return await response.json() as { match: number; commitIndex: number };
    } catch (error) {
      if (error instanceof NoLeaderError) throw error;
      throw new NoLeaderError(`Cannot reach the leader: ${(error as Error).message}`);
    }
  }
}

function toWriteResult(result: KvResult): KvWriteResult {
  if (result.ok) return { revision: result.revision };
  if (result.code === "precondition_failed") {
    throw new PreconditionFailedError(result.currentRevision);
  }
  throw new NotFoundError("The key does not exist");
}
