/**
 * Real raftkv processes on 127.0.0.1 for the server tests: each node is `deno run -A main.ts
 * start-server` in its own temporary data directory, on free ports, and can be killed with
 * SIGKILL, stopped with SIGTERM and restarted. Every wait is bounded.
 */
import { ok as assert } from "node:assert/strict";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

export interface NodeSpec {
  id: number;
  clientPort: number;
  peerPort: number;
  dataDir: string;
}

export interface ClusterOptions {
  nodes?: number;
  snapshotCount?: number;
  tickMs?: number;
  electionTicks?: number;
  /** Extra flags for every node. */
  flags?: string[];
  /** The program to run instead of main.ts (the bundle, say). */
  entry?: string;
}

/** Ports this process handed out already: a node's port is never handed out twice. */
const handedOut = new Set<number>();

/**
 * A port the OS reports free right now, below Linux's ephemeral range (32768-60999). A port from
 * that range, what port 0 gives, can be taken as the source port of another node's outgoing
 * connection before the node binds it: CI once saw a node fail with "Address already in use".
 */
export function freePort(): number {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (handedOut.has(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
    } catch (error) {
      if (error instanceof Deno.errors.AddrInUse) continue;
      throw error;
    }
    handedOut.add(port);
    return port;
  }
  throw new Error("No free port in 20000-31999 after 1000 tries");
}

export class TestNode {
  process: Deno.ChildProcess | undefined;
  #log: string[] = [];
  #exit: Promise<Deno.CommandStatus> | undefined;

  constructor(readonly spec: NodeSpec, readonly cluster: TestCluster) {}

  get id(): number {
    return this.spec.id;
  }

  get url(): string {
    return `http://127.0.0.1:${this.spec.clientPort}`;
  }

  get peerURL(): string {
    return `http://127.0.0.1:${this.spec.peerPort}`;
  }

  /** The node's stderr so far, for failure messages. */
  get log(): string {
    return this.#log.join("");
  }

  get running(): boolean {
    return this.process !== undefined;
  }

  start(extraFlags: string[] = []): void {
    assert(this.process === undefined, `node ${this.id} is already running`);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        this.cluster.entry,
        "start-server",
        "--id",
        String(this.id),
        "--peers",
        this.cluster.peersFlag(),
        "--client-port",
        String(this.spec.clientPort),
        "--peer-port",
        String(this.spec.peerPort),
        "--data-dir",
        this.spec.dataDir,
        ...this.cluster.flags,
        ...extraFlags,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.process = child;
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        this.#log.push(decoder.decode(chunk));
        if (this.#log.length > 20_000) this.#log.splice(0, 10_000);
      }
    };
    const pipes = Promise.all([collect(child.stdout), collect(child.stderr)]);
    this.#exit = child.status.then(async (status) => {
      await pipes;
      return status;
    });
  }

  /** Waits for the process to exit on its own (bounded) and returns its status. */
  async exited(timeoutMs = 15_000): Promise<Deno.CommandStatus> {
    assert(this.#exit !== undefined, `node ${this.id} was never started`);
    const status = await withTimeout(this.#exit, timeoutMs, `node ${this.id} to exit`);
    this.process = undefined;
    return status;
  }

  async kill(signal: Deno.Signal = "SIGKILL"): Promise<Deno.CommandStatus> {
    assert(this.process !== undefined, `node ${this.id} is not running`);
    try {
      this.process.kill(signal);
    } catch {
      // It exited already.
    }
    return await this.exited();
  }

  async fetch(path: string, init?: RequestInit): Promise<Response> {
    return await fetch(`${this.url}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
  }

  async json<T = Record<string, unknown>>(path: string, init?: RequestInit): Promise<T> {
    const response = await this.fetch(path, init);
    const text = await response.text();
    assert(
      response.ok,
      `${init?.method ?? "GET"} ${path} on node ${this.id}: ${response.status} ${text}`,
    );
    return JSON.parse(text) as T;
  }

  async status(): Promise<
    {
      role: string;
      leader: number | null;
      term: number;
      appliedIndex: number;
      commitIndex: number;
      snapshotIndex: number;
    }
  > {
    return await this.json("/status");
  }
}

export class TestCluster {
  readonly nodes: TestNode[] = [];
  readonly flags: string[];
  readonly root: string;
  readonly entry: string;

  private constructor(root: string, flags: string[], entry: string) {
    this.root = root;
    this.flags = flags;
    this.entry = entry;
  }

  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    const root = await Deno.makeTempDir({ prefix: "raftkv-test-" });
    const flags = [...options.flags ?? []];
    if (options.snapshotCount) flags.push("--snapshot-count", String(options.snapshotCount));
    if (options.tickMs) flags.push("--tick-ms", String(options.tickMs));
    if (options.electionTicks) flags.push("--election-ticks", String(options.electionTicks));
    const cluster = new TestCluster(root, flags, options.entry ?? MAIN);
    for (let id = 1; id <= (options.nodes ?? 3); id++) cluster.addSpec(id);
    for (const node of cluster.nodes) node.start();
    return cluster;
  }

  addSpec(id: number): TestNode {
    const node = new TestNode({
      id,
      clientPort: freePort(),
      peerPort: freePort(),
      dataDir: `${this.root}/node-${id}`,
    }, this);
    this.nodes.push(node);
    return node;
  }

  node(id: number): TestNode {
    const node = this.nodes.find((n) => n.id === id);
    assert(node, `no node ${id}`);
    return node;
  }

  peersFlag(): string {
    return this.nodes.map((node) => `${node.id}=${node.peerURL}`).join(",");
  }

  running(): TestNode[] {
    return this.nodes.filter((node) => node.running);
  }

  /** Waits until every running node reports the same leader; returns it. */
  async waitForLeader(timeoutMs = 15_000): Promise<TestNode> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const leaders = await Promise.all(
        this.running().map(async (node) => {
          try {
            return (await node.status()).leader;
          } catch {
            return null;
          }
        }),
      );
      const first = leaders[0];
      if (first && leaders.every((leader) => leader === first)) {
        const leader = this.nodes.find((node) => node.id === first);
        if (leader?.running) return leader;
      }
      await sleep(50);
    }
    throw new Error(`no leader within ${timeoutMs} ms\n${this.logs()}`);
  }

  /** Every node's log, for a failing assertion's message. */
  logs(): string {
    return this.nodes.map((node) => `--- node ${node.id} ---\n${node.log.slice(-4000)}`).join("\n");
  }

  async stop(): Promise<void> {
    await Promise.all(this.running().map((node) => node.kill("SIGKILL")));
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns a value other than undefined, for at most `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${lastError ?? ""}`);
}
