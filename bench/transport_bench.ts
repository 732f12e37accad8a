/**
 * Transport speed: the codec on a typical MsgApp, and messages per second between two transports
 * on loopback, over the WebSocket stream (the default) and over POST batches
 * (`deno bench -A bench/transport_bench.ts`; messages/s = MESSAGES / time per iter), and round
 * trips per second of one message and its answer at a time, as raft's MsgApp and MsgAppResp go
 * under light load (round trips/s = ROUND_TRIPS / time per iter); the connection is warmed up
 * before the clock starts.
 */

import {
  decodeBatch,
  decodeMessage,
  encodeBatch,
  encodeMessage,
  HttpTransport,
} from "../transport/mod.ts";
import type { Message } from "../raft/types.ts";

function msgApp(entries: number, bytes: number, index = 1000): Message {
  return {
    type: 3,
    to: 2,
    from: 1,
    term: 7,
    logTerm: 7,
    index,
    entries: Array.from({ length: entries }, (_, i) => ({
      term: 7,
      index: index + 1 + i,
      type: 0 as const,
      data: new Uint8Array(bytes).fill(i),
    })),
    commit: index,
    reject: false,
    rejectHint: 0,
    context: new Uint8Array(0),
  };
}

const app64 = msgApp(64, 256);
const app64Bytes = encodeMessage(app64);
const batch16 = Array.from({ length: 16 }, (_, i) => msgApp(4, 256, i * 4));
const batch16Bytes = encodeBatch(batch16);

Deno.bench("encode MsgApp, 64 entries of 256 B", { group: "codec", baseline: true }, () => {
  encodeMessage(app64);
});
Deno.bench("decode MsgApp, 64 entries of 256 B", { group: "codec" }, () => {
  decodeMessage(app64Bytes);
});
Deno.bench("encode batch of 16 MsgApp x 4 entries", { group: "codec" }, () => {
  encodeBatch(batch16);
});
Deno.bench("decode batch of 16 MsgApp x 4 entries", { group: "codec" }, () => {
  decodeBatch(batch16Bytes);
});

const MESSAGES = 20_000;
/** Messages sent but not yet delivered, as raft's inflight limits would bound them. */
const WINDOW = 1024;

async function pair(
  b: Deno.BenchContext,
  stream: boolean,
  make: (i: number) => Message,
): Promise<void> {
  let received = 0;
  let wake: (() => void) | undefined;
  const noop = () => {};
  const t2 = new HttpTransport({
    id: 2,
    clusterId: "bench",
    peers: new Map(),
    onMessage() {
      received++;
      if (wake !== undefined && (MESSAGES - received === 0 || received % 64 === 0)) {
        const w = wake;
        wake = undefined;
        w();
      }
    },
    onUnreachable: noop,
    onSnapshotStatus: noop,
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => t2.handler(req),
  );
  const t1 = new HttpTransport({
    id: 1,
    clusterId: "bench",
    peers: new Map([[2, `http://127.0.0.1:${server.addr.port}`]]),
    stream,
    onMessage: noop,
    onUnreachable: noop,
    onSnapshotStatus: noop,
  });
  const messages = Array.from({ length: 64 }, (_, i) => make(i));
  b.start();
  let sent = 0;
  while (received < MESSAGES) {
    while (sent < MESSAGES && sent - received < WINDOW) {
      t1.send(messages);
      sent += messages.length;
    }
    await new Promise<void>((resolve) => wake = resolve);
  }
  b.end();
  await t1.close();
  await t2.close();
  await server.shutdown();
}

for (const stream of [true, false]) {
  const over = stream ? "stream" : "POST batches";
  Deno.bench(
    `loopback ${over}: ${MESSAGES} heartbeats, 1 -> 2`,
    { group: "loopback heartbeats", n: 10, warmup: 2, baseline: stream },
    async (b) => {
      await pair(b, stream, () => ({ ...msgApp(0, 0), type: 8 }));
    },
  );

  Deno.bench(
    `loopback ${over}: ${MESSAGES} MsgApp of 1 entry x 256 B, 1 -> 2`,
    { group: "loopback MsgApp", n: 10, warmup: 2, baseline: stream },
    async (b) => {
      await pair(b, stream, (i) => msgApp(1, 256, i));
    },
  );
}

const ROUND_TRIPS = 2000;

/** One message 1 -> 2 and its answer 2 -> 1, ROUND_TRIPS times, one at a time. */
async function pingPong(b: Deno.BenchContext, stream: boolean): Promise<void> {
  let done = 0;
  let target = 1;
  let finished!: () => void;
  const noop = () => {};
  const ping = msgApp(1, 256); // a MsgApp, 1 -> 2
  const pong: Message = { ...msgApp(0, 0), type: 4, to: 1, from: 2 };
  const t2 = new HttpTransport({
    id: 2,
    clusterId: "bench",
    peers: new Map(),
    stream,
    onMessage: () => t2.send([pong]),
    onUnreachable: noop,
    onSnapshotStatus: noop,
  });
  const server2 = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    t2.handler.bind(t2),
  );
  const t1 = new HttpTransport({
    id: 1,
    clusterId: "bench",
    peers: new Map([[2, `http://127.0.0.1:${server2.addr.port}`]]),
    stream,
    onMessage() {
      if (++done === target) finished();
      else t1.send([ping]);
    },
    onUnreachable: noop,
    onSnapshotStatus: noop,
  });
  const server1 = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    t1.handler.bind(t1),
  );
  t2.addPeer(1, `http://127.0.0.1:${server1.addr.port}`);
  const run = (n: number) =>
    new Promise<void>((resolve) => {
      done = 0;
      target = n;
      finished = resolve;
      t1.send([ping]);
    });
  await run(1); // opens the streams or the pooled connections
  b.start();
  await run(ROUND_TRIPS);
  b.end();
  await t1.close();
  await t2.close();
  await server1.shutdown();
  await server2.shutdown();
}

for (const stream of [true, false]) {
  Deno.bench(
    `ping-pong ${
      stream ? "stream" : "POST batches"
    }: ${ROUND_TRIPS} MsgApp -> MsgAppResp round trips`,
    { group: "ping-pong", n: 5, warmup: 1, baseline: stream },
    async (b) => {
      await pingPong(b, stream);
    },
  );
}
