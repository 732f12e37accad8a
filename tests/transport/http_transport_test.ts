import assert from "node:assert/strict";
import {
  encodeBatch,
  HEADER_CLUSTER_ID,
  HEADER_FROM,
  HEADER_TO,
  HttpTransport,
  MESSAGES_PATH,
  SNAPSHOT_PATH,
} from "../../transport/mod.ts";
import { type Message, SnapshotStatus } from "../../raft/types.ts";
import {
  append,
  heartbeat,
  serve,
  startNodes,
  stopNodes,
  type TestNode,
  until,
} from "./harness.ts";
import { randomBytes, seededRandom } from "./random_messages.ts";

function headers(from: number, to: number, clusterId = "test-cluster"): Record<string, string> {
  return { [HEADER_CLUSTER_ID]: clusterId, [HEADER_FROM]: String(from), [HEADER_TO]: String(to) };
}

/** A peer whose handler never answers until released, as a paused process would. */
function pausedPeer() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let requests = 0;
  const server = serve(async () => {
    requests++;
    await released;
    return new Response(null, { status: 204 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests: () => requests,
    async stop() {
      release();
      await server.shutdown();
    },
  };
}

function byId(nodes: TestNode[], id: number): TestNode {
  const n = nodes.find((n) => n.id === id);
  assert.ok(n);
  return n;
}

for (const stream of [true, false]) {
  const over = stream ? "streams" : "POST batches";
  Deno.test(`three transports exchange messages, in order per peer, over loopback ${over}`, async () => {
    const nodes = startNodes([1, 2, 3], { stream });
    try {
      const [n1, n2, n3] = [byId(nodes, 1), byId(nodes, 2), byId(nodes, 3)];
      const sent: Message[] = [];
      for (let i = 0; i < 200; i++) {
        const batch = [append(1, 2, i * 4, 4), append(1, 3, i * 4, 4)];
        sent.push(...batch);
        n1.transport.send(batch);
      }
      n2.transport.send([heartbeat(2, 1)]);
      n3.transport.send([heartbeat(3, 1), heartbeat(3, 2)]);
      await until(() => n2.received.length === 201 && n3.received.length === 200, "deliveries");
      await until(() => n1.received.length === 2, "replies");
      // The pipeline counts a batch once its response arrives, which is after delivery.
      const sentTo = (id: number) => n1.transport.stats().peers.find((p) => p.id === id);
      await until(() => sentTo(2)?.messagesSent === 200, "sender counters");
      assert.deepStrictEqual(
        n2.received.filter((m) => m.from === 1),
        sent.filter((m) => m.to === 2),
      );
      assert.deepStrictEqual(n3.received, sent.filter((m) => m.to === 3));
      assert.deepStrictEqual(n2.received.filter((m) => m.from === 3), [heartbeat(3, 2)]);

      const s1 = n1.transport.stats();
      const to2 = s1.peers.find((p) => p.id === 2);
      assert.ok(to2);
      assert.equal(to2.messagesSent, 200);
      assert.equal(to2.messagesDropped, 0);
      assert.equal(to2.sendFailures, 0);
      assert.equal(to2.messagesReceived, 1);
      assert.ok(to2.batchesSent >= 1 && to2.batchesSent <= 200);
      const s2 = n2.transport.stats();
      assert.equal(s2.messagesReceived, 201);
      assert.equal(s2.peers.find((p) => p.id === 1)?.bytesReceived, to2.bytesSent);
      assert.deepStrictEqual([n1, n2, n3].map((n) => n.unreachable.length), [0, 0, 0]);
      // One stream per peer that sent: 2 -> 1, 3 -> 1, 1 -> 2, 3 -> 2 and 1 -> 3.
      assert.deepStrictEqual(
        [n1, n2, n3].map((n) => n.transport.stats().streamsReceiving),
        stream ? [2, 2, 1] : [0, 0, 0],
      );
    } finally {
      await stopNodes(nodes);
    }
  });
}

Deno.test("a 48 MiB snapshot goes on its own route and reports Finish; heartbeats still flow", async () => {
  const nodes = startNodes([1, 2]);
  try {
    const [n1, n2] = [byId(nodes, 1), byId(nodes, 2)];
    const data = new Uint8Array(48 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data[i] = (i / 4096) & 0xff;
    const snap: Message = {
      ...heartbeat(1, 2),
      type: 7,
      snapshot: {
        data,
        metadata: {
          index: 1000,
          term: 3,
          confState: {
            voters: [1, 2, 3],
            learners: [4],
            votersOutgoing: [],
            learnersNext: [],
            autoLeave: false,
          },
        },
      },
    };
    n1.transport.send([snap, heartbeat(1, 2, 5)]);
    await until(() => n1.snapshotStatuses.length === 1, "snapshot status");
    assert.deepStrictEqual(n1.snapshotStatuses, [[2, SnapshotStatus.Finish]]);
    const got = n2.received.find((m) => m.type === 7);
    assert.ok(got?.snapshot);
    assert.deepStrictEqual(got.snapshot.metadata, snap.snapshot!.metadata);
    assert.equal(got.snapshot.data.length, data.length);
    assert.ok(got.snapshot.data.every((b, i) => b === data[i]), "snapshot bytes differ");
    assert.ok(n2.received.some((m) => m.type === 8 && m.commit === 5));
    const stats = n1.transport.stats().peers[0]!;
    assert.equal(stats.snapshotsSent, 1);
    assert.equal(stats.snapshotFailures, 0);
    assert.equal(n2.transport.stats().snapshotsReceived, 1);
  } finally {
    await stopNodes(nodes);
  }
});

Deno.test("a snapshot in flight does not hold up heartbeats to the same peer", async () => {
  const nodes = startNodes([1, 2]);
  const [n1, n2] = [byId(nodes, 1), byId(nodes, 2)];
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let snapshotRequests = 0;
  await n2.server.shutdown();
  n2.server = serve(async (req) => {
    if (new URL(req.url).pathname === SNAPSHOT_PATH) {
      snapshotRequests++;
      await released; // a slow snapshot transfer
    }
    return await n2.transport.handler(req);
  });
  n1.transport.updatePeer(2, `http://127.0.0.1:${n2.server.addr.port}`);
  try {
    const snap: Message = {
      ...heartbeat(1, 2),
      type: 7,
      snapshot: {
        data: new Uint8Array(100_000).fill(9),
        metadata: {
          index: 10,
          term: 2,
          confState: {
            voters: [1, 2],
            learners: [],
            votersOutgoing: [],
            learnersNext: [],
            autoLeave: false,
          },
        },
      },
    };
    n1.transport.send([snap]);
    await until(() => snapshotRequests === 1, "snapshot request started");
    for (let i = 1; i <= 3; i++) {
      n1.transport.send([heartbeat(1, 2, i)]);
      await until(() => n2.received.length === i, `heartbeat ${i} during the snapshot`);
    }
    assert.deepStrictEqual(n1.snapshotStatuses, []);
    // A second snapshot while the first is in flight is refused at once.
    n1.transport.send([snap]);
    await until(() => n1.snapshotStatuses.length === 1, "refusal of the second snapshot");
    assert.deepStrictEqual(n1.snapshotStatuses, [[2, SnapshotStatus.Failure]]);
    release();
    await until(() => n1.snapshotStatuses.length === 2, "snapshot finished");
    assert.deepStrictEqual(n1.snapshotStatuses[1], [2, SnapshotStatus.Finish]);
    assert.equal(n2.received.at(-1)?.type, 7);
    assert.deepStrictEqual(n2.received.at(-1)?.snapshot?.data, snap.snapshot!.data);
  } finally {
    release();
    await stopNodes(nodes);
  }
});

Deno.test("a node of another cluster is refused with 412 and nothing is delivered", async () => {
  const [a] = startNodes([1]);
  const [b] = startNodes([2], { clusterId: "other-cluster" });
  assert.ok(a && b);
  try {
    b.transport.addPeer(1, a.url);
    b.transport.send([heartbeat(2, 1)]);
    await until(() => b.unreachable.length === 1, "unreachable report");
    assert.deepStrictEqual(b.unreachable, [1]);
    assert.equal(a.received.length, 0);

    const res = await fetch(a.url + MESSAGES_PATH, {
      method: "POST",
      headers: headers(2, 1, "other-cluster"),
      body: encodeBatch([heartbeat(2, 1)]),
    });
    assert.equal(res.status, 412);
    const body = await res.json();
    assert.equal(body.error.code, "cluster_id_mismatch");
    assert.match(body.error.message, /other-cluster.*test-cluster/);
    assert.equal(a.received.length, 0);
    assert.equal(b.transport.stats().peers[0]!.sendFailures, 1);
  } finally {
    await stopNodes([a, b]);
  }
});

Deno.test("a peer that goes down is reported unreachable; messages flow again once it is back", async () => {
  const nodes = startNodes([1, 2], { backoffMinMs: 20, backoffMaxMs: 100 });
  const [n1, n2] = [byId(nodes, 1), byId(nodes, 2)];
  try {
    n1.transport.send([heartbeat(1, 2, 1)]);
    await until(() => n2.received.length === 1, "first delivery");
    const port = n2.server.addr.port;
    await n2.server.shutdown();

    for (let i = 0; i < 5; i++) n1.transport.send([heartbeat(1, 2, 2)]);
    await until(() => n1.unreachable.length >= 1, "unreachable report");
    assert.ok(n1.unreachable.every((id) => id === 2));
    assert.ok(n1.transport.stats().peers[0]!.sendFailures >= 1);
    assert.ok(n1.transport.stats().peers[0]!.backoffMs > 0);

    n2.server = serve((req) => n2.transport.handler(req), port);
    // Raft would keep sending heartbeats; so do we, until one arrives after the backoff.
    let commit = 100;
    await until(() => {
      n1.transport.send([heartbeat(1, 2, commit++)]);
      return n2.received.some((m) => m.commit >= 100);
    }, "delivery after the peer came back");
    await until(() => n1.transport.stats().peers[0]!.backoffMs === 0, "backoff reset");
  } finally {
    await stopNodes(nodes);
  }
});

Deno.test("a full queue drops messages at once and reports the peer unreachable (POST batches)", async () => {
  const paused = pausedPeer();
  const [n1] = startNodes([1], { queueMessagesMax: 8, stream: false });
  assert.ok(n1);
  try {
    n1.transport.addPeer(2, paused.url);
    n1.transport.send([heartbeat(1, 2)]); // goes in flight and hangs
    await until(() => paused.requests() === 1, "request in flight");
    const burst = Array.from({ length: 20 }, (_, i) => heartbeat(1, 2, i));
    n1.transport.send(burst); // returns at once: 8 queued, 12 dropped
    const stats = n1.transport.stats().peers[0]!;
    assert.equal(stats.queuedMessages, 8);
    assert.equal(stats.messagesDropped, 12);
    await until(() => n1.unreachable.length === 1, "unreachable report");
    assert.deepStrictEqual(n1.unreachable, [2]);
  } finally {
    await n1.transport.close();
    await n1.server.shutdown();
    await paused.stop();
  }
});

Deno.test("a full queue drops messages at once while the stream connects, without blocking", async () => {
  const paused = pausedPeer(); // accepts the connection, never answers the upgrade
  const [n1] = startNodes([1], { queueMessagesMax: 8, queueBytesMax: 1 << 20 });
  assert.ok(n1);
  try {
    n1.transport.addPeer(2, paused.url);
    n1.transport.send([heartbeat(1, 2)]); // opens the stream, which hangs while connecting
    await until(() => paused.requests() === 1, "upgrade request sent");
    const burst = Array.from({ length: 20 }, (_, i) => heartbeat(1, 2, i));
    const started = performance.now();
    n1.transport.send(burst); // returns at once: 7 more queued, 13 dropped
    assert.ok(performance.now() - started < 50, "send() blocked");
    let stats = n1.transport.stats().peers[0]!;
    assert.equal(stats.queuedMessages, 8);
    assert.equal(stats.messagesDropped, 13);
    // The byte bound too: one large append does not fit the remaining bytes.
    n1.transport.removePeer(2);
    n1.transport.addPeer(2, paused.url);
    n1.transport.send([append(1, 2, 0, 1, 600_000), append(1, 2, 1, 1, 600_000)]);
    stats = n1.transport.stats().peers[0]!;
    assert.equal(stats.queuedMessages, 1);
    assert.equal(stats.messagesDropped, 1);
    await until(() => n1.unreachable.length >= 1, "unreachable report");
    assert.ok(n1.unreachable.every((id) => id === 2));
  } finally {
    await n1.transport.close();
    await n1.server.shutdown();
    await paused.stop();
  }
});

Deno.test("a paused peer times out the batch, which is dropped and reported", async () => {
  const paused = pausedPeer();
  const [n1] = startNodes([1], { requestTimeoutMs: 100, backoffMinMs: 10, stream: false });
  assert.ok(n1);
  try {
    n1.transport.addPeer(2, paused.url);
    n1.transport.send([heartbeat(1, 2)]);
    await until(() => paused.requests() === 1, "request in flight");
    n1.transport.send([heartbeat(1, 2), heartbeat(1, 2)]);
    await until(() => n1.unreachable.length === 1, "unreachable after the timeout");
    const stats = n1.transport.stats().peers[0]!;
    assert.equal(stats.sendFailures, 1);
    assert.equal(stats.messagesDropped, 3);
    assert.equal(stats.queuedMessages, 0);
  } finally {
    await n1.transport.close();
    await n1.server.shutdown();
    await paused.stop();
  }
});

Deno.test("a failed snapshot reports Failure and unreachable", async () => {
  const [n1] = startNodes([1], { backoffMinMs: 10 });
  assert.ok(n1);
  const dead = serve(() => new Response(null, { status: 204 }));
  const deadUrl = `http://127.0.0.1:${dead.addr.port}`;
  await dead.shutdown();
  try {
    n1.transport.addPeer(2, deadUrl);
    const snap: Message = {
      ...heartbeat(1, 2),
      type: 7,
      snapshot: {
        data: new Uint8Array(1000),
        metadata: {
          index: 5,
          term: 1,
          confState: {
            voters: [1],
            learners: [],
            votersOutgoing: [],
            learnersNext: [],
            autoLeave: false,
          },
        },
      },
    };
    n1.transport.send([snap]);
    await until(() => n1.snapshotStatuses.length === 1, "snapshot status");
    assert.deepStrictEqual(n1.snapshotStatuses, [[2, SnapshotStatus.Failure]]);
    await until(() => n1.unreachable.length === 1, "unreachable");
    assert.equal(n1.transport.stats().peers[0]!.snapshotFailures, 1);
  } finally {
    await n1.transport.close();
    await n1.server.shutdown();
  }
});

Deno.test("garbage, misaddressed and oversized requests get 4xx and the server keeps serving", async () => {
  const nodes = startNodes([1, 2], { snapshotBodyBytesMax: 1024 });
  const [n1, n2] = [byId(nodes, 1), byId(nodes, 2)];
  try {
    const post = async (path: string, body: Uint8Array<ArrayBuffer>, h = headers(2, 1)) => {
      const res = await fetch(n1.url + path, { method: "POST", headers: h, body });
      const json = await res.json();
      return [res.status, json.error?.code];
    };
    const garbage = new Uint8Array(300);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 131 + 7) & 0xff;
    assert.deepStrictEqual(await post(MESSAGES_PATH, garbage), [400, "bad_message"]);
    assert.deepStrictEqual(await post(MESSAGES_PATH, new Uint8Array(0)), [400, "bad_message"]);
    assert.deepStrictEqual(await post(SNAPSHOT_PATH, garbage), [400, "bad_message"]);
    // A message inside the batch addressed to another node.
    assert.deepStrictEqual(await post(MESSAGES_PATH, encodeBatch([heartbeat(2, 3)])), [
      400,
      "bad_message",
    ]);
    // A message claiming another sender than the request.
    assert.deepStrictEqual(await post(MESSAGES_PATH, encodeBatch([heartbeat(3, 1)])), [
      400,
      "bad_message",
    ]);
    assert.deepStrictEqual(
      await post(MESSAGES_PATH, encodeBatch([heartbeat(2, 1)]), headers(2, 9)),
      [412, "node_id_mismatch"],
    );
    assert.deepStrictEqual(await post(SNAPSHOT_PATH, new Uint8Array(4096)), [
      413,
      "payload_too_large",
    ]);
    assert.deepStrictEqual(await post("/raft/other", garbage), [404, "not_found"]);
    const get = await fetch(n1.url + MESSAGES_PATH);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
    await get.body?.cancel();
    assert.equal(n1.received.length, 0);
    assert.equal(n1.transport.stats().requestsRejected, 9);

    n2.transport.send([heartbeat(2, 1, 42)]);
    await until(() => n1.received.length === 1, "a valid delivery after the bad ones");
    assert.equal(n1.received[0]!.commit, 42);
  } finally {
    await stopNodes(nodes);
  }
});

Deno.test("peers can be added, moved and removed at runtime", async () => {
  const nodes = startNodes([1, 2, 3]);
  const [n1, n2, n3] = [byId(nodes, 1), byId(nodes, 2), byId(nodes, 3)];
  try {
    n1.transport.removePeer(3);
    assert.equal(n1.transport.hasPeer(3), false);
    n1.transport.send([heartbeat(1, 3)]);
    assert.equal(n1.transport.stats().messagesDroppedUnknownPeer, 1);

    // Node 2 moves to a new listener.
    const moved = serve((req) => n2.transport.handler(req));
    n1.transport.updatePeer(2, `http://127.0.0.1:${moved.addr.port}/`);
    await n2.server.shutdown();
    n2.server = moved;
    n1.transport.send([heartbeat(1, 2, 7)]);
    await until(() => n2.received.length === 1, "delivery to the moved peer");

    n1.transport.addPeer(3, n3.url);
    n1.transport.send([heartbeat(1, 3, 8)]);
    await until(() => n3.received.length === 1, "delivery to the re-added peer");
    assert.throws(() => n1.transport.updatePeer(9, n3.url), RangeError);
    assert.throws(() => n1.transport.addPeer(4, "ftp://x"), TypeError);
  } finally {
    await stopNodes(nodes);
  }
});

Deno.test("close() aborts requests in flight, is idempotent, and no callback follows it", async () => {
  const paused = pausedPeer();
  const [n1] = startNodes([1]);
  assert.ok(n1);
  try {
    n1.transport.addPeer(2, paused.url);
    n1.transport.send([heartbeat(1, 2)]);
    await until(() => paused.requests() === 1, "request in flight");
    n1.transport.send([heartbeat(1, 2)]);
    await Promise.all([n1.transport.close(), n1.transport.close()]);
    n1.transport.send([heartbeat(1, 2)]); // ignored after close
    n1.transport.addPeer(3, paused.url); // ignored after close
    assert.equal(n1.transport.hasPeer(3), false);
    assert.deepStrictEqual(n1.unreachable, []);
    const res = await fetch(n1.url + MESSAGES_PATH, {
      method: "POST",
      headers: headers(2, 1),
      body: encodeBatch([heartbeat(2, 1)]),
    });
    assert.equal(res.status, 503);
    await res.body?.cancel();
  } finally {
    await n1.server.shutdown();
    await paused.stop();
  }
});

Deno.test("constructor options are validated", () => {
  const base = {
    id: 1,
    clusterId: "c",
    peers: new Map<number, string>(),
    onMessage() {},
    onUnreachable() {},
    onSnapshotStatus() {},
  };
  assert.throws(() => new HttpTransport({ ...base, id: 0 }), RangeError);
  assert.throws(() => new HttpTransport({ ...base, clusterId: "a b" }), TypeError);
  assert.throws(() => new HttpTransport({ ...base, queueMessagesMax: 0 }), RangeError);
  assert.throws(() => new HttpTransport({ ...base, peers: new Map([[2, "nope"]]) }), TypeError);
});

Deno.test("an invalid message is dropped and logged, and a throwing onMessage does not fail the request", async () => {
  const errors: string[] = [];
  const logger = { debug() {}, info() {}, warn() {}, error: (m: string) => errors.push(m) };
  const nodes = startNodes([1, 2], { logger });
  const [n1, n2] = [byId(nodes, 1), byId(nodes, 2)];
  try {
    n1.transport.send([{ ...heartbeat(1, 2), term: -1 }, heartbeat(1, 2, 3)]);
    assert.equal(n1.transport.stats().peers[0]!.messagesDropped, 1);
    assert.match(errors[0] ?? "", /Dropped raft message type 8 to node 2: RangeError/);
    await until(() => n2.received.length === 1, "the valid message");

    const seen: Message[] = [];
    const t = new HttpTransport({
      id: 2,
      clusterId: "test-cluster",
      peers: new Map(),
      logger,
      onMessage(m) {
        seen.push(m);
        throw new Error("boom");
      },
      onUnreachable() {},
      onSnapshotStatus() {},
    });
    const res = await t.handler(
      new Request(`${n2.url}${MESSAGES_PATH}`, {
        method: "POST",
        headers: headers(1, 2),
        body: encodeBatch([heartbeat(1, 2), heartbeat(1, 2)]),
      }),
    );
    assert.equal(res.status, 204);
    assert.equal(seen.length, 2);
    assert.ok(errors.some((e) => /onMessage failed.*boom/.test(e)));
    await t.close();
  } finally {
    await stopNodes(nodes);
  }
});

Deno.test("with two batches in flight per peer every message still arrives exactly once", async () => {
  const nodes = startNodes([1, 2], { inflightBatchesMax: 2, batchBytesMax: 2048, stream: false });
  const [n1, n2] = [byId(nodes, 1), byId(nodes, 2)];
  try {
    for (let i = 0; i < 100; i++) n1.transport.send([append(1, 2, i * 2, 2, 100)]);
    await until(() => n2.received.length === 100, "all messages");
    const indexes = n2.received.map((m) => m.index).sort((a, b) => a - b);
    assert.deepStrictEqual(indexes, Array.from({ length: 100 }, (_, i) => i * 2));
    await until(() => n1.transport.stats().peers[0]!.messagesSent === 100, "sender counters");
    assert.ok(n1.transport.stats().peers[0]!.batchesSent >= 2);
  } finally {
    await stopNodes(nodes);
  }
});

Deno.test("random request bodies on either route always get 400, never a crash", async () => {
  const t = new HttpTransport({
    id: 1,
    clusterId: "test-cluster",
    peers: new Map(),
    onMessage() {
      throw new Error("nothing should be delivered");
    },
    onUnreachable() {},
    onSnapshotStatus() {},
  });
  const seed = 777;
  const random = seededRandom(seed);
  for (let i = 0; i < 300; i++) {
    const body = randomBytes(random, 300);
    if (body.length > 0 && random() < 0.7) body[0] = 1;
    const path = random() < 0.5 ? MESSAGES_PATH : SNAPSHOT_PATH;
    const res = await t.handler(
      new Request(`http://127.0.0.1${path}`, { method: "POST", headers: headers(2, 1), body }),
    );
    assert.equal(res.status, 400, `seed ${seed} request ${i}`);
    await res.body?.cancel();
  }
  await t.close();
});

Deno.test("prepareSnapshot gives a MsgSnap its data at send time; the transport frees that data once sent", async () => {
  let prepared: Uint8Array | undefined;
  const rawData = new Uint8Array([1, 2, 3]);
  const nodes = startNodes([1, 2], {
    prepareSnapshot: (m) => {
      prepared = new Uint8Array(1 << 20).fill(9);
      return Promise.resolve({
        ...m,
        snapshot: { metadata: { ...m.snapshot!.metadata, index: 2000 }, data: prepared },
      });
    },
  });
  try {
    const [n1, n2] = [byId(nodes, 1), byId(nodes, 2)];
    const confState = {
      voters: [1, 2],
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    };
    n1.transport.send([{
      ...heartbeat(1, 2),
      type: 7,
      snapshot: { data: rawData, metadata: { index: 1000, term: 3, confState } },
    }]);
    await until(() => n1.snapshotStatuses.length === 1, "snapshot status");
    assert.deepStrictEqual(n1.snapshotStatuses, [[2, SnapshotStatus.Finish]]);
    const got = n2.received.find((m) => m.type === 7);
    assert.equal(got?.snapshot?.metadata.index, 2000);
    assert.equal(got?.snapshot?.data.length, 1 << 20);
    assert.ok(got?.snapshot?.data.every((b) => b === 9));
    assert.equal(prepared?.length, 0, "the prepared data was freed");
    assert.deepStrictEqual([...rawData], [1, 2, 3], "raft's own message is left alone");
  } finally {
    await stopNodes(nodes);
  }
});

Deno.test("the default backoff doubles from 50 ms and stops at 250 ms, so a restarted peer hears soon", async () => {
  const [n1] = startNodes([1]);
  assert.ok(n1);
  const dead = serve(() => new Response(null, { status: 204 }));
  const deadUrl = `http://127.0.0.1:${dead.addr.port}`;
  await dead.shutdown();
  const seen = new Set<number>();
  // Raft sends a heartbeat every tick; so does this, and records each backoff it sees.
  const timer = setInterval(() => {
    n1.transport.send([heartbeat(1, 2)]);
    seen.add(n1.transport.stats().peers[0]!.backoffMs);
  }, 5);
  try {
    n1.transport.addPeer(2, deadUrl);
    await until(() => seen.has(250), "the backoff at its cap");
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.deepStrictEqual([...seen].sort((a, b) => a - b), [0, 50, 100, 200, 250]);
  } finally {
    clearInterval(timer);
    await n1.transport.close();
    await n1.server.shutdown();
  }
});
