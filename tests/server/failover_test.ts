/**
 * Crashes of real processes (SIGKILL) and full restarts: every acknowledged write survives
 * (shared/SPEC.md, Guarantees).
 */
import { equal, match, ok as assert } from "node:assert/strict";
import { eventually, freePort, sleep, TestCluster } from "./harness.ts";
import { assertAllReadable, WriteStream } from "./writes.ts";

Deno.test("kill -9 of the leader during writes: a new leader within 3 s, no acknowledged write lost, the node catches up by log", async () => {
  const cluster = await TestCluster.start();
  try {
    const oldLeader = await cluster.waitForLeader();
    const writes = new WriteStream(cluster, "failover");
    writes.start({ concurrency: 4, writesMax: 5000 });
    await eventually(
      "writes to flow",
      () => Promise.resolve(writes.acked.length >= 100 || undefined),
    );

    await oldLeader.kill("SIGKILL");
    const killedAt = Date.now();
    const newLeader = await cluster.waitForLeader(10_000);
    const electionMs = Date.now() - killedAt;
    assert(newLeader !== oldLeader);
    assert(electionMs < 3000, `new leader after ${electionMs} ms`);

    const ackedBefore = writes.acked.length;
    await eventually(
      "writes to go on",
      () => Promise.resolve(writes.acked.length >= ackedBefore + 100 || undefined),
    );
    await writes.stop();

    for (const node of cluster.running()) await assertAllReadable(node, writes.acked);

    // The killed node restarts from its WAL and catches up by log (no snapshot at this size).
    oldLeader.start();
    const target = (await newLeader.status()).commitIndex;
    await eventually("the restarted node to catch up", async () => {
      const status = await oldLeader.status();
      return status.appliedIndex >= target || undefined;
    });
    // By log: no snapshot came from the leader (the node may have taken its own, at its phase).
    assert(!oldLeader.log.includes("installed snapshot"), oldLeader.log);
    await assertAllReadable(oldLeader, writes.acked, { consistency: "serializable" });
  } finally {
    await cluster.stop();
  }
});

Deno.test("a follower that missed compacted entries catches up by snapshot", async () => {
  const cluster = await TestCluster.start({ snapshotCount: 50 });
  try {
    const leader = await cluster.waitForLeader();
    const lagging = cluster.nodes.find((node) => node !== leader)!;
    await lagging.kill("SIGKILL");
    const writes = new WriteStream(cluster, "snapshot");
    writes.start({ concurrency: 4, writesMax: 400 });
    await writes.finish();
    equal(writes.acked.length, 400, `failures: ${JSON.stringify([...writes.failures])}`);
    // A snapshot every 50 entries (at the leader's phase, snapshot_schedule.ts): once the one for
    // its latest 50 is written, its log is compacted far past the lagging node's.
    const leaderStatus = await eventually(
      "the leader's snapshot of its latest 50 entries",
      async () => {
        const status = await leader.status();
        return status.snapshotIndex > status.appliedIndex - 50 ? status : undefined;
      },
    );
    assert(leaderStatus.snapshotIndex >= 350, `leader snapshot at ${leaderStatus.snapshotIndex}`);

    lagging.start();
    await eventually("the lagging node to install a snapshot and catch up", async () => {
      const status = await lagging.status();
      return status.appliedIndex >= leaderStatus.commitIndex || undefined;
    });
    assert((await lagging.status()).snapshotIndex > 0);
    assert(lagging.log.includes("installed snapshot"), lagging.log);
    // The leader says what it built (bench/report.ts parseSentImageLog reads this line).
    const sent = new RegExp(
      `snapshot for member ${lagging.id} at index \\d+: image of \\d+ bytes built in \\d+ ms`,
    );
    assert(sent.test(leader.log), leader.log);
    await assertAllReadable(lagging, writes.acked, { consistency: "serializable" });
    // It serves again after its own restart from that snapshot (raftexample 3.4 never did).
    await lagging.kill("SIGKILL");
    lagging.start();
    await eventually("the node to serve after restarting from a snapshot", async () => {
      const response = await lagging.fetch(`/kv/${writes.acked[0]!.key}`);
      await response.body?.cancel();
      return response.status === 200 || undefined;
    });
  } finally {
    await cluster.stop();
  }
});

Deno.test("every acknowledged write survives stopping all nodes and starting them again", async () => {
  const cluster = await TestCluster.start({ snapshotCount: 100 });
  try {
    await cluster.waitForLeader();
    const writes = new WriteStream(cluster, "restart");
    writes.start({ concurrency: 8, writesMax: 300 });
    await writes.finish();
    equal(writes.acked.length, 300);

    // Graceful stop: SIGTERM, exit code 0.
    for (const node of cluster.nodes) {
      const status = await node.kill("SIGTERM");
      equal(status.code, 0, node.log);
    }
    for (const node of cluster.nodes) node.start();
    await cluster.waitForLeader();
    for (const node of cluster.nodes) await assertAllReadable(node, writes.acked);

    // A crash of all of them at once, mid-stream.
    const more = new WriteStream(cluster, "crash");
    more.start({ concurrency: 8, writesMax: 2000 });
    await eventually(
      "writes to flow",
      () => Promise.resolve(more.acked.length >= 200 || undefined),
    );
    await Promise.all(cluster.nodes.map((node) => node.kill("SIGKILL")));
    await more.stop();
    await sleep(100);
    for (const node of cluster.nodes) node.start();
    await cluster.waitForLeader();
    for (const node of cluster.nodes) {
      await assertAllReadable(node, [...writes.acked, ...more.acked]);
    }
    // The restarts above went through snapshot chains: images and change sets.
    const log = cluster.nodes.map((node) => node.log).join("");
    match(log, /snapshot at index \d+: change set of \d+ bytes/);
    match(log, /snapshot at index \d+: image of \d+ bytes/);
  } finally {
    await cluster.stop();
  }
});

Deno.test("a second process on a data directory in use refuses to start", async () => {
  const cluster = await TestCluster.start({ nodes: 1 });
  try {
    const node = cluster.node(1);
    await cluster.waitForLeader();
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../main.ts", import.meta.url).pathname,
        "start-server",
        "--id",
        "1",
        "--peers",
        cluster.peersFlag(),
        "--client-port",
        String(freePort()),
        "--peer-port",
        String(freePort()),
        "--data-dir",
        node.spec.dataDir,
      ],
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    equal(output.code, 1, stderr);
    assert(/in use/.test(stderr), stderr);
    // The running node is unharmed.
    const put = await node.fetch("/kv/still-here", { method: "PUT", body: "yes" });
    equal(put.status, 200);
    await put.body?.cancel();
  } finally {
    await cluster.stop();
  }
});

Deno.test("a leader paused with SIGSTOP never serves a stale linearizable read after it resumes", async () => {
  const cluster = await TestCluster.start();
  try {
    const oldLeader = await cluster.waitForLeader();
    const first = await oldLeader.fetch("/kv/paused", { method: "PUT", body: "old" });
    equal(first.status, 200);
    await first.body?.cancel();

    oldLeader.process!.kill("SIGSTOP");
    let newLeader;
    try {
      newLeader = await eventually("the others to elect a new leader", async () => {
        for (const node of cluster.nodes.filter((n) => n !== oldLeader)) {
          const status = await node.status();
          if (status.role === "leader") return node;
        }
        return undefined;
      });
      const second = await newLeader.fetch("/kv/paused", { method: "PUT", body: "new" });
      equal(second.status, 200);
      await second.body?.cancel();
    } finally {
      oldLeader.process!.kill("SIGCONT");
    }
    // The old leader still believes it leads when it wakes; its read must not return "old".
    const read = await oldLeader.fetch("/kv/paused");
    const body = await read.text();
    if (read.status === 200) equal(body, "new");
    else assert([503, 504].includes(read.status), `${read.status} ${body}`);
  } finally {
    await cluster.stop();
  }
});
