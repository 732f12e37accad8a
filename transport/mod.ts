/**
 * Raft messages between peers over plain HTTP.
 *
 * `HttpTransport` sends each peer's messages as pipelined batches (`POST /raft/messages`) and
 * snapshots on their own route (`POST /raft/snapshot`); `handler` serves both routes. The wire
 * format is described in `codec.ts`.
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
