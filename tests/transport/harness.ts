/** Transports on 127.0.0.1 for the tests: each with its own Deno.serve listener on port 0. */

import { HttpTransport, type HttpTransportOptions } from "../../transport/mod.ts";
import type { Message, SnapshotStatus } from "../../raft/types.ts";

export interface TestNode {
  id: number;
  transport: HttpTransport;
  server: Deno.HttpServer<Deno.NetAddr>;
  url: string;
  received: Message[];
  unreachable: number[];
  snapshotStatuses: Array<[number, SnapshotStatus]>;
}

export type NodeOptions = Partial<Omit<HttpTransportOptions, "id" | "peers">>;

export function serve(
  handler: (req: Request) => Response | Promise<Response>,
  port = 0,
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, handler);
}

/** Starts nodes with the given ids, each knowing all the others as peers. */
export function startNodes(ids: number[], options: NodeOptions = {}): TestNode[] {
  const nodes: TestNode[] = [];
  for (const id of ids) {
    const node = {
      id,
      received: [],
      unreachable: [],
      snapshotStatuses: [],
    } as unknown as TestNode;
    node.transport = new HttpTransport({
      clusterId: "test-cluster",
      ...options,
      id,
      peers: new Map(),
      onMessage: (m) => node.received.push(m),
      onUnreachable: (peer) => node.unreachable.push(peer),
      onSnapshotStatus: (peer, status) => node.snapshotStatuses.push([peer, status]),
    });
    node.server = serve((req) => node.transport.handler(req));
    node.url = `http://127.0.0.1:${node.server.addr.port}`;
    nodes.push(node);
  }
  for (const a of nodes) for (const b of nodes) a.transport.addPeer(b.id, b.url);
  return nodes;
}

export async function stopNodes(nodes: TestNode[]): Promise<void> {
  for (const n of nodes) await n.transport.close();
  for (const n of nodes) await n.server.shutdown();
}

/** Waits until `cond()` holds; fails naming `what` after `limitMs` (a liveness bound only). */
export async function until(cond: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function heartbeat(from: number, to: number, commit = 0): Message {
  return {
    type: 8,
    to,
    from,
    term: 1,
    logTerm: 0,
    index: 0,
    entries: [],
    commit,
    reject: false,
    rejectHint: 0,
    context: new Uint8Array(0),
  };
}

export function append(from: number, to: number, index: number, entries: number, bytes = 16) {
  const m = heartbeat(from, to, index);
  m.type = 3;
  m.index = index;
  m.logTerm = 1;
  m.entries = Array.from({ length: entries }, (_, i) => ({
    term: 1,
    index: index + 1 + i,
    type: 0 as const,
    data: new Uint8Array(bytes).fill((index + i) & 0xff),
  }));
  return m;
}
