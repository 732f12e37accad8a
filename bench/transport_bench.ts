/**
 * Transport speed: the codec on a typical MsgApp, and messages per second between two transports
 * on loopback (`deno bench -A bench/transport_bench.ts`; messages/s = MESSAGES / time per iter).
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

async function pair(b: Deno.BenchContext, make: (i: number) => Message): Promise<void> {
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

Deno.bench(
  `loopback: ${MESSAGES} heartbeats, 1 -> 2`,
  { group: "loopback", n: 10, warmup: 2 },
  async (b) => {
    await pair(b, () => ({ ...msgApp(0, 0), type: 8 }));
  },
);

Deno.bench(
  `loopback: ${MESSAGES} MsgApp of 1 entry x 256 B, 1 -> 2`,
  { group: "loopback", n: 10, warmup: 2 },
  async (b) => {
    await pair(b, (i) => msgApp(1, 256, i));
  },
);
