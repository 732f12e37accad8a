import assert from "node:assert/strict";
import { Inflights } from "../../raft/tracker/inflights.ts";
import { Progress } from "../../raft/tracker/progress.ts";

function newProgress(match: number, next: number, size = 4, bytes = 0): Progress {
  return new Progress({ match, next, inflights: new Inflights(size, bytes), isLearner: false });
}

Deno.test("inflights fill up by count and free up to an acked index", () => {
  const inf = new Inflights(4, 0);
  for (const i of [10, 20, 30]) inf.add(i, 1);
  assert.equal(inf.full(), false);
  inf.add(40, 1);
  assert.equal(inf.full(), true);
  assert.throws(() => inf.add(50, 1));
  inf.freeLE(25);
  assert.equal(inf.count, 2);
  assert.equal(inf.full(), false);
  // Wrap around the ring buffer.
  inf.add(50, 1);
  inf.add(60, 1);
  assert.equal(inf.full(), true);
  inf.freeLE(55);
  assert.equal(inf.count, 1);
  inf.freeFirstOne();
  assert.equal(inf.count, 0);
});

Deno.test("inflights are full once the byte limit is reached, whatever the count", () => {
  const inf = new Inflights(100, 1000);
  inf.add(1, 400);
  inf.add(2, 500);
  assert.equal(inf.full(), false);
  inf.add(3, 100);
  assert.equal(inf.bytes, 1000);
  assert.equal(inf.full(), true);
  inf.freeLE(1);
  assert.equal(inf.bytes, 600);
  assert.equal(inf.full(), false);
});

Deno.test("inflights grow past their initial capacity up to the count limit", () => {
  const inf = new Inflights(100, 0);
  for (let i = 1; i <= 100; i++) inf.add(i, 1);
  assert.equal(inf.full(), true);
  inf.freeLE(99);
  assert.equal(inf.count, 1);
  assert.throws(() => inf.add(100, 1), "indexes must increase");
});

Deno.test("a probing follower gets one MsgApp until it answers (paused)", () => {
  const pr = newProgress(0, 5);
  assert.equal(pr.isPaused(), false);
  pr.sentEntries(3, 30);
  assert.equal(pr.isPaused(), true);
  assert.equal(pr.next, 5, "probe does not advance next optimistically");
  assert.equal(pr.maybeUpdate(7), true);
  assert.equal(pr.isPaused(), false);
  assert.equal(pr.next, 8);
});

Deno.test("replicate state advances next optimistically and pauses on a full window", () => {
  const pr = newProgress(5, 6, 2);
  pr.becomeReplicate();
  pr.sentEntries(2, 10);
  assert.equal(pr.next, 8);
  pr.sentEntries(1, 10);
  assert.equal(pr.next, 9);
  assert.equal(pr.isPaused(), true);
  pr.maybeUpdate(7);
  pr.inflights.freeLE(7);
  assert.equal(pr.inflights.count, 1);
  assert.equal(pr.isPaused(), false);
});

Deno.test("maybeDecrTo ignores stale rejections and backs off to the hint", () => {
  // Replicate: a rejection at or below match is stale.
  const r = newProgress(5, 10);
  r.becomeReplicate();
  r.next = 10;
  assert.equal(r.maybeDecrTo(5, 5), false);
  assert.equal(r.maybeDecrTo(8, 3), true);
  assert.equal(r.next, 6, "back to match + 1");
  // Probe: only the rejection of the last probe (next - 1) counts.
  const p = newProgress(0, 10);
  assert.equal(p.maybeDecrTo(8, 2), false);
  assert.equal(p.maybeDecrTo(9, 3), true);
  assert.equal(p.next, 4, "min(rejected, hint + 1)");
  assert.equal(p.maybeDecrTo(3, 0), true);
  assert.equal(p.next, 1, "never below match + 1");
});

Deno.test("after a snapshot, probing resumes from after the snapshot index", () => {
  const pr = newProgress(3, 4);
  pr.becomeSnapshot(20);
  assert.equal(pr.isPaused(), true);
  pr.becomeProbe();
  assert.equal(pr.next, 21);
  const failed = newProgress(3, 4);
  failed.becomeSnapshot(20);
  failed.pendingSnapshot = 0;
  failed.becomeProbe();
  assert.equal(failed.next, 4);
});
