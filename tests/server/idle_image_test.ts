/**
 * A node under load puts off the image its snapshot chain calls for until it is idle
 * (`SnapshotChain.imageNeed`, `IdleMeter`), and a restart loads the chain that image starts.
 */
import { equal, ok as assert } from "node:assert/strict";
import { eventually, TestCluster } from "./harness.ts";
import { assertAllReadable, WriteStream } from "./writes.ts";

const IMAGE_LINE = /snapshot at index (\d+): image of \d+ bytes/g;

function imageIndexes(log: string): number[] {
  return [...log.matchAll(IMAGE_LINE)].map((m) => Number(m[1]));
}

Deno.test("a busy node puts its image off until idle, or takes it at its busy limit", async () => {
  // A snapshot every 20 entries. Change-set limits of ids 1-3: 45, 57 and 37 (900, 1,140 and 740
  // entries), and when never idle a quarter more: 56, 71 and 46 (1,120, 1,420 and 920 entries).
  // 1,300 writes pass every node's first limit; nodes 1 and 3 pass their second while the writes
  // run, node 2 does not.
  const cluster = await TestCluster.start({ snapshotCount: 20 });
  try {
    await cluster.waitForLeader();
    const writes = new WriteStream(cluster, "idle-image");
    writes.start({ concurrency: 8, writesMax: 1300 });
    await writes.finish();
    equal(writes.acked.length, 1300, `failures: ${JSON.stringify([...writes.failures])}`);
    const streamEnd = Math.max(...writes.acked.map((write) => write.revision));
    // Each node took an image at its first snapshot, and takes a second. A trickle of writes keeps
    // the applied index past the latest snapshot's: an image at that very index would be the same
    // state again, and is not taken.
    for (const node of cluster.nodes) {
      const indexes = await eventually(`node ${node.id}'s second image`, async () => {
        const response = await cluster.nodes[0]!.fetch(`/kv/trickle-${Date.now()}`, {
          method: "PUT",
          body: "x",
        });
        await response.body?.cancel();
        const found = imageIndexes(node.log);
        return found.length >= 2 ? found : undefined;
      });
      equal(indexes.length, 2, `node ${node.id}: images ${indexes}`);
      if (node.id === 2) {
        // Busy while the writes ran, it put the image off until they had ended.
        assert(indexes[1]! > streamEnd, `node 2: image at ${indexes[1]}, writes to ${streamEnd}`);
      } else {
        // At its busy limit, while the writes ran.
        assert(indexes[1]! <= streamEnd, `node ${node.id}: image at ${indexes[1]}`);
      }
    }
    // A restart loads the chain that starts at node 2's image.
    const node = cluster.nodes.find((n) => n.id === 2)!;
    await node.kill("SIGKILL");
    node.start();
    await cluster.waitForLeader();
    await assertAllReadable(node, writes.acked, { consistency: "serializable" });
  } finally {
    await cluster.stop();
  }
});
