/**
 * A conformance suite for any `KvService` (the fake over a bare KvStore, the server's raft-backed
 * one): the KV semantics the REST API relies on. Call `kvServiceConformance` from a test file with
 * a factory that gives a fresh, empty, ready service and a way to close it.
 */
import assert from "node:assert/strict";
import {
  type KvService,
  NotFoundError,
  PreconditionFailedError,
  type ReadOptions,
} from "../../kv/mod.ts";

export interface ServiceUnderTest {
  service: KvService;
  close(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string) => enc.encode(s);
const LIN: ReadOptions = { consistency: "linearizable" };
const SER: ReadOptions = { consistency: "serializable" };

async function rejectsWith<E extends Error>(
  p: Promise<unknown>,
  ctor: new (...args: never[]) => E,
): Promise<E> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ctor, `expected ${ctor.name}, got ${String(e)}`);
    return e;
  }
  assert.fail(`expected ${ctor.name}, but it resolved`);
}

export function kvServiceConformance(
  name: string,
  open: () => Promise<ServiceUnderTest>,
): void {
  const test = (what: string, fn: (s: KvService) => Promise<void>) =>
    Deno.test(`${name}: ${what}`, async () => {
      const { service, close } = await open();
      try {
        await fn(service);
      } finally {
        await close();
      }
    });

  test("put returns increasing revisions that get and range report", async (s) => {
    const r1 = await s.put(b("a"), b("1"));
    const r2 = await s.put(b("a"), b("2"));
    assert.ok(r2.revision > r1.revision);
    const got = await s.get(b("a"), LIN);
    assert.equal(dec.decode(got!.value), "2");
    assert.equal(got!.revision, r2.revision);
    const range = await s.range(b("a"), 10, SER);
    assert.equal(range.items.length, 1);
    assert.equal(range.items[0]!.revision, r2.revision);
    assert.ok(range.revision >= r2.revision);
    assert.equal(await s.get(b("absent"), SER), undefined);
  });

  test("If-Match and If-None-Match conditions; failures carry the current revision", async (s) => {
    const { revision } = await s.put(b("k"), b("v"));
    const e = await rejectsWith(
      s.put(b("k"), b("x"), { ifMatch: revision + 1000 }),
      PreconditionFailedError,
    );
    assert.equal(e.currentRevision, revision);
    const e2 = await rejectsWith(
      s.put(b("k"), b("x"), { ifNoneMatch: true }),
      PreconditionFailedError,
    );
    assert.equal(e2.currentRevision, revision);
    const e3 = await rejectsWith(
      s.put(b("new"), b("x"), { ifMatch: "*" }),
      PreconditionFailedError,
    );
    assert.equal(e3.currentRevision, 0);
    const ok = await s.put(b("k"), b("w"), { ifMatch: revision });
    assert.ok(ok.revision > revision);
    await s.put(b("new"), b("x"), { ifNoneMatch: true });
    assert.equal(dec.decode((await s.get(b("k"), LIN))!.value), "w");
  });

  test("delete removes a key, 404s an absent one and honours If-Match", async (s) => {
    const { revision } = await s.put(b("k"), b("v"));
    await rejectsWith(s.delete(b("k"), { ifMatch: revision + 1000 }), PreconditionFailedError);
    const del = await s.delete(b("k"), { ifMatch: revision });
    assert.ok(del.revision > revision);
    assert.equal(await s.get(b("k"), LIN), undefined);
    await rejectsWith(s.delete(b("k")), NotFoundError);
  });

  test("range: byte order over binary keys, prefix, limit and more", async (s) => {
    const keys = [[0x61, 0xff], [0x61], [0x61, 0x00], [0x62], [0x61, 0x80]];
    for (const k of keys) await s.put(new Uint8Array(k), b("v"));
    const all = await s.range(new Uint8Array([0x61]), 100, LIN);
    assert.deepEqual(all.items.map((i) => [...i.key]), [
      [0x61],
      [0x61, 0x00],
      [0x61, 0x80],
      [0x61, 0xff],
    ]);
    assert.equal(all.more, false);
    const two = await s.range(new Uint8Array([0x61]), 2, LIN);
    assert.equal(two.items.length, 2);
    assert.equal(two.more, true);
  });
}
