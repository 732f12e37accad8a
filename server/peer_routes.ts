/**
 * The peer port: raft traffic goes to the transport; a few small routes serve the cluster itself.
 *
 *   GET  /raft/cluster        cluster id, leader and members (a joining node asks for them)
 *   GET  /raft/progress/<id>  the leader's view of one follower (promotion checks it)
 *   POST /raft/removed        "you were removed": a removed node may never see the entry that
 *                             removed it, since the leader stops replicating to it
 *   *    /raft/...            the transport's routes
 */
import type { Logger } from "../raft/mod.ts";
import { HEADER_CLUSTER_ID, HEADER_FROM, type HttpTransport } from "../transport/mod.ts";
import type { ServerConfig } from "./flags.ts";
import type { Member } from "./members.ts";
import type { RaftServer } from "./raft_server.ts";

/** How often a removed node that keeps calling is told so. */
const REMOVED_NOTICE_INTERVAL_MS = 1000;

export interface ClusterInfoResponse {
  clusterId: string;
  leader: number;
  members: Member[];
}

export function createPeerHandler(
  deps: { raft: RaftServer; transport: HttpTransport; logger: Logger },
): (request: Request) => Promise<Response> {
  const { raft, transport, logger } = deps;
  const lastNotice = new Map<number, number>();

  const noticeRemoved = (id: number) => {
    const url = raft.members.removedURL(id);
    const now = Date.now();
    if (url === undefined || now - (lastNotice.get(id) ?? 0) < REMOVED_NOTICE_INTERVAL_MS) return;
    lastNotice.set(id, now);
    fetch(`${url}/raft/removed`, {
      method: "POST",
      headers: { [HEADER_CLUSTER_ID]: raft.clusterId, "content-type": "application/json" },
      body: JSON.stringify({ id }),
      signal: AbortSignal.timeout(2000),
    }).then((response) => response.body?.cancel()).catch(() => {});
  };

  return async (request) => {
    const url = new URL(request.url);
    const path = url.pathname;
    if (request.method === "GET" && path === "/raft/cluster") {
      const body: ClusterInfoResponse = {
        clusterId: raft.clusterId,
        leader: raft.leader,
        members: raft.members.list(),
      };
      return Response.json(body);
    }
    const progressMatch = /^\/raft\/progress\/(\d+)$/.exec(path);
    if (request.method === "GET" && progressMatch) {
      const progress = raft.node.status().progress?.get(Number(progressMatch[1]));
      if (progress === undefined) {
        return Response.json({ error: "not the leader" }, { status: 503 });
      }
      return Response.json({ match: progress.match, commitIndex: raft.commitIndex });
    }
    if (request.method === "POST" && path === "/raft/removed") {
      if (request.headers.get(HEADER_CLUSTER_ID) !== raft.clusterId) {
        return Response.json({ error: "cluster id mismatch" }, { status: 412 });
      }
      const body = await request.json().catch(() => ({})) as { id?: unknown };
      if (body.id !== raft.id) return Response.json({ error: "wrong node" }, { status: 400 });
      logger.warn("a peer says this node was removed from the cluster");
      raft.markRemoved();
      return Response.json({ ok: true });
    }
    const from = Number(request.headers.get(HEADER_FROM));
    if (Number.isSafeInteger(from) && raft.members.isRemoved(from)) {
      await request.body?.cancel();
      noticeRemoved(from);
      return Response.json({ error: `node ${from} was removed from the cluster` }, { status: 410 });
    }
    return await transport.handler(request);
  };
}

/** For `--join`: asks the peers named on the command line for the cluster id and members. */
export async function fetchClusterInfo(
  config: ServerConfig,
  logger: Logger,
): Promise<ClusterInfoResponse> {
  const peers = [...config.peers.entries()].filter(([id]) => id !== config.id);
  if (peers.length === 0) throw new Error("Cannot join: --peers names no other member");
  const deadline = Date.now() + 30_000;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    for (const [, url] of peers) {
      try {
        const response = await fetch(`${url}/raft/cluster`, { signal: AbortSignal.timeout(2000) });
        if (response.ok) return await response.json() as ClusterInfoResponse;
        await response.body?.cancel();
      } catch {
        // Try the next peer.
      }
    }
    if (attempt === 0) logger.info("waiting for a member of the cluster to answer");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`Cannot join: no member answered at ${peers.map(([, url]) => url).join(", ")}`);
}
