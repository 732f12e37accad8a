/** Shared helpers for the WAL tests. */
import type { Entry } from "../../raft/types.ts";
import type { Logger } from "../../raft/logger.ts";

/** Runs `fn` in a fresh temporary directory, removed afterwards. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "raftkv_wal_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Deterministic, never-zero data for entry `index` of `term`. */
export function entryData(index: number, term: number, bytes: number): Uint8Array {
  const d = new Uint8Array(bytes);
  for (let k = 0; k < bytes; k++) d[k] = 1 + ((index * 31 + term * 7 + k) % 255);
  return d;
}

export function makeEntry(index: number, term: number, bytes = 20): Entry {
  return { index, term, type: 0, data: entryData(index, term, bytes) };
}

export function makeEntries(from: number, to: number, term: number, bytes = 20): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(makeEntry(i, term, bytes));
  return out;
}

/** Every file of `dir` with its bytes, to show that nothing changed. */
export async function snapshotFiles(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile) out.set(e.name, await Deno.readFile(`${dir}/${e.name}`));
  }
  return out;
}

/** A logger that keeps what it is told. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: (m) => lines.push(`debug ${m}`),
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
}

/** Reads lines from a child's stdout. */
export class LineReader {
  #reader: ReadableStreamDefaultReader<string>;
  #buf = "";
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }
  /** The next complete line, or undefined at the end of the stream. */
  async next(): Promise<string | undefined> {
    // Bounded by the stream's length: each read either yields a line or consumes a chunk.
    for (;;) {
      const nl = this.#buf.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        return line;
      }
      const { value, done } = await this.#reader.read();
      if (done) return undefined;
      this.#buf += value;
    }
  }
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}
