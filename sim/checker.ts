/**
 * The safety invariants the simulator checks after every step, fed by what the nodes hand out in
 * their Readys. Each method throws an InvariantViolation naming what broke.
 *
 * - Election safety (§5.2): at most one node leads a term. A node claims term T when it reports
 *   itself leader at term T, or when it sends MsgApp/MsgHeartbeat/MsgSnap at term T (only leaders do).
 * - Log matching / state machine safety (§5.3, §5.4.3): all nodes that know index I committed hold
 *   the same entry (term, type, data) at I; entries are applied in index order and the state after
 *   applying I is the same everywhere (a hash chain over the applied entries), so applied sequences
 *   are prefixes of one another, snapshots included.
 * - Log matching (§5.3): persisted entries with the same index and term are the same entry.
 * - Leader completeness (§5.4): a node that becomes leader holds every entry known committed.
 * - Vote once per term (§5.2): the persisted vote never changes within a term.
 * - Conf changes applied at an index give the same ConfState everywhere.
 */
import type { ConfState, Entry } from "../raft/mod.ts";

export class InvariantViolation extends Error {
  override name = "InvariantViolation";
}

/** FNV-1a over the entry's data, mixed with its type. */
export function entryKey(e: Entry): number {
  let h = 0x811c9dc5 ^ e.type;
  const d = e.data;
  for (let i = 0; i < d.length; i++) {
    h = Math.imul(h ^ d[i]!, 0x01000193);
  }
  return h >>> 0;
}

/** The state hash after applying entry (term, key) at `index` on top of state `prev`. */
function chainHash(prev: number, e: Entry): number {
  const { index, term } = e;
  const key = entryKey(e);
  let h = Math.imul(prev ^ key, 0x9e3779b1);
  h = Math.imul(h ^ index, 0x85ebca6b);
  h = Math.imul(h ^ term, 0xc2b2ae35);
  return (h ^ (h >>> 15)) >>> 0;
}

function confKey(cs: ConfState): string {
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b).join(",");
  return `v=${sorted(cs.voters)} l=${sorted(cs.learners)} vo=${sorted(cs.votersOutgoing)} ` +
    `ln=${sorted(cs.learnersNext)} auto=${cs.autoLeave}`;
}

export class Checker {
  readonly #leaderOfTerm = new Map<number, number>();
  /** index -> term / key of the entry known committed there. */
  readonly #committedTerm: number[] = [];
  readonly #committedKey: number[] = [];
  /** index -> state hash after applying through index. */
  readonly #chain: number[] = [];
  readonly #confAt = new Map<number, string>();
  /** index -> (term -> key) of every entry any node persisted. */
  readonly #logged: Map<number, number>[] = [];
  /** The highest index any node reported applied. */
  maxApplied = 0;
  /** The highest index any node knows committed. */
  maxCommitted = 0;

  get terms(): number {
    return this.#leaderOfTerm.size;
  }

  leaderOf(term: number): number | undefined {
    return this.#leaderOfTerm.get(term);
  }

  /** Node `id` acts as leader of `term` (`how` says what showed it). */
  leader(id: number, options: { term: number; how: string }): void {
    const { term, how } = options;
    const known = this.#leaderOfTerm.get(term);
    if (known === undefined) this.#leaderOfTerm.set(term, id);
    else if (known !== id) {
      throw new InvariantViolation(
        `election safety (§5.2): nodes ${known} and ${id} both lead term ${term} (${id} ${how})`,
      );
    }
  }

  /**
   * Node `id` persists `e`. Log matching (§5.3): a leader creates one entry per index in its
   * term, so entries with the same index and term must be the same entry everywhere.
   */
  logged(e: Entry, id: number): void {
    const key = entryKey(e);
    let terms = this.#logged[e.index];
    if (terms === undefined) {
      terms = new Map();
      this.#logged[e.index] = terms;
    }
    const known = terms.get(e.term);
    if (known === undefined) terms.set(e.term, key);
    else if (known !== key) {
      throw new InvariantViolation(
        `log matching (§5.3): node ${id} persisted entry ${e.index} of term ${e.term} with key ` +
          `${key}, another node holds key ${known} there`,
      );
    }
  }

  /** Node `id` knows `e` committed (`how` says how it showed it). */
  committed(e: Entry, options: { id: number; how: string }): void {
    const { id, how } = options;
    const key = entryKey(e);
    const term = this.#committedTerm[e.index];
    if (term === undefined) {
      this.#committedTerm[e.index] = e.term;
      this.#committedKey[e.index] = key;
      if (e.index > this.maxCommitted) this.maxCommitted = e.index;
    } else if (term !== e.term || this.#committedKey[e.index] !== key) {
      throw new InvariantViolation(
        `state machine safety (§5.4.3): node ${id} ${how} entry ${e.index} at term ${e.term} ` +
          `(key ${key}) but the committed entry there has term ${term} ` +
          `(key ${this.#committedKey[e.index]})`,
      );
    }
  }

  /** The term of the committed entry at `index`, if a node reported one. */
  committedTermAt(index: number): number | undefined {
    return this.#committedTerm[index];
  }

  /** Node `id` applies `e` on top of its state (index, hash); returns the new hash. */
  applied(e: Entry, state: { id: number; index: number; hash: number }): number {
    const { id, index: prevIndex, hash: prevHash } = state;
    if (e.index !== prevIndex + 1) {
      throw new InvariantViolation(
        `node ${id} applied entry ${e.index} right after ${prevIndex} (applied out of order)`,
      );
    }
    this.committed(e, { id, how: "applied" });
    const hash = chainHash(prevHash, e);
    const known = this.#chain[e.index];
    if (known === undefined) this.#chain[e.index] = hash;
    else if (known !== hash) {
      throw new InvariantViolation(
        `applied sequences diverge: node ${id} reached a different state at index ${e.index}`,
      );
    }
    if (e.index > this.maxApplied) this.maxApplied = e.index;
    return hash;
  }

  /** Node `id` restores a state machine snapshot taken at `index` with state `hash`. */
  restored(id: number, state: { index: number; hash: number }): void {
    const { index, hash } = state;
    const known = this.#chain[index];
    if (index > 0 && known !== hash) {
      throw new InvariantViolation(
        `node ${id} restored a snapshot at ${index} whose state differs from the applied ` +
          `sequence (hash ${hash}, expected ${known})`,
      );
    }
  }

  /** Node `id` got `cs` from applying the conf change at `index`. */
  conf(id: number, applied: { index: number; cs: ConfState }): void {
    const { index, cs } = applied;
    const key = confKey(cs);
    const known = this.#confAt.get(index);
    if (known === undefined) this.#confAt.set(index, key);
    else if (known !== key) {
      throw new InvariantViolation(
        `node ${id} applied the conf change at ${index} as {${key}}, another node as {${known}}`,
      );
    }
  }
}
