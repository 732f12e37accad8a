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

  /** Runs `fn` as an async method would: what it throws becomes a rejection. */
  #run<T>(fn: () => T): Promise<T> {
    try {
      this.#maybeFail();
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(e);
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
    return this.#run(() => {
      const cmd: KvCommand = { requestId: `r${++this.#requests}`, op: "put", key, value };
      if (condition !== undefined) cmd.condition = condition;
      return this.#apply(cmd);
    });
  }

  delete(key: Uint8Array, condition?: KvCondition): Promise<KvWriteResult> {
    return this.#run(() => {
      const cmd: KvCommand = { requestId: `r${++this.#requests}`, op: "delete", key };
      if (condition !== undefined) cmd.condition = condition;
      return this.#apply(cmd);
    });
  }

  get(key: Uint8Array, options: ReadOptions): Promise<KvValue | undefined> {
    return this.#run(() => {
      this.reads.push(options);
      return this.store.get(key);
    });
  }

  range(prefix: Uint8Array, limit: number, options: ReadOptions): Promise<KvRangeResult> {
    return this.#run(() => {
      this.reads.push(options);
      const r = this.store.range(prefix, limit);
      return { revision: this.store.appliedIndex, items: r.items, more: r.more };
    });
  }

  cluster(): Promise<ClusterInfo> {
    return this.#run(() => ({
      clusterId: "c0ffee",
      leader: this.leader,
      term: this.term,
      members: this.members,
    }));
  }

  addMember(member: Member): Promise<Member[]> {
    return this.#run(() => {
      if (this.members.some((m) => m.id === member.id)) {
        throw new ConflictError(`Member ${member.id} already exists`);
      }
      this.members = [...this.members, member];
      return this.members;
    });
  }

  promoteMember(id: number): Promise<Member[]> {
    return this.#run(() => {
      const m = this.members.find((m) => m.id === id);
      if (m === undefined) throw new NotFoundError(`No member ${id}`);
      m.learner = false;
      return this.members;
    });
  }

  removeMember(id: number): Promise<Member[]> {
    return this.#run(() => {
      if (!this.members.some((m) => m.id === id)) throw new NotFoundError(`No member ${id}`);
      this.members = this.members.filter((m) => m.id !== id);
      return this.members;
    });
  }

  transferLeader(id: number): Promise<void> {
    return this.#run(() => {
      if (!this.members.some((m) => m.id === id)) throw new NotFoundError(`No member ${id}`);
      this.leader = id;
    });
  }

  status(): Promise<NodeStatus> {
    return this.#run(() => ({
      id: 1,
      role: "leader" as const,
      term: this.term,
      leader: this.leader,
      commitIndex: this.#index,
      appliedIndex: this.store.appliedIndex,
      lastIndex: this.#index,
      snapshotIndex: 0,
      progress: {
        "1": { match: this.#index, next: this.#index + 1, state: "replicate" as const },
      },
    }));
  }

  health(): Promise<Health> {
    return this.#run(() =>
      this.leader === null ? { healthy: false, reason: "no leader" } : { healthy: true }
    );
  }

  metrics(): Promise<string> {
    return this.#run(() => `# TYPE raftkv_keys gauge\nraftkv_keys ${this.store.size}\n`);
  }
}
