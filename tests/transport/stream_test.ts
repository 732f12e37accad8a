/** The message stream (GET /raft/stream, a WebSocket per peer) on its own terms. */

import assert from "node:assert/strict";
import {
  encodeBatch,
  HEADER_CLUSTER_ID,
  HEADER_FROM,
  HEADER_TO,
  HttpTransport,
  STREAM_PATH,
} from "../../transport/mod.ts";
import { type Message, MessageType } from "../../raft/types.ts";
import {
  append,
  heartbeat,
  serve,
  startNodes,
  stopNodes,
  type TestNode,
  until,
} from "./harness.ts";

function headers(from: number, to: number, clusterId = "test-cluster"): Record<string, string> {
  return { [HEADER_CLUSTER_ID]: clusterId, [HEADER_FROM]: String(from), [HEADER_TO]: String(to) };
}

/** A raw WebSocket to a node's stream route, as a peer (or an impostor) would open it. */
async function rawStream(
  node: TestNode,
  h: Record<string, string>,
): Promise<{ ws: WebSocket; closed: Promise<CloseEvent> }> {
  const ws = new WebSocket(node.url.replace("http", "ws") + STREAM_PATH, { headers: h });
  ws.binaryType = "arraybuffer";
  const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = (e) => reject(new Error(`stream did not open: ${(e as ErrorEvent).message}`));
  });
  return { ws, closed };
}

/** A fresh transport and listener for `node` on the port it had, as after a process restart. */
function restart(node: TestNode, peers: TestNode[], port: number): void {
  node.received = [];
  node.transport = new HttpTransport({
    id: node.id,
    clusterId: "test-cluster",
    peers: new Map(peers.map((p) => [p.id, p.url])),
    onMessage: (m) => node.received.push(m),
    onUnreachable: (peer) => node.unreachable.push(peer),
    onSnapshotStatus: (peer, status) => node.snapshotStatuses.push([peer, status]),
  });
  node.server = serve((req) => node.transport.handler(req), port);
}

Deno.test("a restarted peer is reported unreachable, the stream reconnects and messages flow again", async () => {
  const nodes = startNodes([1, 2], { backoffMinMs: 20, backoffMaxMs: 100 });
  const [n1, n2] = nodes as [TestNode, TestNode];
  try {
    for (let i = 0; i < 50; i++) n1.transport.send([append(1, 2, i, 1)]);
    await until(() => n2.received.length === 50, "deliveries before the restart");
    assert.deepStrictEqual(
      n2.received.map((m) => m.index),
      Array.from({ length: 50 }, (_, i) => i),
    );

    const port = n2.server.addr.port;
    await n2.transport.close();
    await n2.server.shutdown();
    await until(() => n1.unreachable.length >= 1, "unreachable report after the peer went away");
    assert.ok(n1.unreachable.every((id) => id === 2));
    assert.ok(n1.transport.stats().peers[0]!.sendFailures >= 1);

    restart(n2, [n1], port);
    // Raft keeps sending heartbeats; so do we, until one arrives on the new stream.
    let commit = 100;
    await until(() => {
      n1.transport.send([heartbeat(1, 2, commit++)]);
      return n2.received.length > 0;
    }, "delivery after the restart");
    await until(() => n1.transport.stats().peers[0]!.backoffMs === 0, "backoff reset");
    // Heartbeats of the loop above may still be arriving: look at the appends only.
    const appends = () => n2.received.filter((m) => m.type === 3);
    for (let i = 0; i < 50; i++) n1.transport.send([append(1, 2, 1000 + i, 1)]);
    await until(() => appends().length === 50, "deliveries after the restart");
    assert.deepStrictEqual(
      appends().map((m) => m.index),
      Array.from({ length: 50 }, (_, i) => 1000 + i),
    );
    assert.equal(n2.transport.stats().streamsReceiving, 1);
  } finally {
    await stopNodes(nodes);
  }
});

Deno.test("a stream of another cluster or for another node is refused with 412 before the upgrade", async () => {
  const [a] = startNodes([1]);
  const [b] = startNodes([2], { clusterId: "other-cluster" });
  assert.ok(a && b);
  try {
    b.transport.addPeer(1, a.url);
    b.transport.send([heartbeat(2, 1)]);
    await until(() => b.unreachable.length === 1, "unreachable report");
    assert.deepStrictEqual(b.unreachable, [1]);
    assert.equal(b.transport.stats().peers[0]!.sendFailures, 1);

    const upgrade = { upgrade: "websocket", connection: "upgrade", "sec-websocket-version": "13" };
    const tryUpgrade = async (h: Record<string, string>) => {
      const res = await fetch(a.url + STREAM_PATH, {
        headers: { ...h, ...upgrade, "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" },
      });
      const body = await res.json();
      return [res.status, body.error.code];
    };
    assert.deepStrictEqual(await tryUpgrade(headers(2, 1, "other-cluster")), [
      412,
      "cluster_id_mismatch",
    ]);
    assert.deepStrictEqual(await tryUpgrade(headers(2, 9)), [412, "node_id_mismatch"]);
    // No upgrade header, or another method: refused as well.
    const plain = await fetch(a.url + STREAM_PATH, { headers: headers(2, 1) });
    assert.equal(plain.status, 426);
    await plain.body?.cancel();
    const post = await fetch(a.url + STREAM_PATH, { method: "POST", headers: headers(2, 1) });
    assert.equal(post.status, 405);
    await post.body?.cancel();
    assert.equal(a.received.length, 0);
    assert.equal(a.transport.stats().streamsReceiving, 0);
  } finally {
    await stopNodes([a, b]);
  }
});

Deno.test("garbage, text and misaddressed frames close the stream with 1008; the node keeps serving", async () => {
  const nodes = startNodes([1, 2]);
  const [n1, n2] = nodes as [TestNode, TestNode];
  try {
    const garbage = new Uint8Array(300);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 131 + 7) & 0xff;
    const frames: Array<string | Uint8Array<ArrayBuffer>> = [
      garbage,
      new Uint8Array(0),
      "hello",
      encodeBatch([heartbeat(2, 3)]), // for another node
      encodeBatch([heartbeat(3, 1)]), // from another sender than the stream's
    ];
    for (const frame of frames) {
      const { ws, closed } = await rawStream(n1, headers(2, 1));
      ws.send(frame);
      const e = await closed;
      assert.equal(e.code, 1008, `close code for ${String(frame).slice(0, 20)}`);
      assert.ok(e.reason.length > 0);
    }
    assert.equal(n1.received.length, 0);
    assert.equal(n1.transport.stats().requestsRejected, frames.length);

    // A good frame on a fresh raw stream, then the real transport's own stream.
    const { ws, closed } = await rawStream(n1, headers(2, 1));
    ws.send(encodeBatch([heartbeat(2, 1, 41)]));
    await until(() => n1.received.length === 1, "delivery on a fresh stream");
    n2.transport.send([heartbeat(2, 1, 42)]);
    await until(() => n1.received.length === 2, "delivery on the transport's stream");
    assert.deepStrictEqual(n1.received.map((m) => m.commit), [41, 42]);
    // The transport's stream from node 2 replaced the raw one.
    assert.equal((await closed).code, 4000);
    assert.equal(n1.transport.stats().streamsReceiving, 1);
  } finally {
    await stopNodes(nodes);
  }
});

Deno.test("close() closes streams both ways and leaves nothing pending", async () => {
  const nodes = startNodes([1, 2, 3], { backoffMinMs: 20 });
  const [n1, n2, n3] = nodes as [TestNode, TestNode, TestNode];
  try {
    const all: Message[] = [];
    for (const a of nodes) for (const b of nodes) if (a !== b) all.push(heartbeat(a.id, b.id));
    for (const n of nodes) n.transport.send(all.filter((m) => m.from === n.id));
    await until(() => nodes.every((n) => n.received.length === 2), "every stream open");
    assert.deepStrictEqual(nodes.map((n) => n.transport.stats().streamsReceiving), [2, 2, 2]);

    await Promise.all([n1.transport.close(), n1.transport.close()]);
    // Its peers see their streams to it closed, and its streams to them are gone.
    await until(
      () => [n2, n3].every((n) => n.unreachable.includes(1)),
      "the others see node 1 go away",
    );
    await until(
      () => [n2, n3].every((n) => n.transport.stats().streamsReceiving === 1),
      "streams from node 1 closed",
    );
    assert.deepStrictEqual(n1.unreachable, []);
    n1.transport.send([heartbeat(1, 2)]); // ignored after close
    const res = await fetch(n1.url + STREAM_PATH, {
      headers: { ...headers(2, 1), upgrade: "websocket", connection: "upgrade" },
    });
    assert.equal(res.status, 503);
    await res.body?.cancel();
    // The test sanitizers check that no socket, timer or request is left behind.
  } finally {
    await stopNodes(nodes);
  }
});

/** A proposal a follower forwards to the leader. */
function proposal(from: number, to: number, n: number): Message {
  const m = heartbeat(from, to);
  m.type = MessageType.MsgProp;
  m.term = 0;
  m.entries = [{ term: 0, index: 0, type: 0, data: new Uint8Array([n]) }];
  return m;
}

Deno.test("proposals sent in separate tasks of one turn go as one message; any other message goes at once", async () => {
  const nodes = startNodes([1, 2]);
  const [n1, n2] = nodes as [TestNode, TestNode];
  const batchesTo2 = () => n1.transport.stats().peers.find((p) => p.id === 2)!.batchesSent;
  try {
    n1.transport.send([heartbeat(1, 2)]);
    await until(() => n2.received.length === 1 && batchesTo2() === 1, "the stream is open");

    // Each a task of its own, as requests are: a microtask flush would send three frames.
    for (let n = 0; n < 3; n++) {
      n1.transport.send([proposal(1, 2, n)]);
      await Promise.resolve();
    }
    await until(() => n2.received.length === 2, "the proposals");
    assert.equal(batchesTo2(), 2);
    // Queued back to back, they went as one proposal of three entries, in order.
    assert.equal(n2.received[1]!.type, MessageType.MsgProp);
    assert.deepStrictEqual(n2.received[1]!.entries.map((e) => e.data[0]), [0, 1, 2]);

    // A heartbeat does not wait for the turn to end, and takes the proposal before it along.
    n1.transport.send([proposal(1, 2, 3)]);
    await Promise.resolve();
    n1.transport.send([heartbeat(1, 2)]);
    await Promise.resolve();
    assert.equal(batchesTo2(), 3, "flushed in a microtask, before the turn ended");
    await until(() => n2.received.length === 4, "the proposal and the heartbeat");
    assert.deepStrictEqual(
      n2.received.slice(2).map((m) => m.type),
      [MessageType.MsgProp, MessageType.MsgHeartbeat],
    );
    assert.equal(batchesTo2(), 3);
  } finally {
    await stopNodes(nodes);
  }
});
