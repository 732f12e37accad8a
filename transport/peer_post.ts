/**
 * One POST to a peer's listener, as the message pipeline and the snapshot sender make them: the
 * cluster and node headers, a timeout, and the outcome as a short reason (undefined for a 2xx).
 */
import { readTextPrefix } from "./body.ts";
import type { SenderContext } from "./peer_sender.ts";
import { HEADER_CLUSTER_ID, HEADER_FROM, HEADER_TO } from "./protocol.ts";

/** Longest response text kept for a log line. */
const ERROR_TEXT_BYTES_MAX = 512;

export async function postToPeer(options: {
  ctx: SenderContext;
  to: number;
  url: string;
  body: BodyInit;
  headers?: Record<string, string>;
  /** Aborts the request: `stop()`, or the timeout below. */
  controller: AbortController;
  timeoutMs: number;
}): Promise<string | undefined> {
  const { ctx, controller } = options;
  const timer = setTimeout(() => {
    controller.abort(new Error(`timed out after ${options.timeoutMs} ms`));
  }, options.timeoutMs);
  try {
    const res = await fetch(options.url, {
      method: "POST",
      body: options.body,
      headers: {
        "content-type": "application/octet-stream",
        ...options.headers,
        [HEADER_CLUSTER_ID]: ctx.clusterId,
        [HEADER_FROM]: String(ctx.localId),
        [HEADER_TO]: String(options.to),
      },
      signal: controller.signal,
      client: ctx.client,
    });
    if (res.ok) {
      await res.body?.cancel();
      return undefined;
    }
    return `HTTP ${res.status}: ${await readTextPrefix(res, ERROR_TEXT_BYTES_MAX)}`;
  } catch (e) {
    return controller.signal.aborted && controller.signal.reason instanceof Error
      ? controller.signal.reason.message
      : String(e);
  } finally {
    clearTimeout(timer);
  }
}
