/** The server's logger: one line per event on stderr, with a timestamp, a level and the node. */
import type { Logger } from "../raft/mod.ts";

export function createStderrLogger(name: string, options: { debug?: boolean } = {}): Logger {
  const encoder = new TextEncoder();
  const write = (level: string, message: string) => {
    const line = `${new Date().toISOString()} ${level.padEnd(5)} ${name}: ${message}\n`;
    try {
      Deno.stderr.writeSync(encoder.encode(line));
    } catch {
      // stderr closed (the parent went away): logging must never take the node down.
    }
  };
  return {
    debug: options.debug ? (message) => write("debug", message) : () => {},
    info: (message) => write("info", message),
    warn: (message) => write("warn", message),
    error: (message) => write("error", message),
  };
}
