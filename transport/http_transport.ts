/**
 * Raft messages between peers over HTTP/1.1, in the design of etcd's rafthttp: per peer a message
 * stream (`StreamSender`: one long-lived WebSocket) or, with `stream: false`, a pipeline of
 * batched POSTs (`PeerSender`), and a snapshot sender (`SnapshotSender`); and one `handler` that
 * the server mounts on its peer port for every route:
 *
 *   GET  /raft/stream     WebSocket upgrade -> 101; then each binary WebSocket message is one
 *                         batch (codec.ts) from the connecting peer, nothing is ever sent back
 *   POST /raft/messages   body: a batch (codec.ts), at most 64 MiB   -> 204
 *   POST /raft/snapshot   body: one MsgSnap, at most 1 GiB            -> 204 once raft has it
 *
 * Every request (the upgrade request too) carries X-Raftkv-Cluster-Id, X-Raftkv-From and
 * X-Raftkv-To. A request of another cluster gets 412, one meant for another node id 412, malformed
 * bytes 400, an oversized body 413; a stream is checked before it is upgraded. On an open stream,
 * a message that does not decode or is misaddressed closes the socket with 1008 (policy
 * violation); the sender reports the peer unreachable and reconnects after its backoff. A newer
 * stream from the same peer replaces the older one (closed with 4000), so a peer has at most one.
 *
 * Callbacks (`onUnreachable`, `onSnapshotStatus`) are never called from inside `send()`: they run
 * in a microtask, so the caller may send from within its own Ready handling. Nothing is called
 * after `close()` or, for a peer, after `removePeer()`. After `close()`, `send`, `addPeer`,
 * `updatePeer` and `removePeer` do nothing, so a late membership change cannot crash the caller.
 */

import { type Logger, silentLogger } from "../raft/logger.ts";
import { type Message, MessageType, SnapshotStatus } from "../raft/types.ts";
import { BATCH_MESSAGES_MAX, decodeBatch, decodeMessage, MessageDecodeError } from "./codec.ts";
import { BodyTooLargeError, readBodyLimited } from "./body.ts";
import {
  type MessageSender,
  PeerSender,
  type PeerSenderLimits,
  type SenderContext,
} from "./peer_sender.ts";
import { SnapshotSender } from "./snapshot_sender.ts";
import { settleWithin, StreamSender } from "./stream_sender.ts";
import {
  HEADER_CLUSTER_ID,
  HEADER_FROM,
  HEADER_SNAPSHOT_BYTES,
  HEADER_TO,
  MESSAGES_PATH,
  SNAPSHOT_PATH,
  STREAM_CLOSE_GOING_AWAY,
  STREAM_CLOSE_POLICY_VIOLATION,
  STREAM_CLOSE_REPLACED,
  STREAM_PATH,
} from "./protocol.ts";

export interface HttpTransportOptions {
  /** This node's id. */
  id: number;
  clusterId: string;
  /** Peer id -> base URL (`http://host:port`) of its peer listener; our own id is ignored. */
  peers: Map<number, string>;
  /** Each received message, `to` equal to our id. Synchronous; exceptions are logged. */
  onMessage(m: Message): void;
  onUnreachable(id: number): void;
  onSnapshotStatus(id: number, status: SnapshotStatus): void;
  /**
   * Gives a MsgSnap its data just before it is sent (default: sent as raft made it). raftkv's raft
   * storage keeps snapshot metadata only; this builds an image of the store as of now. A rejection
   * fails the snapshot like a failed send. The returned message's data belongs to the transport,
   * which frees it once sent.
   */
  prepareSnapshot?(m: Message): Promise<Message>;
  logger?: Logger;
  /** Messages queued per peer before new ones are dropped (default 4096). */
  queueMessagesMax?: number;
  /** Encoded bytes queued per peer before new messages are dropped (default 64 MiB). */
  queueBytesMax?: number;
  /** Target bytes of one batch; a single larger message goes alone (default 4 MiB). */
  batchBytesMax?: number;
  /**
   * Send messages on one long-lived WebSocket per peer (default true); false sends them as
   * pipelined POSTs of batches. Either way the receiver serves both.
   */
  stream?: boolean;
  /** Batches in flight per peer on the POST pipeline (default 1, which keeps them in order). */
  inflightBatchesMax?: number;
  /** Per batch request including the response, or for a stream to open (default 5000). */
  requestTimeoutMs?: number;
  /** Per snapshot request (default 10 minutes). */
  snapshotTimeoutMs?: number;
  /**
   * Backoff after a failed batch or stream, doubling from min to max (defaults 50 and 250). The
   * cap is how long a restarted peer may wait to hear from this node: a leader that backs off for
   * seconds leaves it without heartbeats, and unhealthy, that long (etcd retries every 100 ms).
   */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Largest snapshot request accepted (default 1 GiB). */
  snapshotBodyBytesMax?: number;
  /** Snapshots received at once; more get 503 (default 2). */
  snapshotsReceivingMax?: number;
}

/** Per peer counters; plain numbers for the metrics endpoint. */
export interface PeerStats {
  id: number;
  url: string;
  messagesSent: number;
  bytesSent: number;
  batchesSent: number;
  messagesDropped: number;
  sendFailures: number;
  messagesReceived: number;
  bytesReceived: number;
  snapshotsSent: number;
  snapshotBytesSent: number;
  snapshotFailures: number;
  queuedMessages: number;
  /** 0 while the peer is reachable, else the current backoff in ms. */
  backoffMs: number;
}

export interface TransportStats {
  peers: PeerStats[];
  /** All received, including from nodes that are not (or no longer) peers. */
  messagesReceived: number;
  bytesReceived: number;
  snapshotsReceived: number;
  /** Requests answered with a 4xx or 5xx status, and streams closed for bad messages. */
  requestsRejected: number;
  /** Streams from peers open now. */
  streamsReceiving: number;
  /** Messages for ids that are not peers. */
  messagesDroppedUnknownPeer: number;
}

/** Body limit of the messages route: a maximal message plus batch framing. */
const MESSAGES_BODY_BYTES_MAX = 64 * 1024 * 1024 + 1024;
const PEERS_MAX = 1024;
/** Rejections of the same kind from the same sender are logged at most this often. */
const REJECT_LOG_INTERVAL_MS = 10_000;
const REJECT_LOG_KEYS_MAX = 256;
/** How long close() waits for the close handshake of each stream from a peer. */
const STREAM_CLOSE_WAIT_MS = 2000;
/** The longest close reason RFC 6455 allows is 123 bytes; ours are ASCII. */
const CLOSE_REASON_CHARS_MAX = 120;

/** A stream a peer opened to us. */
interface InboundStream {
  from: number;
  socket: WebSocket;
  closed: Promise<void>;
}

interface Peer {
  sender: MessageSender;
  snapshots: SnapshotSender;
  messagesReceived: number;
  bytesReceived: number;
}

class RequestRejected extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export class HttpTransport {
  readonly id: number;
  readonly clusterId: string;
  #options: HttpTransportOptions;
  #logger: Logger;
  #limits: PeerSenderLimits;
  #snapshotTimeoutMs: number;
  #prepareSnapshot: (m: Message) => Promise<Message>;
  #snapshotBodyBytesMax: number;
  #snapshotsReceivingMax: number;
  #snapshotsReceiving = 0;
  #client: Deno.HttpClient;
  #ctx: SenderContext;
  #peers = new Map<number, Peer>();
  /** Stops of removed peers still settling; close() waits for them. */
  #stopping = new Set<Promise<void>>();
  #closed: Promise<void> | undefined;
  #rejectLoggedAt = new Map<string, number>();
  #stream: boolean;
  /** Streams from peers by sender id: at most one each, a newer one replaces the older. */
  #inbound = new Map<number, InboundStream>();
  #totals = {
    messagesReceived: 0,
    bytesReceived: 0,
    snapshotsReceived: 0,
    requestsRejected: 0,
    messagesDroppedUnknownPeer: 0,
  };

  constructor(options: HttpTransportOptions) {
    if (!(Number.isSafeInteger(options.id) && options.id > 0)) {
      throw new RangeError(`Transport id must be a positive integer, got ${options.id}`);
    }
    if (!/^[\x21-\x7e]{1,256}$/.test(options.clusterId)) {
      throw new TypeError(
        `Cluster id must be 1 to 256 printable ASCII characters, got ${
          JSON.stringify(options.clusterId)
        }`,
      );
    }
    this.id = options.id;
    this.clusterId = options.clusterId;
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#limits = {
      queueMessagesMax: positive("queueMessagesMax", options.queueMessagesMax ?? 4096),
      queueBytesMax: positive("queueBytesMax", options.queueBytesMax ?? 64 * 1024 * 1024),
      batchBytesMax: positive("batchBytesMax", options.batchBytesMax ?? 4 * 1024 * 1024),
      inflightBatchesMax: positive("inflightBatchesMax", options.inflightBatchesMax ?? 1),
      requestTimeoutMs: positive("requestTimeoutMs", options.requestTimeoutMs ?? 5000),
      backoffMinMs: positive("backoffMinMs", options.backoffMinMs ?? 50),
      backoffMaxMs: positive("backoffMaxMs", options.backoffMaxMs ?? 250),
    };
    if (this.#limits.queueMessagesMax > BATCH_MESSAGES_MAX) {
      throw new RangeError(`queueMessagesMax must be at most ${BATCH_MESSAGES_MAX}`);
    }
    this.#stream = options.stream ?? true;
    this.#snapshotTimeoutMs = positive("snapshotTimeoutMs", options.snapshotTimeoutMs ?? 600_000);
    const prepare = options.prepareSnapshot?.bind(options);
    this.#prepareSnapshot = prepare ?? ((m) => Promise.resolve(m));
    this.#snapshotBodyBytesMax = positive(
      "snapshotBodyBytesMax",
      options.snapshotBodyBytesMax ?? 1024 * 1024 * 1024,
    );
    this.#snapshotsReceivingMax = positive(
      "snapshotsReceivingMax",
      options.snapshotsReceivingMax ?? 2,
    );
    // Our own client, so that close() also closes every pooled connection.
    this.#client = Deno.createHttpClient({});
    this.#ctx = {
      localId: this.id,
      clusterId: this.clusterId,
      client: this.#client,
      logger: this.#logger,
      reportUnreachable: (id) =>
        this.#defer(() => {
          if (this.#peers.has(id)) this.#options.onUnreachable(id);
        }),
    };
    for (const [id, url] of options.peers) this.addPeer(id, url);
  }

  /** Adds a peer, or points an existing one at `url`. Our own id is ignored. */
  addPeer(id: number, url: string): void {
    if (this.#closed !== undefined) return;
    if (!(Number.isSafeInteger(id) && id > 0)) {
      throw new RangeError(`Peer id must be a positive integer, got ${id}`);
    }
    if (id === this.id) return;
    const base = normalizeUrl(url);
    const existing = this.#peers.get(id);
    if (existing !== undefined) {
      if (existing.sender.url !== base) this.updatePeer(id, base);
      return;
    }
    if (this.#peers.size >= PEERS_MAX) {
      throw new RangeError(`Cannot add peer ${id}: at most ${PEERS_MAX} peers`);
    }
    const sender = this.#stream
      ? new StreamSender(id, base, this.#ctx, this.#limits)
      : new PeerSender(id, base, this.#ctx, this.#limits);
    const snapshots = new SnapshotSender({
      id,
      url: () => sender.url,
      ctx: this.#ctx,
      timeoutMs: this.#snapshotTimeoutMs,
      prepare: this.#prepareSnapshot,
      reportStatus: (peer, status) => this.#defer(() => this.#reportSnapshot(peer, status)),
    });
    this.#peers.set(id, { sender, snapshots, messagesReceived: 0, bytesReceived: 0 });
    this.#logger.info(`Added raft peer ${id} at ${base}`);
  }

  /**
   * Points peer `id` at a new URL; requests already in flight finish against the old one, a stream
   * to the old one is closed.
   */
  updatePeer(id: number, url: string): void {
    if (this.#closed !== undefined) return;
    const peer = this.#peers.get(id);
    if (peer === undefined) throw new RangeError(`Cannot update peer ${id}: no such peer`);
    const base = normalizeUrl(url);
    this.#logger.info(`Raft peer ${id} moves from ${peer.sender.url} to ${base}`);
    peer.sender.url = base;
  }

  /** Forgets peer `id`: drops its queue and aborts its requests; no callback for it follows. */
  removePeer(id: number): void {
    const peer = this.#peers.get(id);
    if (peer === undefined) return;
    this.#peers.delete(id);
    const p = Promise.all([peer.sender.stop(), peer.snapshots.stop()]).then(() => {});
    this.#stopping.add(p);
    p.finally(() => this.#stopping.delete(p));
    this.#logger.info(`Removed raft peer ${id}`);
  }

  hasPeer(id: number): boolean {
    return this.#peers.has(id);
  }

  /**
   * Queues messages for their peers and returns at once. A message that cannot be queued (queue
   * full, peer down) is dropped and the peer reported unreachable; raft resends from its log.
   */
  send(messages: Message[]): void {
    if (this.#closed !== undefined) return;
    let touched: MessageSender[] | undefined;
    let unreachable: Set<number> | undefined;
    for (const m of messages) {
      const peer = this.#peers.get(m.to);
      if (peer === undefined) {
        this.#totals.messagesDroppedUnknownPeer++;
        this.#logger.debug(`Dropped raft message type ${m.type} to unknown peer ${m.to}`);
        continue;
      }
      if (m.type === MessageType.MsgSnap) {
        peer.snapshots.send(m);
      } else if (peer.sender.enqueue(m)) {
        (touched ??= []).push(peer.sender);
      } else {
        (unreachable ??= new Set()).add(m.to);
      }
    }
    // One pump per peer after the whole group was queued, so a Ready goes out as one batch.
    if (touched !== undefined) { for (const s of new Set(touched)) s.pump(); }
    if (unreachable !== undefined) {
      for (const id of unreachable) this.#ctx.reportUnreachable(id);
    }
  }

  /** Serves GET /raft/stream, POST /raft/messages and POST /raft/snapshot on the peer listener. */
  async handler(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    if (path === STREAM_PATH) return this.#acceptStream(req);
    const snapshot = path === SNAPSHOT_PATH;
    if (!snapshot && path !== MESSAGES_PATH) {
      return this.#reject(req, new RequestRejected(404, "not_found", `No route ${path}`));
    }
    if (req.method !== "POST") {
      return this.#reject(
        req,
        new RequestRejected(405, "method_not_allowed", `${path} accepts only POST`),
        { allow: "POST" },
      );
    }
    try {
      return snapshot ? await this.#receiveSnapshot(req) : await this.#receiveMessages(req);
    } catch (e) {
      if (e instanceof RequestRejected) return this.#reject(req, e);
      if (e instanceof BodyTooLargeError) {
        return this.#reject(req, new RequestRejected(413, "payload_too_large", e.message));
      }
      if (e instanceof MessageDecodeError) {
        return this.#reject(req, new RequestRejected(400, "bad_message", e.message));
      }
      // Reading the body failed: the sender went away or the connection broke.
      return this.#reject(req, new RequestRejected(400, "bad_body", `Cannot read body: ${e}`));
    }
  }

  /** Checks a stream's upgrade request, then upgrades it; every refusal comes before the upgrade. */
  #acceptStream(req: Request): Response {
    if (req.method !== "GET") {
      return this.#reject(
        req,
        new RequestRejected(405, "method_not_allowed", `${STREAM_PATH} accepts only GET`),
        { allow: "GET" },
      );
    }
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return this.#reject(
        req,
        new RequestRejected(426, "upgrade_required", `${STREAM_PATH} needs a WebSocket upgrade`),
        { upgrade: "websocket" },
      );
    }
    let from: number;
    let upgrade: Deno.WebSocketUpgrade;
    try {
      from = this.#checkHeaders(req);
      if (!this.#inbound.has(from) && this.#inbound.size >= PEERS_MAX) {
        throw new RequestRejected(503, "too_many_streams", `Already ${PEERS_MAX} streams open`);
      }
      upgrade = Deno.upgradeWebSocket(req);
    } catch (e) {
      if (e instanceof RequestRejected) return this.#reject(req, e);
      return this.#reject(req, new RequestRejected(400, "bad_upgrade", `Cannot upgrade: ${e}`));
    }
    const { socket, response } = upgrade;
    socket.binaryType = "arraybuffer";
    const previous = this.#inbound.get(from);
    let closed!: () => void;
    const stream: InboundStream = {
      from,
      socket,
      closed: new Promise<void>((resolve) => closed = resolve),
    };
    this.#inbound.set(from, stream);
    if (previous !== undefined) {
      this.#logger.info(`A new raft stream from node ${from} replaces the open one`);
      closeQuietly(previous.socket, STREAM_CLOSE_REPLACED, "replaced by a newer stream");
    }
    socket.onmessage = (e) => this.#receiveFrame(stream, e.data);
    socket.onerror = () => {}; // the close event follows
    socket.onclose = () => {
      if (this.#inbound.get(from) === stream) this.#inbound.delete(from);
      closed();
    };
    return response;
  }

  /** One WebSocket message of a stream: one batch from the stream's peer. */
  #receiveFrame(stream: InboundStream, data: unknown): void {
    if (this.#closed !== undefined || stream.socket.readyState !== WebSocket.OPEN) return;
    try {
      if (!(data instanceof ArrayBuffer)) {
        throw new RequestRejected(400, "bad_message", "Expected a binary message, got text");
      }
      const body = new Uint8Array(data);
      const messages = decodeBatch(body);
      this.#checkAddressed(messages, stream.from);
      this.#delivered(stream.from, messages, body.length);
    } catch (e) {
      if (!(e instanceof RequestRejected || e instanceof MessageDecodeError)) throw e;
      this.#totals.requestsRejected++;
      this.#logRejected(
        `stream/${stream.from}`,
        `Closed the raft stream from node ${stream.from}: ${e.message}`,
        false,
      );
      closeQuietly(
        stream.socket,
        STREAM_CLOSE_POLICY_VIOLATION,
        e.message.slice(0, CLOSE_REASON_CHARS_MAX),
      );
    }
  }

  async #receiveMessages(req: Request): Promise<Response> {
    const from = this.#checkHeaders(req);
    const body = await readBodyLimited(req, { limitBytes: MESSAGES_BODY_BYTES_MAX });
    const messages = decodeBatch(body);
    this.#checkAddressed(messages, from);
    this.#delivered(from, messages, body.length);
    return new Response(null, { status: 204 });
  }

  async #receiveSnapshot(req: Request): Promise<Response> {
    const from = this.#checkHeaders(req);
    if (this.#snapshotsReceiving >= this.#snapshotsReceivingMax) {
      await req.body?.cancel();
      throw new RequestRejected(
        503,
        "too_many_snapshots",
        `Already receiving ${this.#snapshotsReceiving} snapshots`,
      );
    }
    this.#snapshotsReceiving++;
    try {
      const body = await readBodyLimited(req, {
        limitBytes: this.#snapshotBodyBytesMax,
        lengthHeader: HEADER_SNAPSHOT_BYTES,
      });
      const m = decodeMessage(body, { messageBytesMax: this.#snapshotBodyBytesMax });
      if (m.type !== MessageType.MsgSnap || m.snapshot === undefined) {
        throw new RequestRejected(400, "bad_message", `Expected a MsgSnap, got type ${m.type}`);
      }
      this.#checkAddressed([m], from);
      this.#totals.snapshotsReceived++;
      this.#logger.info(
        `Received snapshot at index ${m.snapshot.metadata.index} (${body.length} bytes) ` +
          `from node ${from}`,
      );
      this.#delivered(from, [m], body.length);
      return new Response(null, { status: 204 });
    } finally {
      this.#snapshotsReceiving--;
    }
  }

  /** Checks the cluster, the addressee and the sender of a request; returns the sender's id. */
  #checkHeaders(req: Request): number {
    if (this.#closed !== undefined) {
      throw new RequestRejected(503, "closed", `Node ${this.id} is shutting down`);
    }
    const cluster = req.headers.get(HEADER_CLUSTER_ID);
    if (cluster !== this.clusterId) {
      throw new RequestRejected(
        412,
        "cluster_id_mismatch",
        `Cluster id ${JSON.stringify(cluster)} does not match this node's cluster id ` +
          `${JSON.stringify(this.clusterId)}`,
      );
    }
    const to = Number(req.headers.get(HEADER_TO));
    if (to !== this.id) {
      throw new RequestRejected(
        412,
        "node_id_mismatch",
        `Request for node ${req.headers.get(HEADER_TO)} reached node ${this.id}`,
      );
    }
    const from = Number(req.headers.get(HEADER_FROM));
    if (!(Number.isSafeInteger(from) && from > 0)) {
      throw new RequestRejected(
        400,
        "bad_header",
        `${HEADER_FROM} must be a positive integer, got ${req.headers.get(HEADER_FROM)}`,
      );
    }
    return from;
  }

  #checkAddressed(messages: Message[], from: number): void {
    for (const m of messages) {
      if (m.to !== this.id || m.from !== from) {
        throw new RequestRejected(
          400,
          "bad_message",
          `Message from ${m.from} to ${m.to} in a request from node ${from} to node ${this.id}`,
        );
      }
    }
  }

  #delivered(from: number, messages: Message[], bytes: number): void {
    this.#totals.messagesReceived += messages.length;
    this.#totals.bytesReceived += bytes;
    const peer = this.#peers.get(from);
    if (peer !== undefined) {
      peer.messagesReceived += messages.length;
      peer.bytesReceived += bytes;
    }
    for (const m of messages) {
      try {
        this.#options.onMessage(m);
      } catch (e) {
        this.#logger.error(`onMessage failed for message type ${m.type} from node ${from}: ${e}`);
      }
    }
  }

  #reject(req: Request, e: RequestRejected, headers: Record<string, string> = {}): Response {
    this.#totals.requestsRejected++;
    const from = req.headers.get(HEADER_FROM) ?? "?";
    this.#logRejected(
      `${e.code}/${from}`,
      `Refused raft request ${req.method} ${new URL(req.url).pathname} from node ${from}: ` +
        `${e.status} ${e.message}`,
      e.status >= 500,
    );
    // Unread request bytes are left to the HTTP server, which discards them.
    return Response.json({ error: { code: e.code, message: e.message } }, {
      status: e.status,
      headers,
    });
  }

  /** Logs a refusal, at most once per REJECT_LOG_INTERVAL_MS for each `key`. */
  #logRejected(key: string, line: string, info: boolean): void {
    const now = Date.now();
    const last = this.#rejectLoggedAt.get(key);
    if (last !== undefined && now - last < REJECT_LOG_INTERVAL_MS) return;
    if (this.#rejectLoggedAt.size >= REJECT_LOG_KEYS_MAX) this.#rejectLoggedAt.clear();
    this.#rejectLoggedAt.set(key, now);
    (info ? this.#logger.info : this.#logger.warn).call(this.#logger, line);
  }

  #reportSnapshot(id: number, status: SnapshotStatus): void {
    if (!this.#peers.has(id)) return;
    this.#options.onSnapshotStatus(id, status);
  }

  /** Runs a callback outside the current call stack; never after close(). */
  #defer(f: () => void): void {
    queueMicrotask(() => {
      if (this.#closed !== undefined) return;
      try {
        f();
      } catch (e) {
        this.#logger.error(`Transport callback failed: ${e}`);
      }
    });
  }

  stats(): TransportStats {
    const peers: PeerStats[] = [];
    for (const [id, p] of this.#peers) {
      peers.push({
        id,
        url: p.sender.url,
        ...p.sender.counters,
        messagesReceived: p.messagesReceived,
        bytesReceived: p.bytesReceived,
        ...p.snapshots.counters,
        queuedMessages: p.sender.queuedMessages,
        backoffMs: p.sender.backoffMs,
      });
    }
    return { peers, ...this.#totals, streamsReceiving: this.#inbound.size };
  }

  /**
   * Stops every sender, aborts requests in flight, closes every stream (ours and the peers' to us,
   * waiting a bounded time for their close handshakes) and closes connections; idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    const stops: Promise<void>[] = [...this.#stopping];
    for (const p of this.#peers.values()) stops.push(p.sender.stop(), p.snapshots.stop());
    this.#peers.clear();
    const inbound = [...this.#inbound.values()];
    this.#inbound.clear();
    for (const s of inbound) {
      closeQuietly(s.socket, STREAM_CLOSE_GOING_AWAY, `node ${this.id} is shutting down`);
    }
    await Promise.allSettled(stops);
    await settleWithin(inbound.map((s) => s.closed), STREAM_CLOSE_WAIT_MS);
    this.#client.close();
  }
}

/** Closes a socket unless it is already closing; a code the runtime refuses falls back to 1000. */
function closeQuietly(socket: WebSocket, code: number, reason: string): void {
  if (socket.readyState === WebSocket.CLOSING || socket.readyState === WebSocket.CLOSED) return;
  try {
    socket.close(code, reason);
  } catch {
    socket.close();
  }
}

function positive(name: string, v: number): number {
  if (!(Number.isSafeInteger(v) && v > 0)) {
    throw new RangeError(`${name} must be a positive integer, got ${v}`);
  }
  return v;
}

/** `http://host:port` without a trailing slash; TypeError for anything but an http(s) URL. */
function normalizeUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`Peer URL ${JSON.stringify(url)} is not a URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new TypeError(`Peer URL ${url} must be http or https`);
  }
  return (u.origin + u.pathname).replace(/\/+$/, "");
}
