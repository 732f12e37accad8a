/** The HTTP surface between peers: routes and headers. */

export const MESSAGES_PATH = "/raft/messages";
export const SNAPSHOT_PATH = "/raft/snapshot";

export const HEADER_CLUSTER_ID = "x-raftkv-cluster-id";
export const HEADER_FROM = "x-raftkv-from";
export const HEADER_TO = "x-raftkv-to";
/** Length of a snapshot body, sent in chunks (no Content-Length): lets the receiver preallocate. */
export const HEADER_SNAPSHOT_BYTES = "x-raftkv-snapshot-bytes";
