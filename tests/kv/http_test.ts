import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  BadRequestError,
  createApp,
  NoLeaderError,
  NotReadyError,
  RequestTimeoutError,
} from "../../kv/mod.ts";
import { FakeKvService } from "./fake_service.ts";

const enc = new TextEncoder();

function setup(options?: { valueBytesMax?: number; rangeLimitMax?: number }) {
  const service = new FakeKvService();
  const app = createApp(service, options);
  const req = (path: string, init?: RequestInit) =>
    Promise.resolve(app.request(`http://node${path}`, init));
  return { service, app, req };
}

async function errorOf(
  res: Response,
): Promise<{ code: string; message: string } & Record<string, unknown>> {
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  const body = await res.json();
  assert.equal(typeof body.error.code, "string");
  assert.equal(typeof body.error.message, "string");
  assert.ok(body.error.message.length > 0);
  return body.error;
}

Deno.test("http: PUT then GET returns the value bytes with a strong ETag of the revision", async () => {
  const { req } = setup();
  const put = await req("/kv/app/db", { method: "PUT", body: "hello" });
  assert.equal(put.status, 200);
  assert.deepEqual(await put.json(), { revision: 1 });
  assert.equal(put.headers.get("etag"), '"1"');
  const get = await req("/kv/app/db");
  assert.equal(get.status, 200);
  assert.equal(get.headers.get("etag"), '"1"');
  assert.equal(get.headers.get("content-type"), "application/octet-stream");
  assert.equal(await get.text(), "hello");
  const put2 = await req("/kv/app/db", { method: "PUT", body: "again" });
  assert.deepEqual(await put2.json(), { revision: 2 });
});

Deno.test("http: an empty body stores an empty value", async () => {
  const { req } = setup();
  assert.equal((await req("/kv/e", { method: "PUT" })).status, 200);
  const get = await req("/kv/e");
  assert.equal(get.status, 200);
  assert.equal((await get.arrayBuffer()).byteLength, 0);
});

Deno.test("http: keys are percent-decoded to bytes, binary keys included", async () => {
  const { req, service } = setup();
  await req("/kv/app/db%20host", { method: "PUT", body: "a" });
  assert.equal(new TextDecoder().decode(service.store.get(enc.encode("app/db host"))!.value), "a");
  await req("/kv/%FF%00x", { method: "PUT", body: "bin" });
  assert.ok(service.store.get(new Uint8Array([0xff, 0x00, 0x78])));
  assert.equal(await (await req("/kv/%ff%00x")).text(), "bin");
  // A non-ASCII path is UTF-8, as the URL parser percent-encodes it.
  await req("/kv/caf\u00e9", { method: "PUT", body: "u" });
  assert.ok(service.store.get(enc.encode("caf\u00e9")));
  // '+' in the path is a plus, not a space.
  await req("/kv/a+b", { method: "PUT", body: "p" });
  assert.ok(service.store.get(enc.encode("a+b")));
});

Deno.test("http: a bad key is 400 (empty, over 4096 bytes, malformed %)", async () => {
  const { req } = setup();
  for (const path of ["/kv/", "/kv/" + "k".repeat(4097), "/kv/%zz", "/kv/abc%4"]) {
    const res = await req(path, { method: "PUT", body: "v" });
    assert.equal(res.status, 400, path);
    assert.equal((await errorOf(res)).code, "bad_request");
  }
  assert.equal((await req("/kv/" + "k".repeat(4096), { method: "PUT", body: "v" })).status, 200);
  assert.equal((await req("/kv/" + "%41".repeat(4096), { method: "PUT", body: "v" })).status, 200);
});

Deno.test("http: GET and DELETE of an absent key are 404 with a JSON error", async () => {
  const { req } = setup();
  const get = await req("/kv/nope");
  assert.equal(get.status, 404);
  assert.equal((await errorOf(get)).code, "not_found");
  const del = await req("/kv/nope", { method: "DELETE" });
  assert.equal(del.status, 404);
  assert.equal((await errorOf(del)).code, "not_found");
});

Deno.test("http: DELETE returns the revision and deleted: true", async () => {
  const { req } = setup();
  await req("/kv/k", { method: "PUT", body: "v" });
  const del = await req("/kv/k", { method: "DELETE" });
  assert.equal(del.status, 200);
  assert.deepEqual(await del.json(), { revision: 2, deleted: true });
  assert.equal((await req("/kv/k")).status, 404);
});

Deno.test("http: If-Match writes only at the matching revision, else 412 with currentRevision", async () => {
  const { req } = setup();
  await req("/kv/k", { method: "PUT", body: "v1" }); // revision 1
  const bad = await req("/kv/k", { method: "PUT", body: "x", headers: { "If-Match": '"7"' } });
  assert.equal(bad.status, 412);
  const e = await errorOf(bad);
  assert.equal(e.code, "precondition_failed");
  assert.equal(e.currentRevision, 1);
  assert.equal(bad.headers.get("etag"), '"1"');
  const ok = await req("/kv/k", { method: "PUT", body: "v3", headers: { "If-Match": '"1"' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("etag"), '"3"');
  const list = await req("/kv/k", {
    method: "PUT",
    body: "v4",
    headers: { "If-Match": '"9", "3"' },
  });
  assert.equal(list.status, 200);
  const star = await req("/kv/k", { method: "PUT", body: "v5", headers: { "If-Match": "*" } });
  assert.equal(star.status, 200);
  const starAbsent = await req("/kv/none", {
    method: "PUT",
    body: "v",
    headers: { "If-Match": "*" },
  });
  assert.equal(starAbsent.status, 412);
  assert.equal((await errorOf(starAbsent)).currentRevision, 0);
  assert.equal(await (await req("/kv/k")).text(), "v5");
});

Deno.test("http: If-None-Match: * creates only an absent key", async () => {
  const { req } = setup();
  const first = await req("/kv/k", { method: "PUT", body: "a", headers: { "If-None-Match": "*" } });
  assert.equal(first.status, 200);
  const second = await req("/kv/k", {
    method: "PUT",
    body: "b",
    headers: { "If-None-Match": "*" },
  });
  assert.equal(second.status, 412);
  assert.equal((await errorOf(second)).currentRevision, 1);
  assert.equal(await (await req("/kv/k")).text(), "a");
});

Deno.test("http: DELETE honours If-Match", async () => {
  const { req } = setup();
  await req("/kv/k", { method: "PUT", body: "v" });
  const bad = await req("/kv/k", { method: "DELETE", headers: { "If-Match": '"5"' } });
  assert.equal(bad.status, 412);
  assert.equal((await errorOf(bad)).currentRevision, 1);
  const ok = await req("/kv/k", { method: "DELETE", headers: { "If-Match": '"1"' } });
  assert.equal(ok.status, 200);
});

Deno.test("http: malformed conditions are 400", async () => {
  const { req } = setup();
  const cases: Record<string, string>[] = [
    { "If-Match": "42" },
    { "If-Match": 'W/"1"' },
    { "If-Match": '"abc"' },
    { "If-Match": '"1",' },
    { "If-None-Match": '"1"' },
    { "If-Match": '"1"', "If-None-Match": "*" },
  ];
  for (const headers of cases) {
    const res = await req("/kv/k", { method: "PUT", body: "v", headers });
    assert.equal(res.status, 400, JSON.stringify(headers));
    assert.equal((await errorOf(res)).code, "bad_request");
  }
  const del = await req("/kv/k", { method: "DELETE", headers: { "If-None-Match": "*" } });
  assert.equal(del.status, 400);
});

Deno.test("http: GET with a matching If-None-Match is 304", async () => {
  const { req } = setup();
  await req("/kv/k", { method: "PUT", body: "v" });
  const same = await req("/kv/k", { headers: { "If-None-Match": '"1"' } });
  assert.equal(same.status, 304);
  assert.equal(same.headers.get("etag"), '"1"');
  const other = await req("/kv/k", { headers: { "If-None-Match": '"0"' } });
  assert.equal(other.status, 200);
  await other.body?.cancel();
});

Deno.test("http: a body over valueBytesMax is 413, by Content-Length or by counting the stream", async () => {
  const { req, service } = setup({ valueBytesMax: 10 });
  assert.equal((await req("/kv/k", { method: "PUT", body: "0123456789" })).status, 200);
  const big = await req("/kv/k", { method: "PUT", body: "0123456789x" });
  assert.equal(big.status, 413);
  assert.equal((await errorOf(big)).code, "payload_too_large");
  // A stream without Content-Length, longer than the limit.
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      if (pulled > 1000) controller.close();
      else controller.enqueue(new Uint8Array(4));
    },
  });
  const streamed = await req("/kv/s", { method: "PUT", body: stream });
  assert.equal(streamed.status, 413);
  assert.ok(pulled < 10, `read ${pulled} chunks, not stopped at the limit`);
  // A Content-Length that claims too much is refused before reading.
  const claimed = await req("/kv/c", {
    method: "PUT",
    body: "x",
    headers: { "Content-Length": "1000000" },
  });
  assert.equal(claimed.status, 413);
  assert.equal(service.store.get(enc.encode("s")), undefined);
  assert.equal(service.store.get(enc.encode("c")), undefined);
});

Deno.test("http: the default value limit is 1 MiB", async () => {
  const { req } = setup();
  const mib = new Uint8Array(1024 * 1024);
  assert.equal((await req("/kv/k", { method: "PUT", body: mib })).status, 200);
  const over = new Uint8Array(1024 * 1024 + 1);
  assert.equal((await req("/kv/k", { method: "PUT", body: over })).status, 413);
});

Deno.test("http: GET /kv lists a prefix in byte order with limit and more", async () => {
  const { req } = setup();
  for (const k of ["p/b", "p/a", "p/c", "q/a", "p"]) {
    await req(`/kv/${k}`, { method: "PUT", body: `v-${k}` });
  }
  const all = await req("/kv?prefix=p/");
  assert.equal(all.status, 200);
  const body = await all.json();
  assert.deepEqual(body, {
    revision: 5,
    items: [
      { key: "p/a", value: "v-p/a", revision: 2 },
      { key: "p/b", value: "v-p/b", revision: 1 },
      { key: "p/c", value: "v-p/c", revision: 3 },
    ],
    more: false,
  });
  const two = await (await req("/kv?prefix=p%2F&limit=2")).json();
  assert.deepEqual(two.items.map((i: { key: string }) => i.key), ["p/a", "p/b"]);
  assert.equal(two.more, true);
  const everything = await (await req("/kv")).json();
  assert.deepEqual(everything.items.map((i: { key: string }) => i.key), [
    "p",
    "p/a",
    "p/b",
    "p/c",
    "q/a",
  ]);
  const none = await (await req("/kv?prefix=zzz")).json();
  assert.deepEqual(none, { revision: 5, items: [], more: false });
});

Deno.test("http: GET /kv orders binary keys by bytes and encodes them with encoding=base64", async () => {
  const { req } = setup();
  await req("/kv/%FF", { method: "PUT", body: new Uint8Array([0, 1]) });
  await req("/kv/%7F", { method: "PUT", body: "x" });
  await req("/kv/%C3%A9", { method: "PUT", body: "y" });
  const res = await (await req("/kv?encoding=base64")).json();
  assert.deepEqual(res.items.map((i: { key: string }) => [...Buffer.from(i.key, "base64")]), [
    [0x7f],
    [0xc3, 0xa9],
    [0xff],
  ]);
  assert.deepEqual([...Buffer.from(res.items[2].value, "base64")], [0, 1]);
  const byPrefix = await (await req("/kv?prefix=%FF&encoding=base64")).json();
  assert.equal(byPrefix.items.length, 1);
  assert.equal(byPrefix.items[0].key, Buffer.from([0xff]).toString("base64"));
  const text = await (await req("/kv?prefix=%C3")).json();
  assert.equal(text.items[0].key, "\u00e9");
});

Deno.test("http: bad range queries are 400; large limits are clamped", async () => {
  const { req } = setup({ rangeLimitMax: 2 });
  for (
    const q of [
      "limit=0",
      "limit=-1",
      "limit=abc",
      "limit=1.5",
      "limit=",
      "encoding=hex",
      "consistency=strong",
      "prefix=%G0",
    ]
  ) {
    const res = await req(`/kv?${q}`);
    assert.equal(res.status, 400, q);
    assert.equal((await errorOf(res)).code, "bad_request");
  }
  for (const k of ["a", "b", "c"]) await req(`/kv/${k}`, { method: "PUT", body: "v" });
  const clamped = await (await req("/kv?limit=1000")).json();
  assert.equal(clamped.items.length, 2);
  assert.equal(clamped.more, true);
});

Deno.test("http: consistency defaults to linearizable and passes serializable through", async () => {
  const { req, service } = setup();
  await req("/kv/k", { method: "PUT", body: "v" });
  await (await req("/kv/k")).body?.cancel();
  await (await req("/kv/k?consistency=serializable")).body?.cancel();
  await (await req("/kv?consistency=serializable")).body?.cancel();
  await (await req("/kv?consistency=linearizable")).body?.cancel();
  assert.deepEqual(service.reads.map((r) => r.consistency), [
    "linearizable",
    "serializable",
    "serializable",
    "linearizable",
  ]);
  assert.equal((await req("/kv/k?consistency=eventual")).status, 400);
});

Deno.test("http: no leader is 503 with Retry-After, not ready too; a timeout is 504", async () => {
  const { req, service } = setup();
  service.failNext = new NoLeaderError();
  const put = await req("/kv/k", { method: "PUT", body: "v" });
  assert.equal(put.status, 503);
  assert.equal(put.headers.get("retry-after"), "1");
  assert.equal((await errorOf(put)).code, "no_leader");
  service.failNext = new NotReadyError("starting", { retryAfterSeconds: 3 });
  const get = await req("/kv/k");
  assert.equal(get.status, 503);
  assert.equal(get.headers.get("retry-after"), "3");
  assert.equal((await errorOf(get)).code, "not_ready");
  service.failNext = new RequestTimeoutError();
  const slow = await req("/kv/k", { method: "DELETE" });
  assert.equal(slow.status, 504);
  assert.equal((await errorOf(slow)).code, "timeout");
  service.failNext = new BadRequestError("nope");
  assert.equal((await req("/cluster")).status, 400);
});

Deno.test("http: an unexpected error is a 500 JSON error that hides its message", async () => {
  const logged: string[] = [];
  const service = new FakeKvService();
  const app = createApp(service, {
    logger: { debug() {}, info() {}, warn() {}, error: (m) => logged.push(m) },
  });
  service.failNext = new Error("secret detail");
  const res = await app.request("/status");
  assert.equal(res.status, 500);
  const e = await errorOf(res);
  assert.equal(e.code, "internal");
  assert.ok(!e.message.includes("secret"));
  assert.equal(logged.length, 1);
  assert.match(logged[0]!, /secret detail/);
});

Deno.test("http: unknown routes are 404 JSON, wrong methods 405 with Allow", async () => {
  const { req } = setup();
  const res = await req("/nope");
  assert.equal(res.status, 404);
  assert.equal((await errorOf(res)).code, "not_found");
  const post = await req("/kv/k", { method: "POST", body: "v" });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD, PUT, DELETE");
  assert.equal((await errorOf(post)).code, "method_not_allowed");
  assert.equal((await req("/status", { method: "DELETE" })).status, 405);
  assert.equal((await req("/cluster/members")).status, 405);
});

Deno.test("http: GET /cluster, /status, /health and /metrics", async () => {
  const { req, service } = setup();
  const cluster = await req("/cluster");
  assert.equal(cluster.status, 200);
  assert.deepEqual(await cluster.json(), {
    clusterId: "c0ffee",
    leader: 1,
    term: 2,
    members: [{ id: 1, peerURL: "http://127.0.0.1:2380", learner: false }],
  });
  const status = await (await req("/status")).json();
  assert.equal(status.role, "leader");
  assert.equal(status.progress["1"].state, "replicate");
  const health = await req("/health");
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { health: true });
  service.leader = null;
  assert.equal((await (await req("/cluster")).json()).leader, null);
  const sick = await req("/health");
  assert.equal(sick.status, 503);
  assert.equal(sick.headers.get("retry-after"), "1");
  const sickBody = await sick.json();
  assert.equal(sickBody.health, false);
  assert.equal(sickBody.error.code, "unhealthy");
  const metrics = await req("/metrics");
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  assert.match(await metrics.text(), /^raftkv_keys 0$/m);
});

Deno.test("http: POST /cluster/members adds (201), validates, and maps conflicts to 409", async () => {
  const { req } = setup();
  const json = (body: unknown) => ({
    method: "POST",
    body: JSON.stringify(body),
    headers: { "Content-Type": "application/json" },
  });
  const added = await req(
    "/cluster/members",
    json({ id: 4, peerURL: "http://h4:2380", learner: true }),
  );
  assert.equal(added.status, 201);
  assert.deepEqual((await added.json()).members[1], {
    id: 4,
    peerURL: "http://h4:2380",
    learner: true,
  });
  const dup = await req("/cluster/members", json({ id: 4, peerURL: "http://h4:2380" }));
  assert.equal(dup.status, 409);
  assert.equal((await errorOf(dup)).code, "conflict");
  const bad = [
    "{not json",
    "[1]",
    JSON.stringify({ peerURL: "http://x:1" }),
    JSON.stringify({ id: 0, peerURL: "http://x:1" }),
    JSON.stringify({ id: 1.5, peerURL: "http://x:1" }),
    JSON.stringify({ id: 5, peerURL: "not a url" }),
    JSON.stringify({ id: 5, peerURL: "ftp://x:1" }),
    JSON.stringify({ id: 5, peerURL: "http://x:1", learner: "yes" }),
  ];
  for (const body of bad) {
    const res = await req("/cluster/members", { method: "POST", body });
    assert.equal(res.status, 400, body);
    assert.equal((await errorOf(res)).code, "bad_request");
  }
  const huge = await req("/cluster/members", { method: "POST", body: "x".repeat(70000) });
  assert.equal(huge.status, 413);
});

Deno.test("http: promote, remove and leader transfer", async () => {
  const { req, service } = setup();
  service.members.push({ id: 2, peerURL: "http://h2:2380", learner: true });
  const promoted = await req("/cluster/members/2/promote", { method: "POST" });
  assert.equal(promoted.status, 200);
  assert.equal((await promoted.json()).members[1].learner, false);
  assert.equal((await req("/cluster/members/9/promote", { method: "POST" })).status, 404);
  assert.equal((await req("/cluster/members/x/promote", { method: "POST" })).status, 400);
  const moved = await req("/cluster/leader", { method: "POST", body: '{"id": 2}' });
  assert.equal(moved.status, 200);
  assert.deepEqual(await moved.json(), { leader: 2 });
  assert.equal(service.leader, 2);
  assert.equal(
    (await req("/cluster/leader", { method: "POST", body: '{"id": "2x"}' })).status,
    400,
  );
  const removed = await req("/cluster/members/2", { method: "DELETE" });
  assert.equal(removed.status, 200);
  assert.deepEqual((await removed.json()).members.map((m: { id: number }) => m.id), [1]);
  assert.equal((await req("/cluster/members/2", { method: "DELETE" })).status, 404);
  assert.equal((await req("/cluster/members/-1", { method: "DELETE" })).status, 400);
});

Deno.test("http: a failed write leaves nothing behind", async () => {
  const { req, service } = setup({ valueBytesMax: 4 });
  await req("/kv/k", { method: "PUT", body: "toolong" });
  await req("/kv/k", { method: "PUT", body: "v", headers: { "If-Match": '"3"' } });
  assert.equal(service.store.get(enc.encode("k")), undefined);
  assert.equal(service.store.size, 0);
});
