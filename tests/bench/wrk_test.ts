/**
 * The pure parts of the cluster benchmark (bench/): wrk output parsing, /proc parsing, options,
 * and the Lua scripts' requests checked against a tiny in-process server when wrk is installed.
 */
import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { parseOptions, pointPlan } from "../../bench/run.ts";
import { parseProcStatCpuSeconds, which } from "../../bench/proc.ts";
import {
  errorCount,
  errorDetail,
  opsPerSecond,
  parseTimes,
  parseWrkOutput,
  runWrk,
  wrkArgs,
} from "../../bench/wrk.ts";

const SAMPLE = `Running 2s test @ http://127.0.0.1:13379
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    17.59ms    8.12ms  53.60ms   70.00%
  6700 requests in 2.01s, 1.50MB read
  Non-2xx or 3xx responses: 12
Requests/sec:   3333.00
Transfer/sec:    765.00KB
BENCH_RESULT {"duration_us":2000000,"requests":6700,"bytes":1572864,"errors":{"connect":0,"read":1,"write":0,"status":10,"timeout":2},"latency_us":{"min":900,"mean":17590.5,"max":53600,"p50":17000,"p90":25000,"p99":47740,"p999":53600},"load":{"sent":0,"ok":0}}
BENCH_WRK_EXIT 0
0m0.004s 0m0.001s
0m0.120s 0m0.060s
`;

Deno.test("wrk output: the done() line and the Non-2xx line are parsed", () => {
  const r = parseWrkOutput(SAMPLE);
  equal(r.durationUs, 2_000_000);
  equal(r.requests, 6700);
  deepEqual(r.errors, { connect: 0, read: 1, write: 0, status: 10, timeout: 2 });
  equal(r.latencyUs.p50, 17000);
  equal(r.latencyUs.p99, 47740);
  equal(r.latencyUs.p999, 53600);
  equal(r.non2xx, 12);
});

Deno.test("errors count non-2xx answers (the larger of wrk's two counts) plus socket errors", () => {
  const r = parseWrkOutput(SAMPLE);
  equal(errorCount(r), 12 + 1 + 2);
  equal(errorDetail(r), "non-2xx 12, timeout 2, read 1");
  // 6700 answers of which 12 were not 2xx, over 2 s.
  equal(opsPerSecond(r), (6700 - 12) / 2);
});

Deno.test("wrk output without a BENCH_RESULT line is an error naming the missing hook", () => {
  throws(() => parseWrkOutput("Running 1s test\n"), /BENCH_RESULT/);
});

Deno.test("bash's times output: the children's user plus system seconds", () => {
  equal(parseTimes("0m0.004s 0m0.001s\n0m0.120s 0m0.060s\n").toFixed(3), "0.180");
  equal(parseTimes("0m0.000s 0m0.000s\n1m2.500s 0m0.500s").toFixed(3), "63.000");
  throws(() => parseTimes("nothing here"), /times/);
});

Deno.test("/proc/<pid>/stat: utime + stime in seconds, with a command name holding spaces", () => {
  // Fields: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  //         utime stime ...
  const stat = "4242 (deno run) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1234";
  equal(parseProcStatCpuSeconds(stat), 3);
});

Deno.test("wrk arguments: threads never exceed connections, script arguments follow --", () => {
  const args = wrkArgs({
    url: "http://127.0.0.1:12379",
    script: "raftkv.lua",
    scriptArgs: { mode: "put", prefix: "p1-", value_bytes: 256 },
    connections: 1,
    threads: 2,
    durationSeconds: 10,
    timeoutSeconds: 5,
  });
  equal(args[args.indexOf("-t") + 1], "1");
  equal(args[args.indexOf("-c") + 1], "1");
  equal(args[args.indexOf("-d") + 1], "10s");
  match(args[args.indexOf("-s") + 1]!, /bench\/wrk\/raftkv\.lua$/);
  deepEqual(args.slice(args.indexOf("--") + 1), [
    "mode=put",
    "prefix=p1-",
    "value_bytes=256",
    "threads=1",
  ]);
});

Deno.test("options: defaults, --quick subset, lists, and clear errors for bad values", () => {
  const full = parseOptions([]);
  ok(full !== "help");
  deepEqual(full.connections, [1, 16, 64, 256]);
  deepEqual(full.systems, ["raftkv", "etcd"]);
  equal(full.durationSeconds, 10);
  equal(full.repeat, 1);
  equal(full.out, "bench/results.md");
  const quick = parseOptions(["--quick"]);
  ok(quick !== "help");
  deepEqual(quick.connections, [1, 64]);
  equal(quick.durationSeconds, 3);
  const custom = parseOptions(["--connections", "2,8", "--systems", "etcd", "--duration", "5"]);
  ok(custom !== "help");
  deepEqual(custom.connections, [2, 8]);
  deepEqual(custom.systems, ["etcd"]);
  equal(custom.durationSeconds, 5);
  equal(parseOptions(["--help"]), "help");
  throws(() => parseOptions(["--connections", "0"]), /positive integer/);
  throws(() => parseOptions(["--repeat", "0"]), /--repeat must be a positive integer/);
  throws(() => parseOptions(["--systems", "redis"]), /unknown system redis/);
  throws(() => parseOptions(["--workloads", "scan"]), /unknown workload scan/);
  throws(() => parseOptions(["--bogus"]));
});

Deno.test("--repeat: a point's rounds run back to back, numbered from 1", () => {
  const repeated = parseOptions([
    "--repeat",
    "2",
    "--workloads",
    "put-leader",
    "--connections",
    "1,64",
  ]);
  ok(repeated !== "help");
  deepEqual(pointPlan(repeated), [
    { workload: "put-leader", connections: 1, round: 1 },
    { workload: "put-leader", connections: 1, round: 2 },
    { workload: "put-leader", connections: 64, round: 1 },
    { workload: "put-leader", connections: 64, round: 2 },
  ]);
  // Measured once, points carry no round.
  deepEqual(pointPlan({ workloads: ["put-leader"], connections: [1], repeat: 1 }), [
    { workload: "put-leader", connections: 1 },
  ]);
});

/** Records every request; answers like raftkv or like etcd's JSON gateway. */
function recordingServer(): {
  url: string;
  requests: { method: string; path: string; body: string }[];
  close: () => Promise<void>;
} {
  const requests: { method: string; path: string; body: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const body = await req.text();
    if (url.pathname === "/health") return Response.json({ health: true });
    requests.push({ method: req.method, path: url.pathname + url.search, body });
    return Response.json({ revision: requests.length });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}

const wrkInstalled = which("wrk") !== undefined;

Deno.test({
  name: "raftkv.lua load mode writes each key exactly once with the value size asked for",
  ignore: !wrkInstalled,
  fn: async () => {
    const server = recordingServer();
    try {
      const run = await runWrk({
        url: server.url,
        script: "raftkv.lua",
        scriptArgs: { mode: "load", prefix: "r", count: 300, value_bytes: 256 },
        connections: 8,
        threads: 2,
        durationSeconds: 30,
        timeoutSeconds: 5,
        stopAfterLoadDone: 2,
      });
      equal(run.result.load.ok, 300);
      equal(errorCount(run.result), 0);
      const puts = server.requests.filter((r) => r.method === "PUT");
      equal(puts.length, 300);
      const keys = new Set(puts.map((r) => r.path));
      equal(keys.size, 300);
      ok(keys.has("/kv/r00000000"));
      ok(keys.has("/kv/r00000299"));
      ok(puts.every((r) => r.body.length === 256));
      ok(run.cpuSeconds >= 0);
    } finally {
      await server.close();
    }
  },
});

Deno.test({
  name: "etcd.lua sends base64 keys and values in the v3 gateway's JSON bodies",
  ignore: !wrkInstalled,
  fn: async () => {
    const server = recordingServer();
    try {
      await runWrk({
        url: server.url,
        script: "etcd.lua",
        scriptArgs: { mode: "load", prefix: "r", count: 50, value_bytes: 100 },
        connections: 4,
        threads: 1,
        durationSeconds: 30,
        timeoutSeconds: 5,
        stopAfterLoadDone: 1,
      });
      const puts = server.requests.filter((r) => r.path === "/v3/kv/put");
      equal(puts.length, 50);
      const decoded = puts.map((r) => JSON.parse(r.body) as { key: string; value: string })
        .map((b) => ({ key: atob(b.key), value: atob(b.value) }));
      deepEqual(
        new Set(decoded.map((d) => d.key)),
        new Set(Array.from({ length: 50 }, (_, i) => `r${String(i).padStart(8, "0")}`)),
      );
      ok(decoded.every((d) => d.value.length === 100));

      // Reads: serializable ranges over the preloaded keys only.
      server.requests.length = 0;
      await runWrk({
        url: server.url,
        script: "etcd.lua",
        scriptArgs: { mode: "get", prefix: "r", keys: 50, serializable: 1 },
        connections: 2,
        threads: 1,
        durationSeconds: 1,
        timeoutSeconds: 5,
      });
      ok(server.requests.length > 0);
      for (const r of server.requests) {
        equal(r.path, "/v3/kv/range");
        const body = JSON.parse(r.body) as { key: string; serializable: boolean };
        equal(body.serializable, true);
        match(atob(body.key), /^r000000[0-4]\d$/);
      }
    } finally {
      await server.close();
    }
  },
});

Deno.test({
  name: "raftkv.lua put mode writes unique keys under its prefix, serializable reads ask for it",
  ignore: !wrkInstalled,
  fn: async () => {
    const server = recordingServer();
    try {
      const run = await runWrk({
        url: server.url,
        script: "raftkv.lua",
        scriptArgs: { mode: "put", prefix: "p7-", value_bytes: 256 },
        connections: 4,
        threads: 2,
        durationSeconds: 1,
        timeoutSeconds: 5,
      });
      const paths = server.requests.map((r) => r.path);
      ok(paths.length > 0);
      equal(new Set(paths).size, paths.length);
      ok(paths.every((p) => /^\/kv\/p7-[01]-\d+$/.test(p)));
      ok(run.result.requests <= paths.length);

      server.requests.length = 0;
      await runWrk({
        url: server.url,
        script: "raftkv.lua",
        scriptArgs: { mode: "get", prefix: "r", keys: 10, serializable: 1 },
        connections: 2,
        threads: 1,
        durationSeconds: 1,
        timeoutSeconds: 5,
      });
      ok(server.requests.length > 0);
      ok(
        server.requests.every((r) =>
          r.method === "GET" && /^\/kv\/r0000000\d\?consistency=serializable$/.test(r.path)
        ),
      );
    } finally {
      await server.close();
    }
  },
});
