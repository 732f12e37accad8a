/** Starting from what a crash can leave on disk. */
import { equal } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Wal } from "../../wal/mod.ts";
import { TestCluster } from "./harness.ts";

Deno.test("a founding node that crashed between creating its WAL and its first write bootstraps again", async () => {
  const cluster = await TestCluster.start({ nodes: 0 });
  try {
    const node = cluster.addSpec(1);
    // What a crash right after Wal.create leaves: metadata, no hard state, no entries.
    await Deno.mkdir(node.spec.dataDir, { recursive: true });
    const wal = await Wal.create(`${node.spec.dataDir}/wal`, {
      metadata: { nodeId: 1, clusterId: "0123456789abcdef" },
    });
    await wal.close();
    node.start();
    await cluster.waitForLeader();
    const put = await node.fetch("/kv/after-crash", { method: "PUT", body: "ok" });
    equal(put.status, 200, await put.clone().text());
    await put.body?.cancel();
  } finally {
    await cluster.stop();
  }
});

Deno.test("a data directory of another node is refused with a clear error", async () => {
  const cluster = await TestCluster.start({ nodes: 0 });
  try {
    const node = cluster.addSpec(1);
    await Deno.mkdir(node.spec.dataDir, { recursive: true });
    const wal = await Wal.create(`${node.spec.dataDir}/wal`, {
      metadata: { nodeId: 7, clusterId: "0123456789abcdef" },
    });
    await wal.close();
    node.start();
    const status = await node.exited();
    equal(status.code, 1);
    equal(/belongs to node 7/.test(node.log), true, node.log);
  } finally {
    await cluster.stop();
  }
});

Deno.test("a WAL damaged before its tail stops the node with the file and offset, changing nothing", async () => {
  const cluster = await TestCluster.start({ nodes: 1 });
  try {
    const node = cluster.node(1);
    await cluster.waitForLeader();
    for (let i = 0; i < 20; i++) {
      const put = await node.fetch(`/kv/k${i}`, { method: "PUT", body: "v".repeat(100) });
      equal(put.status, 200);
      await put.body?.cancel();
    }
    equal((await node.kill("SIGTERM")).code, 0);
    const walDir = `${node.spec.dataDir}/wal`;
    const segment = [...Deno.readDirSync(walDir)].map((e) => e.name).filter((n) =>
      n.endsWith(".wal")
    )
      .sort()[0]!;
    const bytes = await Deno.readFile(`${walDir}/${segment}`);
    bytes[100] = bytes[100]! ^ 0xff;
    await Deno.writeFile(`${walDir}/${segment}`, bytes);

    node.start();
    const status = await node.exited();
    equal(status.code, 1, node.log);
    equal(node.log.includes(segment), true, node.log);
    equal(/offset|byte/.test(node.log), true, node.log);
    const after = await Deno.readFile(`${walDir}/${segment}`);
    equal(Buffer.compare(after, bytes), 0, "the damaged file was changed");
  } finally {
    await cluster.stop();
  }
});
