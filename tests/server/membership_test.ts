/**
 * Membership through the REST API on real processes: add a node and start it with --join, remove
 * one (it exits 0), promote a learner, move leadership.
 */
import { deepEqual, equal, ok as assert } from "node:assert/strict";
import { eventually, TestCluster } from "./harness.ts";

interface MemberList {
  members: { id: number; peerURL: string; learner: boolean }[];
}

Deno.test("a fourth node added with POST /cluster/members and --join serves reads; a removed node exits 0", async () => {
  const cluster = await TestCluster.start();
  try {
    const leader = await cluster.waitForLeader();
    const first = await leader.fetch("/kv/before-join", { method: "PUT", body: "old" });
    equal(first.status, 200);
    await first.body?.cancel();

    const fourth = cluster.addSpec(4);
    const follower = cluster.nodes.find((node) => node !== leader && node.id !== 4)!;
    const added = await follower.fetch("/cluster/members", {
      method: "POST",
      body: JSON.stringify({ id: 4, peerURL: fourth.peerURL }),
      headers: { "content-type": "application/json" },
    });
    const addedText = await added.text();
    equal(added.status, 201, addedText);
    const list = JSON.parse(addedText) as MemberList | MemberList["members"];
    const members = Array.isArray(list) ? list : list.members;
    deepEqual(members.find((member) => member.id === 4), {
      id: 4,
      peerURL: fourth.peerURL,
      learner: false,
    });

    fourth.start(["--join"]);
    await eventually("the new node to know the leader", async () => {
      const response = await fourth.fetch("/health");
      await response.body?.cancel();
      return response.status === 200 || undefined;
    });
    const put = await fourth.fetch("/kv/after-join", { method: "PUT", body: "new" });
    equal(put.status, 200, await put.clone().text());
    for (const key of ["before-join", "after-join"]) {
      const get = await fourth.fetch(`/kv/${key}`);
      equal(get.status, 200, key);
      await get.body?.cancel();
    }

    // Remove a follower that is not the leader: it stops serving and exits 0.
    const victim = cluster.nodes.find((node) => node !== leader && node.id !== 4)!;
    const removed = await leader.fetch(`/cluster/members/${victim.id}`, { method: "DELETE" });
    equal(removed.status, 200, await removed.clone().text());
    const exit = await victim.exited(20_000);
    equal(exit.code, 0, victim.log);
    const info = await leader.json<MemberList>("/cluster");
    deepEqual(
      info.members.map((member) => member.id).sort(),
      [1, 2, 3, 4].filter((id) => id !== victim.id),
    );
    const gone = await leader.fetch(`/cluster/members/${victim.id}`, { method: "DELETE" });
    equal(gone.status, 404);
    await gone.body?.cancel();
  } finally {
    await cluster.stop();
  }
});

Deno.test("POST /cluster/leader moves leadership to the named node", async () => {
  const cluster = await TestCluster.start();
  try {
    const leader = await cluster.waitForLeader();
    const target = cluster.nodes.find((node) => node !== leader)!;
    const response = await leader.fetch("/cluster/leader", {
      method: "POST",
      body: JSON.stringify({ id: target.id }),
      headers: { "content-type": "application/json" },
    });
    equal(response.status, 200, await response.clone().text());
    await response.body?.cancel();
    const status = await target.status();
    equal(status.role, "leader");
    const now = await cluster.waitForLeader();
    equal(now.id, target.id);
    const unknown = await leader.fetch("/cluster/leader", {
      method: "POST",
      body: JSON.stringify({ id: 99 }),
    });
    equal(unknown.status, 404);
    await unknown.body?.cancel();
  } finally {
    await cluster.stop();
  }
});

Deno.test("a learner added with learner=true is promoted once caught up", async () => {
  const cluster = await TestCluster.start();
  try {
    const leader = await cluster.waitForLeader();
    const learner = cluster.addSpec(4);
    const added = await leader.fetch("/cluster/members", {
      method: "POST",
      body: JSON.stringify({ id: 4, peerURL: learner.peerURL, learner: true }),
    });
    equal(added.status, 201, await added.clone().text());
    await added.body?.cancel();
    learner.start(["--join"]);
    const promoted = await eventually("the learner to be promoted", async () => {
      const response = await leader.fetch("/cluster/members/4/promote", { method: "POST" });
      const text = await response.text();
      return response.status === 200 ? text : undefined;
    });
    assert(promoted.length > 0);
    const info = await leader.json<MemberList>("/cluster");
    equal(info.members.find((member) => member.id === 4)?.learner, false);
  } finally {
    await cluster.stop();
  }
});

Deno.test("a leader that removes itself steps down and exits 0; the others elect a new leader", async () => {
  const cluster = await TestCluster.start();
  try {
    const leader = await cluster.waitForLeader();
    const removed = await leader.fetch(`/cluster/members/${leader.id}`, { method: "DELETE" });
    equal(removed.status, 200, await removed.clone().text());
    await removed.body?.cancel();
    equal((await leader.exited(20_000)).code, 0, leader.log);
    const next = await cluster.waitForLeader();
    assert(next.id !== leader.id);
    const info = await next.json<MemberList>("/cluster");
    equal(info.members.some((member) => member.id === leader.id), false);
    const put = await next.fetch("/kv/after-removal", { method: "PUT", body: "ok" });
    equal(put.status, 200, await put.clone().text());
    await put.body?.cancel();
  } finally {
    await cluster.stop();
  }
});
