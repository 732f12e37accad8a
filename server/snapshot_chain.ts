/**
 * A node's snapshots form chains: an image of the whole store, then change sets, each holding only
 * the keys written since the snapshot before it (kv/changes.ts). The state at a snapshot is its
 * chain's image with the change sets up to it replayed in order.
 *
 * Why: a snapshot is due every `--snapshot-count` applied entries. Writing the whole store each
 * time costs its full size (hundreds of MB at a million keys) every few seconds under load, and
 * that disk traffic competes with the WAL's fsyncs. A change set costs what was written since the
 * last snapshot. A new image is taken once the chain holds as many bytes the store no longer has
 * (overwritten or deleted since) as the store itself, or after `CHANGE_SETS_MAX` change sets once
 * the node is idle (twice as many if it never is), both a little sooner on most nodes so that they
 * do not all write an image at once: that bounds the disk space to twice the store, and the work
 * of a restart to that and the change sets' keys. A store that only grows is not rewritten whole
 * every time it doubles: those images were most of the snapshot traffic under a write load of new
 * keys, and the tail of its write latency.
 *
 * Each snapshot is one file of snap/ (named by index and term, CRC-checked), marked in the WAL
 * when complete; a change set names the snapshot it follows. A follower that needs a snapshot is
 * sent an image of the leader's store as it is then, never a chain (see `RaftServer`).
 */
import type { ConfState, Logger, SnapshotMetadata } from "../raft/mod.ts";
import { SnapshotFileError, type Snapshotter } from "../snap/mod.ts";
import { KvChangesCorruptError, KvSnapshotCorruptError, KvStore } from "../kv/mod.ts";
import type { WalSnapshotMarker } from "../wal/mod.ts";
import type { Members } from "./members.ts";
import {
  decodeSnapshotData,
  decodeSnapshotPrevious,
  releaseSnapshotBytes,
  SNAPSHOT_DATA_HEAD_BYTES,
  SnapshotDataError,
  type SnapshotLink,
} from "./snapshot_data.ts";

/** Change sets after one image before the next image is taken once the node is idle. */
export const CHANGE_SETS_MAX = 64;

/** When a node should take its next image (`SnapshotChain.imageNeed`). */
export type ImageNeed = "not yet" | "when idle" | "now";

/** One snapshot of a chain. */
export interface ChainLink extends SnapshotLink {
  /** Bytes of its data: the image, or the change set. */
  bytes: number;
  image: boolean;
}

/** The snapshots of one chain, image first. */
export class SnapshotChain {
  readonly links: readonly ChainLink[];

  constructor(links: readonly ChainLink[] = []) {
    if (links.length > 0 && !links[0]!.image) throw new Error("a chain starts with an image");
    if (links.slice(1).some((link) => link.image)) throw new Error("one image per chain");
    this.links = links;
  }

  get tip(): ChainLink | undefined {
    return this.links.at(-1);
  }

  /**
   * Whether the next snapshot should be a new image rather than a change set. `now` once the chain
   * holds as many bytes the store no longer has (keys overwritten or deleted since) as the store
   * itself, so a restart reads at most twice the store. After `CHANGE_SETS_MAX` change sets,
   * `when idle`: an image costs a second or more of CPU at a few hundred thousand keys, and writes
   * through a node taking one had p99 25-120 ms at 64 connections, so a node under load defers it
   * to a moment it is idle (`RaftServer`), for up to as many change sets again, then `now` (a
   * restart replays every change set, key by key: a million keys took 2.3-3.4 s that way against
   * 0.9-1.8 s from an image, one process on this machine). A quarter more was the limit while a
   * restart held a chain's change sets in memory (it now reads them one at a time): 9 to 14
   * change sets, about what the bench writes in one 10 s point, so an image put off in one point
   * could be forced in the next. A node's `stagger` (0 to 1, `idFraction` of its id) lowers the
   * limits, the change sets by up to a half and the bytes by up to a quarter, so that the nodes
   * write their images at different indexes rather than all at once.
   */
  imageNeed(storeBytes: number, stagger = 0): ImageNeed {
    if (!(stagger >= 0 && stagger < 1)) throw new RangeError(`stagger ${stagger} is not in [0, 1)`);
    const image = this.links[0];
    if (image === undefined) return "now";
    const changeSets = this.links.length - 1;
    const chainBytes = this.links.reduce((sum, link) => sum + link.bytes, 0);
    const changeSetsMax = CHANGE_SETS_MAX - Math.floor(stagger * CHANGE_SETS_MAX / 2);
    if (chainBytes >= (2 - stagger / 2) * storeBytes) return "now";
    if (changeSets >= 2 * changeSetsMax) return "now";
    return changeSets >= changeSetsMax ? "when idle" : "not yet";
  }

  /** The chain after `link` is added: a new chain for an image, this one grown for a change set. */
  then(link: ChainLink): SnapshotChain {
    if (link.image) return new SnapshotChain([link]);
    const tip = this.tip;
    if (tip === undefined || link.index <= tip.index) {
      throw new Error(`a change set at ${link.index} cannot follow ${tip?.index ?? "nothing"}`);
    }
    return new SnapshotChain([...this.links, link]);
  }
}

/** What `loadSnapshotChain` recovered. */
export interface LoadedChain {
  chain: SnapshotChain;
  /** The newest snapshot's metadata: the state of `store` is as of its index. */
  metadata: SnapshotMetadata;
  confState: ConfState;
  members: Members;
  store: KvStore;
}

/** Links read back from a tip: more than this means a loop or a damaged directory. */
const LINKS_READ_MAX = 4 * CHANGE_SETS_MAX;
/**
 * Chains are loaded while the node starts, before it serves: no one waits for the event loop, and
 * larger read slices (fewer yields and read calls) load hundreds of MB faster.
 */
const STARTUP_READ_SLICE_BYTES = 16 * 1024 * 1024;

/**
 * The newest snapshot the WAL has a marker for whose whole chain loads, restored into a new store;
 * undefined when there is none. A snapshot whose chain has a missing or damaged link is skipped
 * with a warning, like a damaged file.
 */
export async function loadSnapshotChain(
  snapshotter: Snapshotter,
  markers: readonly WalSnapshotMarker[],
  logger: Logger,
): Promise<LoadedChain | undefined> {
  const marked = new Set(markers.map((m) => `${m.term}/${m.index}`));
  for (const candidate of await snapshotter.list()) {
    if (!marked.has(`${candidate.term}/${candidate.index}`)) continue;
    try {
      return await loadChainAt(snapshotter, candidate);
    } catch (error) {
      const known = error instanceof SnapshotFileError || error instanceof SnapshotDataError ||
        error instanceof KvSnapshotCorruptError || error instanceof KvChangesCorruptError;
      if (!known) throw error;
      logger.warn(
        `Skipping snapshot at index ${candidate.index} term ${candidate.term}: ${error.message}`,
      );
    }
  }
  return undefined;
}

async function loadChainAt(snapshotter: Snapshotter, tip: SnapshotLink): Promise<LoadedChain> {
  // From the tip back to its image by each file's head, which names the snapshot it follows;
  // then forwards, each file read whole (CRC-checked) and applied, so that only one file's bytes
  // are in memory at a time, however long the chain.
  const links: SnapshotLink[] = [tip];
  for (;;) {
    if (links.length > LINKS_READ_MAX) {
      throw new SnapshotDataError(`its chain is longer than ${LINKS_READ_MAX} snapshots`);
    }
    const link = links.at(-1)!;
    const head = await snapshotter.readHead(link, SNAPSHOT_DATA_HEAD_BYTES);
    const previous = decodeSnapshotPrevious(head.data);
    if (previous === undefined) break;
    if (previous.index >= link.index) {
      throw new SnapshotDataError(
        `snapshot ${link.index} follows snapshot ${previous.index}, which is not older`,
      );
    }
    links.push(previous);
  }
  links.reverse();
  const store = new KvStore();
  const chain: ChainLink[] = [];
  let newest: { metadata: SnapshotMetadata; members: Members } | undefined;
  for (const [i, link] of links.entries()) {
    const snapshot = await snapshotter.read(link, { sliceBytes: STARTUP_READ_SLICE_BYTES });
    // The store copies what it keeps: the file's bytes are freed as soon as they are used.
    try {
      const data = decodeSnapshotData(snapshot.data);
      const expected = links[i - 1];
      if (data.previous?.index !== expected?.index || data.previous?.term !== expected?.term) {
        throw new SnapshotDataError(`snapshot ${link.index} changed while it was loaded`);
      }
      if (data.previous === undefined) store.restore(data.store);
      else store.applyChanges(data.store);
      chain.push({ ...link, bytes: data.store.length, image: data.previous === undefined });
      newest = { metadata: snapshot.metadata, members: data.members };
    } finally {
      releaseSnapshotBytes(snapshot.data);
    }
  }
  if (newest === undefined) throw new Error("Invariant violated: a chain holds its tip");
  return {
    chain: new SnapshotChain(chain),
    metadata: newest.metadata,
    confState: newest.metadata.confState,
    members: newest.members,
    store,
  };
}
