/** The HTTP surface between peers: routes and headers. */

export const MESSAGES_PATH = "/raft/messages";
export const SNAPSHOT_PATH = "/raft/snapshot";
/** GET with a WebSocket upgrade: the long-lived stream of raft messages from one peer. */
export const STREAM_PATH = "/raft/stream";

export const HEADER_CLUSTER_ID = "x-raftkv-cluster-id";
export const HEADER_FROM = "x-raftkv-from";
export const HEADER_TO = "x-raftkv-to";
/**
 * Close code of a stream refused while open (bad bytes, misaddressed messages): RFC 6455's
 * policy violation.
 */
export const STREAM_CLOSE_POLICY_VIOLATION = 1008;
/** Close code of a stream its sender ends (stopped, or the peer moved); the only one a client may use. */
export const STREAM_CLOSE_NORMAL = 1000;
/** Close code of a stream its receiver ends because the transport closes. */
export const STREAM_CLOSE_GOING_AWAY = 1001;
/** Close code of a stream replaced by a newer one from the same peer. */
export const STREAM_CLOSE_REPLACED = 4000;
/** Length of a snapshot body, sent in chunks (no Content-Length): lets the receiver preallocate. */
export const HEADER_SNAPSHOT_BYTES = "x-raftkv-snapshot-bytes";
