/**
 * A node under load puts off the image its snapshot chain calls for until it is idle
 * (`SnapshotChain.imageNeed`, `IdleMeter`), and a restart loads the chain that image starts.
 */
import { equal, ok as assert } from "node:assert/strict";
import { eventually, TestCluster } from "./harness.ts";
import { assertAllReadable, WriteStream } from "./writes.ts";

const SNAPSHOT_LINE = /snapshot at index (\d+): (image|change set) of \d+ bytes/g;

/** The node's snapshots from its log, oldest first. */
function snapshots(log: string): { index: number; image: boolean }[] {
  return [...log.matchAll(SNAPSHOT_LINE)].map((m) => ({
    index: Number(m[1]),
    image: m[2] === "image",
  }));
}

Deno.test("a busy node puts the image its chain calls for off until it is idle", async () => {
  // A snapshot every 20 entries. Node 2's chain calls for an image after 57 change sets (its
  // limit, lowered by its id), and takes it then even when busy only after 114.
  const cluster = await TestCluster.start({ snapshotCount: 20 });
  try {
    await cluster.waitForLeader();
    const node = cluster.nodes.find((n) => n.id === 2)!;
    const changeSetsSinceImage = () => {
      const all = snapshots(node.log);
      const lastImage = all.findLastIndex((s) => s.image);
      return all.length - 1 - lastImage;
    };
    const writes = new WriteStream(cluster, "idle-image");
    writes.start({ concurrency: 8, writesMax: 20_000 });
    await eventually("node 2's 60th change set", () => {
      const count = changeSetsSinceImage();
      if (count >= 60) return Promise.resolve(count);
      assert(writes.acked.length < 20_000, "the writes ended first");
      return Promise.resolve(undefined);
    }, 60_000);
    // It says so in its metrics (the bench waits for such images before it measures).
    const imageDue = async () => {
      const text = await (await node.fetch("/metrics")).text();
      return /^raftkv_image_due ([01])$/m.exec(text)?.[1];
    };
    equal(await imageDue(), "1", "node 2's metrics report the image it puts off");
    await writes.stop();
    const streamEnd = Math.max(...writes.acked.map((write) => write.revision));
    // Busy with the writes past its limit, it took no image beyond its first snapshot's.
    equal(snapshots(node.log).filter((s) => s.image).length, 1, "an image while busy");
    // Idle now. A trickle of writes keeps its applied index past its latest snapshot's: an image
    // at that very index would be the same state again, and is not taken.
    const image = await eventually("node 2's image once idle", async () => {
      const response = await cluster.nodes[0]!.fetch(`/kv/trickle-${Date.now()}`, {
        method: "PUT",
        body: "x",
      });
      await response.body?.cancel();
      return snapshots(node.log).filter((s) => s.image)[1];
    });
    assert(image.index > streamEnd, `image at ${image.index}, writes to ${streamEnd}`);
    await eventually("node 2's metrics report no image due", async () => {
      return await imageDue() === "0" ? true : undefined;
    });
    // A restart loads the chain that starts at that image.
    await node.kill("SIGKILL");
    node.start();
    await cluster.waitForLeader();
    await assertAllReadable(node, writes.acked, { consistency: "serializable" });
  } finally {
    await cluster.stop();
  }
});
