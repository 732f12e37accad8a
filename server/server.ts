/**
 * Starting and stopping a raftkv node: lock the data directory, recover (newest snapshot the WAL
 * knows, then the WAL after it), open the peer and client listeners, run the raft loop; on
 * SIGINT/SIGTERM stop accepting, finish the Ready in hand, close the files, exit 0.
 */
import { type Entry, type HardState, type Logger, MemoryStorage, Node } from "../raft/mod.ts";
import { acquireDataDirLock, type DataDirLock, Wal, type WalMetadata } from "../wal/mod.ts";
import { Snapshotter } from "../snap/mod.ts";
import { createApp, KvStore } from "../kv/mod.ts";
import { HttpTransport, type PeerStats } from "../transport/mod.ts";
import type { ServerConfig } from "./flags.ts";
import { createStderrLogger } from "./logger.ts";
import { startMallocTrim } from "./malloc_trim.ts";
import { CounterFamily, createServerMetrics, Gauge } from "./metrics.ts";
import { Members } from "./members.ts";
import { type LoadedChain, loadSnapshotChain, SnapshotChain } from "./snapshot_chain.ts";
import { RaftServer } from "./raft_server.ts";
import { RaftKvService } from "./kv_service.ts";
import { createPeerHandler, fetchClusterInfo } from "./peer_routes.ts";

/** How long a write or a linearizable read may wait before it is answered 504. */
const REQUEST_TIMEOUT_MS = 5000;

export interface RunningServer {
  raft: RaftServer;
  clientPort: number;
  peerPort: number;
  /** Resolves when this node has been removed from the cluster. */
  removed: Promise<void>;
  close(): Promise<void>;
}

/** Runs a node until SIGINT/SIGTERM or its removal; returns the process exit code. */
export async function runServer(config: ServerConfig): Promise<number> {
  const logger = createStderrLogger(`raftkv-${config.id}`);
  let server: RunningServer;
  try {
    server = await startServer(config, { logger });
  } catch (error) {
    logger.error((error as Error).message);
    return 1;
  }
  const stop = new Promise<string>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => resolve(signal));
    }
    server.removed.then(() => resolve("removal from the cluster"));
  });
  // Whole-process state, so only here and not in startServer, which tests embed.
  const trimmer = startMallocTrim();
  const reason = await stop;
  logger.info(`stopping (${reason})`);
  trimmer.stop();
  await server.close();
  logger.info("stopped");
  return 0;
}

export async function startServer(
  config: ServerConfig,
  options: { logger?: Logger } = {},
): Promise<RunningServer> {
  const logger = options.logger ?? createStderrLogger(`raftkv-${config.id}`);
  await Deno.mkdir(config.dataDir, { recursive: true });
  const lock = await acquireDataDirLock(config.dataDir);
  const closers: (() => Promise<void>)[] = [() => lock.release()];
  try {
    return await openNode(config, logger, lock, closers);
  } catch (error) {
    for (const close of closers.reverse()) await close().catch(() => {});
    throw error;
  }
}

async function openNode(
  config: ServerConfig,
  logger: Logger,
  _lock: DataDirLock,
  closers: (() => Promise<void>)[],
): Promise<RunningServer> {
  const metrics = createServerMetrics();
  const recovered = await recover(config, logger);
  closers.push(() => recovered.wal.close());

  const storage = new MemoryStorage();
  const loaded = recovered.snapshot;
  const members = loaded?.members ?? new Members();
  const store = loaded?.store ?? new KvStore();
  // Raft keeps only the snapshot's metadata: a follower that needs one is sent a fresh image.
  if (loaded) storage.applySnapshot({ metadata: loaded.metadata, data: new Uint8Array() });
  if (recovered.hardState) storage.setHardState(recovered.hardState);
  if (recovered.entries.length > 0) storage.append(recovered.entries);
  const snapshotIndex = loaded?.metadata.index ?? 0;

  const node = new Node({
    id: config.id,
    electionTicks: config.electionTicks,
    heartbeatTicks: config.heartbeatTicks,
    storage,
    applied: snapshotIndex,
    checkQuorum: true,
    preVote: true,
    readOnlyOption: "safe",
    random: Math.random,
    logger,
  });
  if (recovered.bootstrap) node.bootstrap([...config.peers.keys()].sort((a, b) => a - b));

  // Until the log says otherwise, reach peers at the URLs we were given.
  const bootstrapURLs = new Map([...recovered.knownURLs, ...config.peers]);
  const peerURLs = new Map(bootstrapURLs);
  for (const member of members.list()) peerURLs.set(member.id, member.peerURL);
  peerURLs.delete(config.id);

  // The transport's callbacks need the node, which needs the transport: assigned just below.
  // deno-lint-ignore prefer-const
  let raft: RaftServer | undefined;
  const transport = new HttpTransport({
    id: config.id,
    clusterId: recovered.metadata.clusterId,
    peers: peerURLs,
    onMessage: (message) => raft?.receive(message),
    onUnreachable: (id) => raft?.reportUnreachable(id),
    onSnapshotStatus: (id, status) => raft?.reportSnapshot(id, status),
    prepareSnapshot: (message) => {
      if (raft === undefined) throw new Error("Cannot send a snapshot before the node runs");
      return raft.prepareSnapshot(message);
    },
    logger,
  });
  closers.push(() => transport.close());

  let markRemoved = () => {};
  const removed = new Promise<void>((resolve) => markRemoved = resolve);
  raft = new RaftServer({
    id: config.id,
    clusterId: recovered.metadata.clusterId,
    node,
    storage,
    wal: recovered.wal,
    snapshotter: recovered.snapshotter,
    transport,
    store,
    members,
    bootstrapURLs,
    appliedIndex: snapshotIndex,
    snapshotIndex,
    snapshotChain: loaded?.chain ?? new SnapshotChain(),
    confState: loaded?.confState ??
      { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    snapshotCount: config.snapshotCount,
    tickMs: config.tickMs,
    electionTicks: config.electionTicks,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    logger,
    metrics,
    onRemoved: () => {
      // Let the answer to the DELETE and the last appends go out before stopping.
      setTimeout(markRemoved, config.tickMs * config.electionTicks);
    },
  });

  const peerServer = Deno.serve({
    hostname: config.host,
    port: config.peerPort,
    onListen: () => {},
  }, createPeerHandler({ raft, transport, logger }));
  closers.push(() => peerServer.shutdown());
  raft.start();
  closers.push(() => raft.stop());

  const service = new RaftKvService({
    raft,
    metrics,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    logger,
  });
  addGauges(metrics, raft, transport);
  const app = createApp(service, { valueBytesMax: config.valueBytesMax });
  const clientServer = Deno.serve({
    hostname: config.host,
    port: config.clientPort,
    onListen: () => {},
  }, async (request) => {
    const started = performance.now();
    const response = await app.fetch(request);
    metrics.httpRequests.inc({ method: request.method, status: String(response.status) });
    metrics.httpSeconds.observe((performance.now() - started) / 1000);
    return response;
  });
  logger.info(
    `node ${config.id} of cluster ${recovered.metadata.clusterId}: clients on http://${config.host}:${config.clientPort}, peers on http://${config.host}:${config.peerPort}, data in ${config.dataDir}`,
  );

  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      service.close();
      await clientServer.shutdown();
      for (const closeOne of closers.reverse()) {
        try {
          await closeOne();
        } catch (error) {
          logger.warn(`while stopping: ${(error as Error).message}`);
        }
      }
    })();
  return {
    raft,
    clientPort: config.clientPort,
    peerPort: config.peerPort,
    removed,
    close,
  };
}

function addGauges(
  metrics: ReturnType<typeof createServerMetrics>,
  raft: RaftServer,
  transport: HttpTransport,
): void {
  const { registry } = metrics;
  const perPeer = (pick: (peer: PeerStats) => number) => () =>
    transport.stats().peers.map((peer) => ({
      labels: { peer: String(peer.id) },
      value: pick(peer),
    }));
  registry.add(
    new CounterFamily(
      "raftkv_peer_messages_sent_total",
      "Raft messages sent, per peer.",
      perPeer((p) => p.messagesSent),
    ),
  );
  registry.add(
    new CounterFamily(
      "raftkv_peer_batches_sent_total",
      "Batches of raft messages sent (one stream frame or POST each), per peer.",
      perPeer((p) => p.batchesSent),
    ),
  );
  registry.add(
    new CounterFamily(
      "raftkv_peer_messages_received_total",
      "Raft messages received, per peer.",
      perPeer((p) => p.messagesReceived),
    ),
  );
  registry.add(
    new CounterFamily(
      "raftkv_peer_messages_dropped_total",
      "Raft messages dropped (queue full, peer down).",
      perPeer((p) => p.messagesDropped),
    ),
  );
  registry.add(
    new CounterFamily(
      "raftkv_peer_send_failures_total",
      "Failed batch requests, per peer.",
      perPeer((p) => p.sendFailures),
    ),
  );
  registry.add(new Gauge("raftkv_term", "The current raft term.", () => raft.term));
  registry.add(new Gauge("raftkv_is_leader", "1 on the leader.", () => raft.role === 2 ? 1 : 0));
  registry.add(
    new Gauge("raftkv_commit_index", "Highest committed index.", () => raft.commitIndex),
  );
  registry.add(
    new Gauge("raftkv_applied_index", "Highest applied index.", () => raft.appliedIndex),
  );
  registry.add(new Gauge("raftkv_keys", "Keys in the store.", () => raft.store.size));
  registry.add(
    new Gauge(
      "raftkv_snapshot_in_progress",
      "1 from the start of a snapshot until its file is saved.",
      () => raft.snapshotInProgress ? 1 : 0,
    ),
  );
  registry.add(
    new Gauge(
      "raftkv_image_due",
      "1 while the snapshot chain calls for an image this node puts off until idle, until it is saved.",
      () => raft.imageDue ? 1 : 0,
    ),
  );
  // Read once per scrape: Deno.memoryUsage() reads /proc and the V8 heap statistics.
  let memory = Deno.memoryUsage();
  const memoryGauge = (name: string, help: string, read: (m: Deno.MemoryUsage) => number) =>
    registry.add(new Gauge(name, help, () => read(memory)));
  registry.add(
    new Gauge("process_resident_memory_bytes", "Resident memory size in bytes.", () => {
      memory = Deno.memoryUsage();
      return memory.rss;
    }),
  );
  memoryGauge("deno_heap_used_bytes", "V8 heap in use.", (m) => m.heapUsed);
  memoryGauge("deno_heap_total_bytes", "V8 heap reserved.", (m) => m.heapTotal);
  memoryGauge(
    "deno_external_memory_bytes",
    "Memory outside the V8 heap held by JS objects (buffers).",
    (m) => m.external,
  );
}

interface Recovered {
  wal: Wal;
  snapshotter: Snapshotter;
  metadata: WalMetadata;
  snapshot: LoadedChain | undefined;
  hardState: HardState | undefined;
  entries: Entry[];
  /** A new cluster: raft must be bootstrapped with the --peers membership. */
  bootstrap: boolean;
  /** Peer URLs learned from the cluster while joining. */
  knownURLs: Map<number, string>;
}

async function recover(config: ServerConfig, logger: Logger): Promise<Recovered> {
  const walDir = `${config.dataDir}/wal`;
  // The node keeps the snapshot chains it needs itself (RaftServer): no pruning by count.
  const snapshotter = new Snapshotter(`${config.dataDir}/snap`, { logger, keep: Infinity });
  if (await Wal.exists(walDir)) {
    // The newest markers are in the newest segments; all of them are read only if those fail.
    let snapshot = await loadSnapshotChain(
      snapshotter,
      await Wal.readSnapshotMarkers(walDir, { segmentsMax: 2 }),
      logger,
    );
    snapshot ??= await loadSnapshotChain(
      snapshotter,
      await Wal.readSnapshotMarkers(walDir),
      logger,
    );
    const marker = snapshot
      ? { index: snapshot.metadata.index, term: snapshot.metadata.term }
      : undefined;
    const opened = await Wal.open(walDir, marker ? { snapshot: marker, logger } : { logger });
    if (opened.metadata.nodeId !== config.id) {
      await opened.wal.close();
      throw new Error(
        `Cannot start node ${config.id}: ${config.dataDir} belongs to node ${opened.metadata.nodeId}`,
      );
    }
    logger.info(
      `recovered from ${config.dataDir}: snapshot at ${marker?.index ?? 0} (${
        snapshot?.chain.links.length ?? 0
      } file(s): an image and change sets), ${opened.entries.length} WAL entries after it`,
    );
    // A founding member that crashed before its first Ready reached the disk starts over.
    const empty = snapshot === undefined && opened.entries.length === 0 &&
      opened.hardState.term === 0 && opened.hardState.commit === 0;
    return {
      wal: opened.wal,
      snapshotter,
      metadata: opened.metadata,
      snapshot,
      hardState: opened.hardState,
      entries: opened.entries,
      bootstrap: empty && !config.join,
      knownURLs: new Map(),
    };
  }
  let clusterId: string;
  const knownURLs = new Map<number, string>();
  if (config.join) {
    const info = await fetchClusterInfo(config, logger);
    if (!info.members.some((member) => member.id === config.id)) {
      throw new Error(
        `Cannot join: node ${config.id} is not a member of cluster ${info.clusterId}; add it first with POST /cluster/members`,
      );
    }
    clusterId = info.clusterId;
    for (const member of info.members) knownURLs.set(member.id, member.peerURL);
  } else {
    clusterId = await newClusterId(config.peers);
  }
  const metadata = { nodeId: config.id, clusterId };
  const wal = await Wal.create(walDir, { metadata, logger });
  logger.info(
    config.join
      ? `joining cluster ${clusterId} as a new member`
      : `new cluster ${clusterId} of ${config.peers.size} members`,
  );
  return {
    wal,
    snapshotter,
    metadata,
    snapshot: undefined,
    hardState: undefined,
    entries: [],
    bootstrap: !config.join,
    knownURLs,
  };
}

/** Same peers, same id: every founding member computes it alone (like etcd's cluster id). */
async function newClusterId(peers: Map<number, string>): Promise<string> {
  const text = [...peers.entries()].sort(([a], [b]) => a - b).map(([id, url]) => `${id}=${url}`)
    .join(",");
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  return [...digest.subarray(0, 8)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
