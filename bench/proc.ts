// Process plumbing for the cluster benchmark: starting servers with their logs in files, stopping
// them (SIGTERM, then SIGKILL after a grace period), CPU and memory from /proc, and one cleanup
// registry that also runs on Ctrl-C so no server or temporary directory outlives the harness.

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ); 100 on every Linux we run on. */
export const CLOCK_TICKS_PER_SECOND = 100;

/** Bound on every polling loop of the harness. */
export const POLL_INTERVAL_MS = 100;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Thrown by a waitFor probe when waiting longer cannot help (e.g. the server exited). */
export class HopelessWaitError extends Error {}

/**
 * Tracks a counter that must keep moving; `check(value)` throws HopelessWaitError once it has not
 * changed (or not been read) for `stallMs`.
 */
export function progressWatch(what: string, stallMs: number): (value: number | undefined) => void {
  let last: number | undefined;
  let since = performance.now();
  return (value) => {
    const now = performance.now();
    if (value !== undefined && value !== last) {
      last = value;
      since = now;
    } else if (now - since > stallMs) {
      throw new HopelessWaitError(
        `${what}: no progress for ${Math.round(stallMs / 1000)} s (stuck at ${
          last ?? "no answer"
        })`,
      );
    }
  };
}

/**
 * Polls `probe` until it returns a value other than undefined, at most until `timeoutMs` has
 * passed. Throws an Error naming `what` on timeout. Exceptions from `probe` count as "not yet".
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: { timeoutMs: number; intervalMs?: number },
): Promise<T> {
  const deadline = performance.now() + options.timeoutMs;
  const interval = options.intervalMs ?? POLL_INTERVAL_MS;
  let lastError: unknown;
  // Bounded by the deadline; each round sleeps at least `interval`.
  while (performance.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      // Waiting longer cannot help (the process is gone, nothing moves): fail at once.
      if (err instanceof HopelessWaitError) throw err;
      lastError = err;
    }
    await sleep(interval);
  }
  const detail = lastError instanceof Error ? `: last error: ${lastError.message}` : "";
  throw new Error(`Timed out after ${options.timeoutMs} ms waiting for ${what}${detail}`);
}

/** utime + stime of a process in seconds, or undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  return parseProcStatCpuSeconds(stat);
}

/** utime + stime (fields 14 and 15) of a /proc/<pid>/stat line, in seconds. */
export function parseProcStatCpuSeconds(stat: string): number {
  // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new RangeError(`Cannot parse /proc stat line: ${stat.slice(0, 80)}`);
  }
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/** VmRSS of a process in bytes, or undefined once it is gone. */
export function rssBytes(pid: number): number | undefined {
  return statusBytes(pid, "VmRSS");
}

/** VmHWM of a process in bytes: the largest VmRSS it has had since it started. */
export function peakRssBytes(pid: number): number | undefined {
  return statusBytes(pid, "VmHWM");
}

function statusBytes(pid: number, field: "VmRSS" | "VmHWM"): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = status.match(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Busy and total CPU seconds of the whole machine since boot (first line of /proc/stat). */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0] ?? "";
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is already inside user)
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return {
    busy: (total - idle) / CLOCK_TICKS_PER_SECOND,
    total: total / CLOCK_TICKS_PER_SECOND,
  };
}

export function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

type Cleanup = { name: string; run: () => Promise<void> };
const cleanups: Cleanup[] = [];
let signalsInstalled = false;
let interrupted = false;

/** True once SIGINT/SIGTERM arrived; long loops check it to stop early. */
export function wasInterrupted(): boolean {
  return interrupted;
}

/**
 * Registers a cleanup that runs on Ctrl-C or from runAllCleanups(); returns a function that
 * unregisters it (the caller then cleans up by itself).
 */
export function registerCleanup(name: string, run: () => Promise<void>): () => void {
  installSignalHandlers();
  const entry: Cleanup = { name, run };
  cleanups.push(entry);
  return () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

/** Runs every registered cleanup, newest first. Errors are printed, not thrown. */
export async function runAllCleanups(): Promise<void> {
  // Bounded: each iteration removes one entry and nothing registers during cleanup.
  while (cleanups.length > 0) {
    const entry = cleanups.pop()!;
    try {
      await entry.run();
    } catch (err) {
      console.error(`cleanup ${entry.name} failed: ${err instanceof Error ? err.message : err}`);
    }
  }
}

function installSignalHandlers(): void {
  if (signalsInstalled) return;
  signalsInstalled = true;
  const onSignal = (signal: Deno.Signal) => {
    if (interrupted) {
      console.error(`\n${signal} again: exiting without waiting for cleanup`);
      Deno.exit(130);
    }
    interrupted = true;
    console.error(`\n${signal}: stopping servers and removing temporary directories...`);
    runAllCleanups().finally(() => Deno.exit(130));
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    Deno.addSignalListener(signal, () => onSignal(signal));
  }
}

export interface SpawnOptions {
  name: string;
  cmd: string;
  args: string[];
  cwd?: string;
  env?: Record<string, string>;
  /** Environment variables to drop from the inherited environment (e.g. ETCD_*). */
  dropEnvPrefixes?: string[];
  logFile: string;
}

/** A long-running server process with stdout and stderr appended to a log file. */
export class ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  #child: Deno.ChildProcess;
  #status: Promise<Deno.CommandStatus>;
  #exited = false;
  #unregister: () => void;

  private constructor(opts: SpawnOptions, child: Deno.ChildProcess) {
    this.name = opts.name;
    this.logFile = opts.logFile;
    this.#child = child;
    this.pid = child.pid;
    this.#status = child.status.then((s) => {
      this.#exited = true;
      return s;
    });
    this.#unregister = registerCleanup(`stop ${opts.name}`, () => this.#stop(5000));
  }

  static async spawn(opts: SpawnOptions): Promise<ServerProcess> {
    const log = await Deno.open(opts.logFile, { create: true, append: true });
    const env: Record<string, string> = {};
    const drop = opts.dropEnvPrefixes ?? [];
    for (const [k, v] of Object.entries(Deno.env.toObject())) {
      if (!drop.some((p) => k.startsWith(p))) env[k] = v;
    }
    Object.assign(env, opts.env ?? {});
    const cmd = new Deno.Command(opts.cmd, {
      args: opts.args,
      clearEnv: true,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    });
    const child = cmd.spawn();
    // Both pipes go into the one log file; the writes end when the process closes its pipes.
    const write = async (stream: ReadableStream<Uint8Array>) => {
      try {
        for await (const chunk of stream) await log.write(chunk);
      } catch {
        // The log is best effort; a closed file only loses log lines.
      }
    };
    Promise.all([write(child.stdout), write(child.stderr)]).finally(() => log.close());
    return new ServerProcess(opts, child);
  }

  get exited(): boolean {
    return this.#exited;
  }

  get status(): Promise<Deno.CommandStatus> {
    return this.#status;
  }

  /** SIGTERM, then SIGKILL once `graceMs` has passed. Resolves when the process is gone. */
  async stop(graceMs = 5000): Promise<void> {
    await this.#stop(graceMs);
    this.#unregister();
  }

  /** SIGKILL at once (a crash). */
  async kill(): Promise<void> {
    if (!this.#exited) {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await this.#status;
    this.#unregister();
  }

  async #stop(graceMs: number): Promise<void> {
    if (this.#exited) return;
    try {
      this.#child.kill("SIGTERM");
    } catch {
      return;
    }
    const timer = sleep(graceMs).then(() => "timeout" as const);
    const result = await Promise.race([this.#status.then(() => "exited" as const), timer]);
    if (result === "timeout" && !this.#exited) {
      console.error(`${this.name} (pid ${this.pid}) ignored SIGTERM for ${graceMs} ms: SIGKILL`);
      try {
        this.#child.kill("SIGKILL");
      } catch { /* already gone */ }
      await this.#status;
    }
  }

  /** The last `lines` lines of the log, for error messages. */
  async logTail(lines = 20): Promise<string> {
    try {
      const text = await Deno.readTextFile(this.logFile);
      return text.split("\n").slice(-lines - 1).join("\n");
    } catch {
      return "(no log)";
    }
  }
}

/** A temporary directory removed by the cleanup registry (and by the returned function). */
export async function makeTempDir(
  prefix: string,
): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix });
  const run = async () => {
    await Deno.remove(path, { recursive: true }).catch(() => {});
  };
  const unregister = registerCleanup(`remove ${path}`, run);
  return {
    path,
    remove: async () => {
      unregister();
      await run();
    },
  };
}

/**
 * Throws when something already listens on 127.0.0.1:port. A connect probe, not a bind: a port
 * that only has connections in TIME-WAIT is free for a server that sets SO_REUSEADDR.
 */
export async function assertPortFree(port: number, owner: string): Promise<void> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return; // refused: nobody listens
  }
  conn.close();
  throw new Error(
    `Cannot start ${owner}: something already listens on 127.0.0.1:${port} (another cluster?)`,
  );
}

/** Total size in bytes of the regular files under a directory (recursively, bounded depth). */
export async function dirBytes(path: string, depth = 0): Promise<number> {
  if (depth > 8) return 0;
  let total = 0;
  for await (const entry of Deno.readDir(path)) {
    const p = `${path}/${entry.name}`;
    if (entry.isDirectory) total += await dirBytes(p, depth + 1);
    else if (entry.isFile) total += (await Deno.stat(p)).size;
  }
  return total;
}

/** Filesystem type of the mount that holds `path` (from /proc/mounts), e.g. "ext4" or "tmpfs". */
export function filesystemType(path: string): string {
  try {
    let best = { mount: "", type: "unknown" };
    for (const line of Deno.readTextFileSync("/proc/mounts").split("\n")) {
      const [, mount, type] = line.split(" ");
      if (mount === undefined || type === undefined) continue;
      const inside = path === mount || path.startsWith(mount.endsWith("/") ? mount : `${mount}/`);
      if (inside && mount.length >= best.mount.length) best = { mount, type };
    }
    return best.type;
  } catch {
    return "unknown";
  }
}

/** Runs a short command to completion and returns its stdout (throws on a non-zero exit). */
export async function runCommand(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.env === undefined ? {} : { env: options.env }),
  }).spawn();
  const timeoutMs = options.timeoutMs ?? 60_000;
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, timeoutMs);
  try {
    const out = await child.output();
    const stdout = new TextDecoder().decode(out.stdout);
    if (!out.success) {
      const stderr = new TextDecoder().decode(out.stderr).trim();
      throw new Error(`${cmd} ${args.join(" ")} failed (exit ${out.code}): ${stderr}`);
    }
    return stdout;
  } finally {
    clearTimeout(timer);
  }
}

/** The command's path if it is on PATH. */
export function which(cmd: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const p = `${dir}/${cmd}`;
      if (Deno.statSync(p).isFile) return p;
    } catch { /* not here */ }
  }
  return undefined;
}
