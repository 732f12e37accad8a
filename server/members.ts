/**
 * The cluster's members as the application sees them: raft knows only ids, the server also needs
 * each member's peer URL. The table changes only by applying committed conf changes (or a
 * snapshot), so every node holds the same one at the same applied index.
 */

export interface Member {
  id: number;
  peerURL: string;
  learner: boolean;
}

/** Carried in a ConfChange's `context`: who asked (to answer them) and the new member's URL. */
export interface ConfChangeContext {
  requestId?: string;
  peerURL?: string;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();
/** A peer URL is short; anything longer is garbage, not a member. */
const CONTEXT_BYTES_MAX = 4096;

export function encodeConfChangeContext(context: ConfChangeContext): Uint8Array {
  return textEncoder.encode(JSON.stringify(context));
}

/** Decodes a context written by `encodeConfChangeContext`; an empty or bad one decodes to `{}`. */
export function decodeConfChangeContext(bytes: Uint8Array): ConfChangeContext {
  if (bytes.length === 0 || bytes.length > CONTEXT_BYTES_MAX) return {};
  try {
    const value: unknown = JSON.parse(textDecoder.decode(bytes));
    if (typeof value !== "object" || value === null) return {};
    const { requestId, peerURL } = value as Record<string, unknown>;
    const context: ConfChangeContext = {};
    if (typeof requestId === "string") context.requestId = requestId;
    if (typeof peerURL === "string") context.peerURL = peerURL;
    return context;
  } catch {
    return {};
  }
}

export class Members {
  #members = new Map<number, Member>();
  /** Removed ids and their last URL: such a node is told it was removed when it calls in. */
  #removed = new Map<number, string>();

  constructor(members: Iterable<Member> = [], removed: Iterable<[number, string]> = []) {
    for (const member of members) this.#members.set(member.id, { ...member });
    for (const [id, url] of removed) this.#removed.set(id, url);
  }

  get(id: number): Member | undefined {
    return this.#members.get(id);
  }

  has(id: number): boolean {
    return this.#members.has(id);
  }

  isRemoved(id: number): boolean {
    return this.#removed.has(id);
  }

  removedURL(id: number): string | undefined {
    return this.#removed.get(id);
  }

  /** Sorted by id, so every node lists them alike. */
  list(): Member[] {
    return [...this.#members.values()].sort((a, b) => a.id - b.id).map((m) => ({ ...m }));
  }

  set(member: Member): void {
    this.#members.set(member.id, { ...member });
    this.#removed.delete(member.id);
  }

  remove(id: number): void {
    const member = this.#members.get(id);
    if (member === undefined) return;
    this.#members.delete(id);
    this.#removed.set(id, member.peerURL);
  }

  toJSON(): { members: Member[]; removed: [number, string][] } {
    return { members: this.list(), removed: [...this.#removed.entries()] };
  }

  static fromJSON(value: unknown): Members {
    const { members, removed } = value as { members?: unknown; removed?: unknown };
    if (!Array.isArray(members) || !Array.isArray(removed)) {
      throw new TypeError("Cannot restore members: not a member table");
    }
    const parsed = members.map((m: unknown) => {
      const { id, peerURL, learner } = m as Record<string, unknown>;
      if (
        !Number.isSafeInteger(id) || typeof peerURL !== "string" || typeof learner !== "boolean"
      ) {
        throw new TypeError("Cannot restore members: bad member record");
      }
      return { id: id as number, peerURL, learner };
    });
    const gone = removed.map((r: unknown) => {
      if (!Array.isArray(r) || !Number.isSafeInteger(r[0]) || typeof r[1] !== "string") {
        throw new TypeError("Cannot restore members: bad removed record");
      }
      return [r[0] as number, r[1] as string] as [number, string];
    });
    return new Members(parsed, gone);
  }
}
