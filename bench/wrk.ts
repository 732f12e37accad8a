// Runs wrk with one of the Lua scripts in bench/wrk/ and parses what it prints.
//
// wrk runs under `bash -c '…; times'` so that its CPU time is measured exactly: bash waits for
// wrk, and the `times` builtin then prints the user and system time of the shell's reaped children,
// which is wrk alone. The script's done() hook prints one `BENCH_RESULT {json}` line.

import { fileURLToPath } from "node:url";
import { registerCleanup } from "./proc.ts";

/** Directory of the Lua scripts, passed to them as BENCH_LUA_DIR. */
export const LUA_DIR = fileURLToPath(new URL("./wrk/", import.meta.url)).replace(/\/$/, "");

export interface WrkResult {
  durationUs: number;
  requests: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latencyUs: {
    min: number;
    mean: number;
    max: number;
    p50: number;
    p90: number;
    p99: number;
    p999: number;
  };
  /** Load mode only: key writes sent and answered 2xx. */
  load: { sent: number; ok: number };
  /** wrk's "Non-2xx or 3xx responses" line (0 when absent). */
  non2xx: number;
}

export interface WrkRun {
  result: WrkResult;
  /** User + system CPU seconds of the wrk process. */
  cpuSeconds: number;
  exitCode: number;
  stdout: string;
}

/** Parses `times` output: the second line holds the children's user and system time. */
export function parseTimes(text: string): number {
  const lines = text.trim().split("\n").filter((l) => /^\d+m[\d.]+s\s+\d+m[\d.]+s$/.test(l.trim()));
  const children = lines[lines.length - 1];
  if (lines.length < 2 || children === undefined) {
    throw new Error(`Cannot find the output of bash's times in: ${text.slice(-200)}`);
  }
  let total = 0;
  for (const part of children.trim().split(/\s+/)) {
    const m = part.match(/^(\d+)m([\d.]+)s$/);
    if (m === null) throw new Error(`Cannot parse times field ${part}`);
    total += Number(m[1]) * 60 + Number(m[2]);
  }
  return total;
}

/** Parses wrk's stdout: the BENCH_RESULT line of done() and the optional Non-2xx line. */
export function parseWrkOutput(stdout: string): WrkResult {
  const line = stdout.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
  if (line === undefined) {
    throw new Error(`wrk printed no BENCH_RESULT line (did done() run?): ${stdout.slice(-300)}`);
  }
  const raw = JSON.parse(line.slice("BENCH_RESULT ".length));
  const num = (v: unknown, what: string): number => {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new Error(`BENCH_RESULT field ${what} is not a number: ${JSON.stringify(v)}`);
    }
    return v;
  };
  const non2xx = stdout.match(/Non-2xx or 3xx responses:\s+(\d+)/);
  return {
    durationUs: num(raw.duration_us, "duration_us"),
    requests: num(raw.requests, "requests"),
    bytes: num(raw.bytes, "bytes"),
    errors: {
      connect: num(raw.errors?.connect, "errors.connect"),
      read: num(raw.errors?.read, "errors.read"),
      write: num(raw.errors?.write, "errors.write"),
      status: num(raw.errors?.status, "errors.status"),
      timeout: num(raw.errors?.timeout, "errors.timeout"),
    },
    latencyUs: {
      min: num(raw.latency_us?.min, "latency_us.min"),
      mean: num(raw.latency_us?.mean, "latency_us.mean"),
      max: num(raw.latency_us?.max, "latency_us.max"),
      p50: num(raw.latency_us?.p50, "latency_us.p50"),
      p90: num(raw.latency_us?.p90, "latency_us.p90"),
      p99: num(raw.latency_us?.p99, "latency_us.p99"),
      p999: num(raw.latency_us?.p999, "latency_us.p999"),
    },
    load: { sent: num(raw.load?.sent, "load.sent"), ok: num(raw.load?.ok, "load.ok") },
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  };
}

/** Failed requests: non-2xx answers plus socket errors (connect, read, write, timeout). */
export function errorCount(r: WrkResult): number {
  const e = r.errors;
  return Math.max(e.status, r.non2xx) + e.connect + e.read + e.write + e.timeout;
}

/** The kinds of failures, e.g. "non-2xx 12, timeout 3"; "" when there were none. */
export function errorDetail(r: WrkResult): string {
  const e = r.errors;
  const parts: [string, number][] = [
    ["non-2xx", Math.max(e.status, r.non2xx)],
    ["timeout", e.timeout],
    ["connect", e.connect],
    ["read", e.read],
    ["write", e.write],
  ];
  return parts.filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ");
}

/** Successful operations per second. */
export function opsPerSecond(r: WrkResult): number {
  if (r.durationUs <= 0) return 0;
  const ok = Math.max(0, r.requests - Math.max(r.errors.status, r.non2xx));
  return ok / (r.durationUs / 1e6);
}

export interface WrkOptions {
  url: string;
  /** File name in bench/wrk/, e.g. "raftkv.lua". */
  script: string;
  /** Script arguments, name=value (see bench/wrk/common.lua). */
  scriptArgs: Record<string, string | number>;
  connections: number;
  threads: number;
  durationSeconds: number;
  /** Per-request timeout; a slower request counts as a timeout error. */
  timeoutSeconds: number;
  /** Load mode: number of wrk threads that report BENCH_LOAD_DONE before wrk is told to stop. */
  stopAfterLoadDone?: number;
}

/** Builds wrk's argument list (without the program name). */
export function wrkArgs(opts: WrkOptions): string[] {
  const threads = Math.max(1, Math.min(opts.threads, opts.connections));
  const args = [
    "-t",
    String(threads),
    "-c",
    String(opts.connections),
    "-d",
    `${opts.durationSeconds}s`,
    "--timeout",
    `${opts.timeoutSeconds}s`,
    "-s",
    `${LUA_DIR}/${opts.script}`,
    opts.url,
    "--",
  ];
  const scriptArgs = { ...opts.scriptArgs, threads };
  for (const [k, v] of Object.entries(scriptArgs)) args.push(`${k}=${v}`);
  return args;
}

const BASH_WRAPPER = [
  `"$@" &`,
  `pid=$!`,
  `echo "BENCH_WRK_PID $pid" >&2`,
  `wait "$pid"`,
  `echo "BENCH_WRK_EXIT $?"`,
  `times`,
].join("\n");

/** Runs wrk to completion (bounded by its -d plus a margin) and returns the parsed result. */
export async function runWrk(opts: WrkOptions): Promise<WrkRun> {
  const args = wrkArgs(opts);
  const child = new Deno.Command("bash", {
    args: ["-c", BASH_WRAPPER, "bench-wrk", "wrk", ...args],
    env: { BENCH_LUA_DIR: LUA_DIR },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let wrkPid: number | undefined;
  const signalWrk = (signal: Deno.Signal) => {
    if (wrkPid === undefined) return;
    try {
      Deno.kill(wrkPid, signal);
    } catch { /* already gone */ }
  };
  const unregister = registerCleanup("stop wrk", async () => {
    signalWrk("SIGKILL");
    await child.status;
  });
  // Watch stderr for wrk's pid and for load-mode threads that finished.
  const stderrLines: string[] = [];
  let loadDone = 0;
  const readStderr = (async () => {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of child.stderr) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const pid = line.match(/^BENCH_WRK_PID (\d+)$/);
        if (pid) {
          wrkPid = Number(pid[1]);
        } else if (line.startsWith("BENCH_LOAD_DONE ")) {
          loadDone++;
          if (opts.stopAfterLoadDone !== undefined && loadDone >= opts.stopAfterLoadDone) {
            signalWrk("SIGINT");
          }
        } else if (stderrLines.length < 50) {
          stderrLines.push(line);
        }
      }
    }
  })();
  const stdoutPromise = new Response(child.stdout).text();
  // Safety net: wrk should end by itself after -d; kill it if it hangs well past that.
  const hardLimitMs = (opts.durationSeconds + opts.timeoutSeconds + 30) * 1000;
  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    signalWrk("SIGKILL");
  }, hardLimitMs);
  const status = await child.status;
  clearTimeout(watchdog);
  unregister();
  const stdout = await stdoutPromise;
  await readStderr;
  if (timedOut) throw new Error(`wrk did not finish within ${hardLimitMs} ms: killed`);
  const exit = stdout.match(/^BENCH_WRK_EXIT (\d+)$/m);
  const exitCode = exit ? Number(exit[1]) : status.code;
  if (exitCode !== 0 && !stdout.includes("BENCH_RESULT ")) {
    throw new Error(
      `wrk ${args.join(" ")} failed (exit ${exitCode}): ${stderrLines.join("\n")}\n${stdout}`,
    );
  }
  return {
    result: parseWrkOutput(stdout),
    cpuSeconds: parseTimes(stdout.slice(stdout.indexOf("BENCH_WRK_EXIT"))),
    exitCode,
    stdout,
  };
}
