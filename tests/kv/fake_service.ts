/**
 * An in-memory `KvService` over a bare `KvStore` that applies every write at once, with a
 * made-up log index, and can be told to fail the next call with a given error.
 */
import {
  type ClusterInfo,
  ConflictError,
  decodeCommand,
  encodeCommand,
  type Health,
  type KvCommand,
  type KvCondition,
  type KvRangeResult,
  type KvService,
  KvStore,
  type KvValue,
  type KvWriteResult,
  type Member,
  type NodeStatus,
  NotFoundError,
  PreconditionFailedError,
  type ReadOptions,
} from "../../kv/mod.ts";

export class FakeKvService implements KvService {
  readonly store = new KvStore();
  members: Member[] = [{ id: 1, peerURL: "http://127.0.0.1:2380", learner: false }];
  leader: number | null = 1;
  term = 2;
  /** The error the next call throws (then cleared). */
  failNext: Error | undefined;
  /** Every read's options, to check what the API passed. */
  readonly reads: ReadOptions[] = [];
  #index = 0;
  #requests = 0;

  #maybeFail(): void {
    const e = this.failNext;
    if (e !== undefined) {
      this.failNext = undefined;
      throw e;
    }
  }

  #apply(cmd: KvCommand): KvWriteResult {
    // Through the codec, as the server does.
    const result = this.store.apply(++this.#index, decodeCommand(encodeCommand(cmd)));
    if (result.ok) return { revision: result.revision };
    if (result.code === "not_found") throw new NotFoundError("Key not found");
    throw new PreconditionFailedError(result.currentRevision);
  }

  put(key: Uint8Array, value: Uint8Array, condition?: KvCondition): Promise<KvWriteResult> {
    this.#maybeFail();
    const cmd: KvCommand = { requestId: `r${++this.#requests}`, op: "put", key, value };
    if (condition !== undefined) cmd.condition = condition;
    return Promise.resolve(this.#apply(cmd));
  }

  delete(key: Uint8Array, condition?: KvCondition): Promise<KvWriteResult> {
    this.#maybeFail();
    const cmd: KvCommand = { requestId: `r${++this.#requests}`, op: "delete", key };
    if (condition !== undefined) cmd.condition = condition;
    return Promise.resolve(this.#apply(cmd));
  }

  get(key: Uint8Array, options: ReadOptions): Promise<KvValue | undefined> {
    this.#maybeFail();
    this.reads.push(options);
    return Promise.resolve(this.store.get(key));
  }

  range(prefix: Uint8Array, limit: number, options: ReadOptions): Promise<KvRangeResult> {
    this.#maybeFail();
    this.reads.push(options);
    const r = this.store.range(prefix, limit);
    return Promise.resolve({ revision: this.store.appliedIndex, items: r.items, more: r.more });
  }

  cluster(): Promise<ClusterInfo> {
    this.#maybeFail();
    return Promise.resolve({
      clusterId: "c0ffee",
      leader: this.leader,
      term: this.term,
      members: this.members,
    });
  }

  addMember(member: Member): Promise<Member[]> {
    this.#maybeFail();
    if (this.members.some((m) => m.id === member.id)) {
      throw new ConflictError(`Member ${member.id} already exists`);
    }
    this.members = [...this.members, member];
    return Promise.resolve(this.members);
  }

  promoteMember(id: number): Promise<Member[]> {
    this.#maybeFail();
    const m = this.members.find((m) => m.id === id);
    if (m === undefined) throw new NotFoundError(`No member ${id}`);
    m.learner = false;
    return Promise.resolve(this.members);
  }

  removeMember(id: number): Promise<Member[]> {
    this.#maybeFail();
    if (!this.members.some((m) => m.id === id)) throw new NotFoundError(`No member ${id}`);
    this.members = this.members.filter((m) => m.id !== id);
    return Promise.resolve(this.members);
  }

  transferLeader(id: number): Promise<void> {
    this.#maybeFail();
    if (!this.members.some((m) => m.id === id)) throw new NotFoundError(`No member ${id}`);
    this.leader = id;
    return Promise.resolve();
  }

  status(): Promise<NodeStatus> {
    this.#maybeFail();
    return Promise.resolve({
      id: 1,
      role: "leader",
      term: this.term,
      leader: this.leader,
      commitIndex: this.#index,
      appliedIndex: this.store.appliedIndex,
      lastIndex: this.#index,
      snapshotIndex: 0,
      progress: { "1": { match: this.#index, next: this.#index + 1, state: "replicate" } },
    });
  }

  health(): Promise<Health> {
    this.#maybeFail();
    return Promise.resolve(
      this.leader === null ? { healthy: false, reason: "no leader" } : { healthy: true },
    );
  }

  metrics(): Promise<string> {
    this.#maybeFail();
    return Promise.resolve(
      `# TYPE raftkv_keys gauge\nraftkv_keys ${this.store.size}\n`,
    );
  }
}
