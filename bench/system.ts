// What the harness needs from a 3-node cluster under test (raftkv or etcd), and small HTTP helpers.

/** One member of a cluster under test. */
export interface BenchNode {
  /** Position in the cluster, 0-based (node id - 1 for raftkv, member i for etcd). */
  index: number;
  clientUrl: string;
  pid: number;
  dataDir: string;
}

/** Raft state seen by one node. */
export interface NodeView {
  index: number;
  term: number;
  /** Index (0-based) of the node this node believes leads, or undefined. */
  leader: number | undefined;
  appliedIndex: number;
}

export interface SnapshotInfo {
  /** What was measured, in words, for the report. */
  method: string;
  seconds: number | undefined;
  bytes: number | undefined;
}

export interface BenchCluster {
  readonly system: "raftkv" | "etcd";
  /** wrk script in bench/wrk/. */
  readonly luaScript: string;
  readonly version: string;
  nodes(): BenchNode[];
  /** Every node's view; nodes that do not answer are left out. */
  views(): Promise<NodeView[]>;
  /** Waits (bounded) until all nodes are healthy and agree on a leader; returns its index. */
  waitForLeader(timeoutMs: number): Promise<number>;
  /** Number of keys with this prefix; undefined when the system cannot count cheaply. */
  countKeys(prefix: string): Promise<number | undefined>;
  /** Reads a key (serializable) from a node; returns the value's length or undefined if absent. */
  readLength(nodeIndex: number, key: string): Promise<number | undefined>;
  /** True while a node reports background work to come or under way (see bench/settle.ts). */
  pendingWork(): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * The base of a cluster slot's ports: slot i's are i·10000 + 2379.. (raftkv) and + 2479.. (etcd).
 * Slot 4, the scale run's re-added member, would then sit in Linux's ephemeral range
 * (32768-60999), where an outgoing connection may hold the port: etcd's member 4 once failed to
 * bind 42480. So it takes 27000.
 */
export function slotPortBase(slot: number): number {
  return slot === 4 ? 27_000 : slot * 10_000;
}

/** Fetch with a timeout; the body is read to completion. Only 127.0.0.1 URLs are used. */
export async function httpRequest(
  url: string,
  init: { method?: string; body?: string; timeoutMs?: number } = {},
): Promise<{ status: number; text: string }> {
  assertLocal(url);
  const res = await fetch(url, {
    method: init.method ?? "GET",
    signal: AbortSignal.timeout(init.timeoutMs ?? 5000),
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  return { status: res.status, text: await res.text() };
}

export async function httpJson(
  url: string,
  init: { method?: string; body?: string; timeoutMs?: number } = {},
): Promise<unknown> {
  const { status, text } = await httpRequest(url, init);
  if (status < 200 || status >= 300) {
    throw new Error(`${url}: HTTP ${status}: ${text.slice(0, 200)}`);
  }
  return JSON.parse(text);
}

export function assertLocal(url: string): void {
  const host = new URL(url).hostname;
  if (host !== "127.0.0.1") throw new RangeError(`Benchmark traffic must go to 127.0.0.1: ${url}`);
}

export function base64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}
