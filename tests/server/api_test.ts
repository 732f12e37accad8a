/**
 * The REST API of shared/SPEC.md on a real 3-node cluster: any node answers any request.
 */
import { deepEqual, equal, match, ok as assert } from "node:assert/strict";
import { TestCluster } from "./harness.ts";

async function errorBody(response: Response): Promise<{ code: string; message: string }> {
  equal(response.headers.get("content-type")?.startsWith("application/json"), true);
  const body = await response.json() as { error: { code: string; message: string } };
  equal(typeof body.error.code, "string");
  equal(typeof body.error.message, "string");
  return body.error;
}

Deno.test("a write on one node is read back linearizably on every other node", async () => {
  const cluster = await TestCluster.start();
  try {
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((node) => node !== leader)!;
    for (const [writer, key] of [[follower, "from-follower"], [leader, "from-leader"]] as const) {
      const put = await writer.fetch(`/kv/${key}`, { method: "PUT", body: `value of ${key}` });
      equal(put.status, 200);
      const { revision } = await put.json() as { revision: number };
      assert(revision > 0);
      equal(put.headers.get("etag"), `"${revision}"`);
      for (const reader of cluster.nodes) {
        const get = await reader.fetch(`/kv/${key}`);
        equal(get.status, 200, `node ${reader.id}`);
        equal(await get.text(), `value of ${key}`);
        equal(get.headers.get("etag"), `"${revision}"`);
      }
    }
  } finally {
    await cluster.stop();
  }
});

Deno.test("conditional writes, deletes, ranges and the error paths answer as SPEC.md says", async () => {
  const cluster = await TestCluster.start();
  try {
    await cluster.waitForLeader();
    const node = cluster.nodes[1]!;
    const put = (key: string, body: string, headers: Record<string, string> = {}) =>
      node.fetch(`/kv/${key}`, { method: "PUT", body, headers });

    const created = await put("app/db%20host", "db1", { "if-none-match": "*" });
    equal(created.status, 200);
    const { revision } = await created.json() as { revision: number };
    // The key is percent-decoded: a range over "app/" lists "app/db host".
    const listed = await node.json<
      { items: { key: string; value: string; revision: number }[]; more: boolean }
    >(
      "/kv?prefix=app%2F&limit=10",
    );
    deepEqual(listed.items, [{ key: "app/db host", value: "db1", revision }]);
    equal(listed.more, false);

    const again = await put("app/db%20host", "db2", { "if-none-match": "*" });
    equal(again.status, 412);
    equal((await errorBody(again)).code.length > 0, true);

    const stale = await put("app/db%20host", "db2", { "if-match": `"${revision + 1000}"` });
    equal(stale.status, 412);
    match(JSON.stringify(await stale.json()), new RegExp(String(revision)));

    const matched = await put("app/db%20host", "db2", { "if-match": `"${revision}"` });
    equal(matched.status, 200);
    const second = (await matched.json() as { revision: number }).revision;
    assert(second > revision);

    const serializable = await node.fetch("/kv/app/db%20host?consistency=serializable");
    equal(serializable.status, 200);
    equal(await serializable.text(), "db2");

    const deleted = await node.fetch("/kv/app/db%20host", { method: "DELETE" });
    equal(deleted.status, 200);
    const deletedBody = await deleted.json() as { revision: number; deleted: boolean };
    equal(deletedBody.deleted, true);
    assert(deletedBody.revision > second);

    const missing = await node.fetch("/kv/app/db%20host");
    equal(missing.status, 404);
    await errorBody(missing);
    const deleteMissing = await node.fetch("/kv/app/db%20host", { method: "DELETE" });
    equal(deleteMissing.status, 404);
    await errorBody(deleteMissing);

    const emptyKey = await node.fetch("/kv/", { method: "PUT", body: "x" });
    equal(emptyKey.status, 400);
    await errorBody(emptyKey);
    const longKey = await node.fetch(`/kv/${"k".repeat(4097)}`, { method: "PUT", body: "x" });
    equal(longKey.status, 400);
    await errorBody(longKey);
    const badQuery = await node.fetch("/kv/a?consistency=eventual");
    equal(badQuery.status, 400);
    await errorBody(badQuery);
    const badJSON = await node.fetch("/cluster/members", { method: "POST", body: "{nope" });
    equal(badJSON.status, 400);
    await errorBody(badJSON);

    const tooLarge = await put("big", "x".repeat(1024 * 1024 + 1));
    equal(tooLarge.status, 413);
    await errorBody(tooLarge);
    const justFits = await put("big", "x".repeat(1024 * 1024));
    equal(justFits.status, 200);
    await justFits.body?.cancel();

    const cluster_ = await node.json<{ clusterId: string; leader: number; members: unknown[] }>(
      "/cluster",
    );
    equal(cluster_.members.length, 3);
    assert(cluster_.leader >= 1);
    const health = await node.fetch("/health");
    equal(health.status, 200);
    deepEqual(await health.json(), { health: true });
    const metrics = await node.fetch("/metrics");
    equal(metrics.status, 200);
    match(await metrics.text(), /raftkv_applied_entries_total/);
  } finally {
    await cluster.stop();
  }
});

Deno.test("without a quorum a write is refused with 503 and Retry-After, and never applies", async () => {
  const cluster = await TestCluster.start({ nodes: 3 });
  try {
    await cluster.waitForLeader();
    // Leave node 1 alone: with two of three gone it cannot know a leader for long.
    await cluster.node(2).kill();
    await cluster.node(3).kill();
    const lonely = cluster.node(1);
    // A write sent while node 1 still believed in a leader could time out (504) and apply later,
    // so wait until it knows it has none.
    const deadline = Date.now() + 15_000;
    let health = await lonely.fetch("/health");
    while (health.status !== 503 && Date.now() < deadline) {
      await health.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 100));
      health = await lonely.fetch("/health");
    }
    equal(health.status, 503);
    await health.body?.cancel();
    const response = await lonely.fetch("/kv/orphan", { method: "PUT", body: "x" });
    equal(response.status, 503);
    assert(response.headers.get("retry-after"));
    await errorBody(response);
    // Bring the others back: the refused write must not appear.
    cluster.node(2).start();
    cluster.node(3).start();
    const leader = await cluster.waitForLeader();
    const read = await leader.fetch("/kv/orphan");
    equal(read.status, 404);
    await read.body?.cancel();
  } finally {
    await cluster.stop();
  }
});
