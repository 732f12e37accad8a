/**
 * The REST API of SPEC.md as a Hono app over a `KvService`. Tested in-process with
 * `app.request()`; the server mounts `app.fetch` on the client port.
 *
 * Every error is `{"error": {"code", "message"}}` (412 adds `currentRevision`), produced by the one
 * `onError` below from the named errors of errors.ts. Limits: request bodies (`valueBytesMax`,
 * 1 MiB by default; 64 KiB for JSON bodies), range `limit` (default 1000, at most 10000: larger
 * asks are clamped and answered with `more`), query parameters (64), If-Match lists (64 tags).
 *
 * Keys are the raw path after `/kv/`, percent-decoded to bytes (so `%FF` is the byte 0xff); the
 * URL parser has already resolved `.` and `..` segments. In the query, `+` is a space (form
 * encoding) and `prefix` is percent-decoded to bytes the same way. Range items carry keys and
 * values as UTF-8 text (invalid sequences become U+FFFD) unless `encoding=base64`.
 */
import { Buffer } from "node:buffer";
import { Hono } from "hono";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { type Logger, silentLogger } from "../raft/logger.ts";
import type { KvCondition } from "./command.ts";
import {
  BadRequestError,
  ConflictError,
  NoLeaderError,
  NotFoundError,
  NotReadyError,
  PayloadTooLargeError,
  PreconditionFailedError,
  RequestTimeoutError,
} from "./errors.ts";
import {
  etag,
  keyFromUrl,
  parseEtagList,
  parseId,
  percentDecodeBytes,
  queryText,
  rawQuery,
  readBodyLimited,
  readJsonObject,
} from "./http_parse.ts";
import { RANGE_LIMIT_MAX } from "./store.ts";
import type { Consistency, KvService, Member, ReadOptions } from "./service.ts";

export const VALUE_BYTES_MAX_DEFAULT = 1024 * 1024;
export const RANGE_LIMIT_DEFAULT = 1000;
export const RANGE_LIMIT_CAP_DEFAULT = 10000;
const JSON_BODY_BYTES_MAX = 64 * 1024;
const PEER_URL_CHARS_MAX = 2048;

export interface CreateAppOptions {
  /** Largest value a PUT accepts, in bytes (1 MiB by default). */
  valueBytesMax?: number;
  /** Items a range returns when the request names no `limit` (1000). */
  rangeLimitDefault?: number;
  /** Most items one range returns; larger `limit`s are clamped (10000). */
  rangeLimitMax?: number;
  /** Where unexpected errors (500s) are logged. */
  logger?: Logger;
}

const utf8Lossy = new TextDecoder();

function errorBody(code: string, message: string, extra?: Record<string, unknown>) {
  return { error: { code, message, ...extra } };
}

/**
 * What Hono's `c.json(body, status, headers)` answers, header names included: Content-Type alone
 * goes as given, with more headers they go through a `Headers` (lower-cased names).
 */
function json(body: unknown, status: number, headers?: Record<string, string>): Response {
  const text = JSON.stringify(body);
  if (headers === undefined || Object.keys(headers).length === 0) {
    return new Response(text, { status, headers: { "Content-Type": "application/json" } });
  }
  const all = new Headers();
  all.set("Content-Type", "application/json");
  for (const [name, value] of Object.entries(headers)) all.set(name, value);
  return new Response(text, { status, headers: all });
}

function readOptions(params: Map<string, string>): ReadOptions {
  const raw = params.get("consistency");
  if (raw === undefined) return { consistency: "linearizable" };
  const value = queryText(raw);
  if (value !== "linearizable" && value !== "serializable") {
    throw new BadRequestError(
      `consistency must be "linearizable" or "serializable", got ${JSON.stringify(value)}`,
    );
  }
  return { consistency: value satisfies Consistency };
}

function parseLimit(raw: string | undefined, byDefault: number, max: number): number {
  if (raw === undefined) return byDefault;
  const text = queryText(raw);
  if (!/^\d{1,16}$/.test(text) || Number(text) < 1) {
    throw new BadRequestError(`limit must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return Math.min(Number(text), max);
}

/** The write condition of a PUT or DELETE from If-Match / If-None-Match. */
function writeCondition(headers: Headers, method: "PUT" | "DELETE"): KvCondition | undefined {
  const ifMatch = headers.get("if-match") ?? undefined;
  const ifNoneMatch = headers.get("if-none-match") ?? undefined;
  if (ifMatch !== undefined && ifNoneMatch !== undefined) {
    throw new BadRequestError("Use If-Match or If-None-Match, not both");
  }
  if (ifMatch !== undefined) {
    if (ifMatch.trim() === "*") return { ifMatch: "*" };
    const list = parseEtagList(ifMatch, "If-Match");
    return list.length === 1 ? { ifMatch: list[0]! } : { ifMatch: list };
  }
  if (ifNoneMatch !== undefined) {
    if (method === "DELETE") throw new BadRequestError("DELETE does not take If-None-Match");
    if (ifNoneMatch.trim() !== "*") {
      throw new BadRequestError('PUT takes only "If-None-Match: *" (create if absent)');
    }
    return { ifNoneMatch: true };
  }
  return undefined;
}

function methodNotAllowed(allowed: string) {
  return (c: Context) =>
    c.json(
      errorBody("method_not_allowed", `${c.req.method} is not allowed on ${c.req.path}`),
      405,
      { Allow: allowed },
    );
}

function checkMember(body: Record<string, unknown>): Member {
  const id = parseId(body.id, "id");
  const peerURL = body.peerURL;
  if (typeof peerURL !== "string" || peerURL.length > PEER_URL_CHARS_MAX) {
    throw new BadRequestError(
      `peerURL must be a URL string of at most ${PEER_URL_CHARS_MAX} chars`,
    );
  }
  let url: URL;
  try {
    url = new URL(peerURL);
  } catch {
    throw new BadRequestError(`peerURL is not a URL: ${JSON.stringify(peerURL)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new BadRequestError(`peerURL must be http or https, got ${JSON.stringify(peerURL)}`);
  }
  const learner = body.learner ?? false;
  if (typeof learner !== "boolean") {
    throw new BadRequestError(`learner must be a boolean, got ${JSON.stringify(learner)}`);
  }
  return { id, peerURL, learner };
}

/** Builds the REST API app. `service` is the node (or a fake in tests). */
export function createApp(service: KvService, options?: CreateAppOptions): Hono {
  const valueBytesMax = options?.valueBytesMax ?? VALUE_BYTES_MAX_DEFAULT;
  const rangeLimitMax = options?.rangeLimitMax ?? RANGE_LIMIT_CAP_DEFAULT;
  const rangeLimitDefault = Math.min(
    options?.rangeLimitDefault ?? RANGE_LIMIT_DEFAULT,
    rangeLimitMax,
  );
  const logger = options?.logger ?? silentLogger;
  if (!Number.isSafeInteger(valueBytesMax) || valueBytesMax < 0) {
    throw new RangeError(`valueBytesMax must be an integer >= 0, got ${valueBytesMax}`);
  }
  if (
    !Number.isSafeInteger(rangeLimitMax) || rangeLimitMax < 1 || rangeLimitMax > RANGE_LIMIT_MAX
  ) {
    throw new RangeError(`rangeLimitMax must be an integer in 1..${RANGE_LIMIT_MAX}`);
  }
  if (!Number.isSafeInteger(rangeLimitDefault) || rangeLimitDefault < 1) {
    throw new RangeError(`rangeLimitDefault must be a positive integer`);
  }

  const app = new Hono();

  app.get("/kv", async (c) => {
    const params = rawQuery(c.req.url);
    const prefix = percentDecodeBytes(params.get("prefix") ?? "", { plusAsSpace: true });
    const limit = parseLimit(params.get("limit"), rangeLimitDefault, rangeLimitMax);
    const encodingRaw = params.get("encoding");
    const encoding = encodingRaw === undefined ? "utf8" : queryText(encodingRaw);
    if (encoding !== "utf8" && encoding !== "base64") {
      throw new BadRequestError(
        `encoding must be "utf8" or "base64", got ${JSON.stringify(encoding)}`,
      );
    }
    const result = await service.range(prefix, limit, readOptions(params));
    const toText = encoding === "base64"
      ? (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64")
      : (b: Uint8Array) => utf8Lossy.decode(b);
    return c.json({
      revision: result.revision,
      items: result.items.map((item) => ({
        key: toText(item.key),
        value: toText(item.value),
        revision: item.revision,
      })),
      more: result.more,
    });
  });

  app.get("/kv/*", async (c) => {
    const key = keyFromUrl(c.req.url);
    const found = await service.get(key, readOptions(rawQuery(c.req.url)));
    if (found === undefined) throw new NotFoundError("Key not found");
    const tag = etag(found.revision);
    const ifNoneMatch = c.req.header("if-none-match");
    if (ifNoneMatch !== undefined) {
      const match = ifNoneMatch.trim() === "*" ||
        parseEtagList(ifNoneMatch, "If-None-Match").includes(found.revision);
      if (match) return c.body(null, 304, { ETag: tag });
    }
    // Store values are never backed by a SharedArrayBuffer.
    return c.body(found.value as Uint8Array<ArrayBuffer>, 200, {
      ETag: tag,
      "Content-Type": "application/octet-stream",
    });
  });

  const put = async (req: Request): Promise<Response> => {
    const key = keyFromUrl(req.url);
    const condition = writeCondition(req.headers, "PUT");
    const value = await readBodyLimited(req, valueBytesMax);
    const { revision } = await service.put(key, value, condition);
    // What c.json({ revision }, 200, { ETag }) answers, without building a Context. Headers are
    // added to the Response rather than passed in its init, whose conversion costs ~4x more.
    const response = new Response(`{"revision":${revision}}`, { status: 200 });
    const headers = response.headers;
    headers.set("content-type", "application/json"); // replaces a string body's text/plain
    headers.set("etag", etag(revision));
    return response;
  };
  app.put("/kv/*", (c) => put(c.req.raw));

  app.delete("/kv/*", async (c) => {
    const key = keyFromUrl(c.req.url);
    const { revision } = await service.delete(key, writeCondition(c.req.raw.headers, "DELETE"));
    return c.json({ revision, deleted: true }, 200);
  });

  app.all("/kv", methodNotAllowed("GET, HEAD"));
  app.all("/kv/*", methodNotAllowed("GET, HEAD, PUT, DELETE"));

  app.get("/cluster", async (c) => c.json(await service.cluster()));
  app.all("/cluster", methodNotAllowed("GET, HEAD"));

  app.post("/cluster/members", async (c) => {
    const member = checkMember(await readJsonObject(c.req.raw, JSON_BODY_BYTES_MAX));
    return c.json({ members: await service.addMember(member) }, 201);
  });
  app.all("/cluster/members", methodNotAllowed("POST"));

  app.post("/cluster/members/:id/promote", async (c) => {
    const id = parseId(c.req.param("id"), "member id");
    return c.json({ members: await service.promoteMember(id) }, 200);
  });
  app.all("/cluster/members/:id/promote", methodNotAllowed("POST"));

  app.delete("/cluster/members/:id", async (c) => {
    const id = parseId(c.req.param("id"), "member id");
    return c.json({ members: await service.removeMember(id) }, 200);
  });
  app.all("/cluster/members/:id", methodNotAllowed("DELETE"));

  app.post("/cluster/leader", async (c) => {
    const body = await readJsonObject(c.req.raw, JSON_BODY_BYTES_MAX);
    const id = parseId(body.id, "id");
    await service.transferLeader(id);
    return c.json({ leader: id }, 200);
  });
  app.all("/cluster/leader", methodNotAllowed("POST"));

  app.get("/status", async (c) => c.json(await service.status()));
  app.all("/status", methodNotAllowed("GET, HEAD"));

  app.get("/health", async (c) => {
    const health = await service.health();
    if (health.healthy) return c.json({ health: true });
    return c.json(
      {
        health: false,
        ...errorBody("unhealthy", health.reason ?? "The node cannot serve"),
      },
      503,
      { "Retry-After": "1" },
    );
  });
  app.all("/health", methodNotAllowed("GET, HEAD"));

  app.get("/metrics", async (c) =>
    c.body(await service.metrics(), 200, {
      "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
    }));
  app.all("/metrics", methodNotAllowed("GET, HEAD"));

  app.notFound((c) =>
    c.json(errorBody("not_found", `No route for ${c.req.method} ${c.req.path}`), 404)
  );

  const errorResponse = (err: Error, method: string, path: string): Response => {
    if (err instanceof BadRequestError) return json(errorBody("bad_request", err.message), 400);
    if (err instanceof NotFoundError) return json(errorBody("not_found", err.message), 404);
    if (err instanceof ConflictError) return json(errorBody("conflict", err.message), 409);
    if (err instanceof PreconditionFailedError) {
      const headers: Record<string, string> = {};
      if (err.currentRevision > 0) headers.ETag = etag(err.currentRevision);
      return json(
        errorBody("precondition_failed", err.message, { currentRevision: err.currentRevision }),
        412,
        headers,
      );
    }
    if (err instanceof PayloadTooLargeError) {
      return json(errorBody("payload_too_large", err.message), 413);
    }
    if (err instanceof NoLeaderError) {
      return json(errorBody("no_leader", err.message), 503, {
        "Retry-After": String(err.retryAfterSeconds),
      });
    }
    if (err instanceof NotReadyError) {
      return json(errorBody("not_ready", err.message), 503, {
        "Retry-After": String(err.retryAfterSeconds),
      });
    }
    if (err instanceof RequestTimeoutError) return json(errorBody("timeout", err.message), 504);
    if (err instanceof HTTPException) {
      return json(errorBody("http_error", err.message || "HTTP error"), err.status);
    }
    logger.error(`Internal error on ${method} ${path}: ${err.stack ?? err.message}`);
    return json(errorBody("internal", "Internal server error"), 500);
  };
  app.onError((err, c) => errorResponse(err, c.req.method, c.req.path));

  return app;
}
