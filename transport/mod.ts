/**
 * Raft messages between peers over plain HTTP/1.1.
 *
 * `HttpTransport` gives each peer a bounded queue drained by one pipeline of batched
 * `POST /raft/messages` (one batch in flight by default, so a peer's messages stay in order), and a
 * separate sender for snapshots on `POST /raft/snapshot`, so a snapshot never holds up heartbeats.
 * `handler(req)` serves both routes; the server mounts it on its peer port.
 *
 * What the caller sees:
 *  - `send(messages)` returns at once. A message that cannot be queued (queue full, peer down after
 *    a failure, unknown peer) is dropped; raft resends from its log. Dropping reports the peer
 *    through `onUnreachable`, as does every failed request.
 *  - MsgSnap ends in exactly one `onSnapshotStatus(peer, Finish | Failure)` unless the peer is
 *    removed or the transport closed first.
 *  - Callbacks run in a microtask, never inside `send()`, and never after `close()`.
 *  - Decoded messages alias the request body (entry data are views): don't mutate them.
 *
 * The wire format (versioned, varint based) is described at the top of `codec.ts`.
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
} from "./protocol.ts";
