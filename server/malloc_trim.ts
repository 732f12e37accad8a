/**
 * Hands memory that the process freed back to the operating system, every few seconds.
 *
 * V8 allocates ArrayBuffer contents (request bodies, peer frames, log entries compacted away)
 * with malloc, and frees them there when it collects. glibc keeps what was freed inside its arenas
 * and gives most of it back to the OS only on malloc_trim(3). At 1M keys, after a 30 s pause, the
 * three nodes held 1.59 GiB with this trim and 1.85 GiB without (bench/history.md). The trim
 * runs on a worker thread, never on the event loop. Linux with glibc only; elsewhere, or without
 * --allow-ffi, it does nothing.
 */

/** Time between two trims. */
export const TRIM_INTERVAL_MS = 5000;

const SYMBOLS = {
  malloc_trim: { parameters: ["usize"], result: "i32", nonblocking: true },
} as const;

export interface MallocTrimmer {
  /** Trims now; true when glibc released memory, undefined when trimming is unavailable. */
  trim(): Promise<boolean | undefined>;
  stop(): void;
}

/** Starts trimming every `intervalMs`; `trim()` and `stop()` stay safe where it is unavailable. */
export function startMallocTrim(options: { intervalMs?: number } = {}): MallocTrimmer {
  const lib = openLibc();
  if (lib === undefined) return { trim: () => Promise.resolve(undefined), stop: () => {} };
  let running: Promise<boolean> | undefined;
  let closed = false;
  // One trim at a time: a slow one is skipped over, not queued behind.
  const trim = (): Promise<boolean | undefined> => {
    if (closed) return Promise.resolve(undefined);
    running ??= lib.symbols.malloc_trim(0n).then((released) => released === 1)
      .finally(() => running = undefined);
    return running;
  };
  const timer = setInterval(trim, options.intervalMs ?? TRIM_INTERVAL_MS);
  Deno.unrefTimer(timer);
  return {
    trim,
    stop() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      // Closing under a trim in flight would unmap the code it runs.
      const close = () => lib.close();
      if (running === undefined) close();
      else running.then(close, close);
    },
  };
}

function openLibc(): Deno.DynamicLibrary<typeof SYMBOLS> | undefined {
  if (Deno.build.os !== "linux" || Deno.build.env === "musl") return undefined;
  try {
    return Deno.dlopen("libc.so.6", SYMBOLS);
  } catch {
    // No --allow-ffi, or no glibc: memory is only returned when malloc decides to.
    return undefined;
  }
}
