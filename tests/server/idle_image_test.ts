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

Deno.test("an idle node takes the image its chain put off, and restarts from it", async () => {
  // A snapshot every 20 entries: the change-set limits of ids 1-3 (45, 57, 37) pass by 1,300
  // writes (900, 1,140 and 740 entries), and the limits for a node that is never idle (twice
  // those) do not.
  const cluster = await TestCluster.start({ snapshotCount: 20 });
  try {
    await cluster.waitForLeader();
    const writes = new WriteStream(cluster, "idle-image");
    writes.start({ concurrency: 8, writesMax: 1300 });
    await writes.finish();
    equal(writes.acked.length, 1300, `failures: ${JSON.stringify([...writes.failures])}`);
    const streamEnd = Math.max(...writes.acked.map((write) => write.revision));
    // Each node took an image at its first snapshot; once idle, each takes a second. A trickle of
    // writes keeps the applied index past the latest snapshot's: an image at that very index
    // would be the same state again, and is not taken.
    for (const node of cluster.nodes) {
      const indexes = await eventually(`node ${node.id}'s image once idle`, async () => {
        const response = await cluster.nodes[0]!.fetch(`/kv/trickle-${Date.now()}`, {
          method: "PUT",
          body: "x",
        });
        await response.body?.cancel();
        const found = imageIndexes(node.log);
        return found.length >= 2 ? found : undefined;
      });
      // Busy while the stream ran, it put the image off until the stream had ended.
      assert(indexes.length === 2 && indexes[1]! > streamEnd, `node ${node.id}: images ${indexes}`);
    }
    // A restart loads the chain that starts at that image.
    const node = cluster.nodes[0]!;
    await node.kill("SIGKILL");
    node.start();
    await cluster.waitForLeader();
    await assertAllReadable(node, writes.acked, { consistency: "serializable" });
  } finally {
    await cluster.stop();
  }
});
