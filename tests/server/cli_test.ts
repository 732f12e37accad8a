import { equal, match, ok as assert } from "node:assert/strict";
import { parsePeers, parseServerFlags, UsageError } from "../../server/flags.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("--help lists every flag of start-server and exits 0", async () => {
  const { code, stdout } = await run(["start-server", "--help"]);
  equal(code, 0);
  for (
    const flag of [
      "--id",
      "--peers",
      "--peer-port",
      "--client-port",
      "--host",
      "--data-dir",
      "--join",
      "--snapshot-count",
      "--tick-ms",
      "--election-ticks",
      "--heartbeat-ticks",
    ]
  ) {
    assert(stdout.includes(flag), `help lacks ${flag}:\n${stdout}`);
  }
});

Deno.test("a bad flag prints one clear line and the usage, and exits 2", async () => {
  const { code, stderr } = await run(["start-server", "--id", "zero", "--peers", "http://a:1"]);
  equal(code, 2);
  const [first] = stderr.split("\n");
  equal(first, 'raftkv: --id must be an integer >= 1, got "zero"');
  match(stderr, /Usage: raftkv start-server/);
});

Deno.test("an unknown flag and an unknown command exit 2", async () => {
  const unknownFlag = await run(["start-server", "--id", "1", "--nope"]);
  equal(unknownFlag.code, 2);
  match(unknownFlag.stderr, /^raftkv: .*--nope/);
  const unknownCommand = await run(["serve"]);
  equal(unknownCommand.code, 2);
  match(unknownCommand.stderr, /unknown command "serve"/);
});

Deno.test("--peers takes plain URLs by position or id=URL pairs", () => {
  const plain = parsePeers("http://127.0.0.1:12380,http://127.0.0.1:22380");
  equal(plain.get(1), "http://127.0.0.1:12380");
  equal(plain.get(2), "http://127.0.0.1:22380");
  const pairs = parsePeers("3=http://node3:2380,7=http://node7:2380");
  equal(pairs.get(3), "http://node3:2380");
  equal(pairs.get(7), "http://node7:2380");
  equal(pairs.size, 2);
});

Deno.test("start-server defaults follow the SPEC", () => {
  const config = parseServerFlags([
    "--id",
    "2",
    "--peers",
    "http://127.0.0.1:12380,http://127.0.0.1:22380,http://127.0.0.1:32380",
  ]);
  assert(config);
  equal(config.peerPort, 22380);
  equal(config.clientPort, 2379);
  equal(config.host, "127.0.0.1");
  equal(config.dataDir, "raftkv-2");
  equal(config.join, false);
  equal(config.snapshotCount, 10000);
  equal(config.tickMs, 100);
  equal(config.electionTicks, 10);
  equal(config.heartbeatTicks, 1);
});

Deno.test("flags that cannot work together are refused", () => {
  const peers = ["--peers", "http://127.0.0.1:12380"];
  const cases: [string[], RegExp][] = [
    [["--id", "2", ...peers], /no URL for this node/],
    [["--id", "1", "--peers", "http://a:1,2=http://b:2"], /mixes/],
    [["--id", "1", "--peers", "ftp://a:1"], /http:\/\//],
    [["--id", "1", ...peers, "--heartbeat-ticks", "10"], /must be less than --election-ticks/],
    [["--id", "1", ...peers, "--client-port", "12380"], /both 12380/],
    [["--id", "1", ...peers, "--client-port", "70000"], /1\.\.65535/],
    [["--peers", "http://a:1"], /missing required flag --id/],
  ];
  for (const [args, message] of cases) {
    let caught: unknown;
    try {
      parseServerFlags(args);
    } catch (error) {
      caught = error;
    }
    assert(caught instanceof UsageError, `${args.join(" ")} was accepted`);
    match(caught.message, message);
  }
});
