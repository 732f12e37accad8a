/**
 * Raft messages between peers over HTTP/1.1.
 *
 * `HttpTransport` gives each peer a bounded queue and one long-lived WebSocket stream
 * (`GET /raft/stream`, upgraded), written by this node only: what the several `send()` calls of one
 * Ready queue goes out in a microtask as one batch, one WebSocket message per batch, with no
 * round trip per batch; the peer's messages to us come on its own stream to us, as with etcd's
 * msgAppV2 streams. With `stream: false` the queue is drained instead by a pipeline of batched
 * `POST /raft/messages` (one batch in flight by default); the receiver serves both routes either
 * way. Snapshots go on their own `POST /raft/snapshot`, so a snapshot never holds up heartbeats.
 * `handler(req)` serves every route; the server mounts it on its peer port.
 *
 * What the caller sees:
 *  - `send(messages)` returns at once. A message that cannot be queued (queue full, peer down after
 *    a failure, unknown peer) is dropped; raft resends from its log. Dropping reports the peer
 *    through `onUnreachable`, as does every failed request or stream (refused, closed, broken,
 *    or not draining).
 *  - A peer's messages arrive in the order they were sent, while its stream stays up; across a
 *    reconnection some may be lost (never duplicated or reordered by the transport).
 *  - MsgSnap ends in exactly one `onSnapshotStatus(peer, Finish | Failure)` unless the peer is
 *    removed or the transport closed first.
 *  - Callbacks run in a microtask, never inside `send()`, and never after `close()`.
 *  - Decoded messages alias the received bytes (entry data are views): don't mutate them.
 *
 * The wire format (versioned, varint based) is described at the top of `codec.ts`; a stream
 * carries exactly that batch encoding, one batch per binary WebSocket message.
 */

export {
  BATCH_MESSAGES_MAX,
  decodeBatch,
  decodeMessage,
  type DecodeOptions,
  encodeBatch,
  encodedBatchSize,
  encodedMessageSize,
  encodeMessage,
  encodeMessageParts,
  ENTRIES_PER_BATCH_MAX,
  ENTRIES_PER_MESSAGE_MAX,
  MESSAGE_BYTES_MAX,
  MessageDecodeError,
  WIRE_VERSION,
} from "./codec.ts";
export {
  HttpTransport,
  type HttpTransportOptions,
  type PeerStats,
  type TransportStats,
} from "./http_transport.ts";
export {
  HEADER_CLUSTER_ID,
  HEADER_FROM,
  HEADER_TO,
  MESSAGES_PATH,
  SNAPSHOT_PATH,
  STREAM_CLOSE_POLICY_VIOLATION,
  STREAM_CLOSE_REPLACED,
  STREAM_PATH,
} from "./protocol.ts";
export { STREAM_BUFFERED_BYTES_MAX } from "./stream_sender.ts";
