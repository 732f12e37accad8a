/**
 * The logging interface every raftkv module accepts. The raft core never writes anywhere itself:
 * the embedder passes a logger (the server's writes to stderr).
 */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Discards everything; the default, so that an embedder's tests stay quiet. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
