import { deepEqual, equal, rejects } from "node:assert/strict";
import { ReadIndexBatcher, ReadTimeoutError } from "../../server/read_index.ts";

function harness(options: { timeoutMs?: number; retryMs?: number } = {}) {
  const issued: string[] = [];
  let applied = 0;
  const batcher = new ReadIndexBatcher({
    issue: (context) => issued.push(new TextDecoder().decode(context)),
    appliedIndex: () => applied,
    timeoutMs: options.timeoutMs ?? 1000,
    retryMs: options.retryMs ?? 1000,
    readersMax: 4,
  });
  const confirm = (context: string, index: number) =>
    batcher.onReadStates([{ index, requestCtx: new TextEncoder().encode(context) }]);
  return {
    batcher,
    issued,
    confirm,
    apply: (index: number) => {
      applied = index;
      batcher.onApplied();
    },
  };
}

Deno.test("reads that arrive while a ReadIndex is in flight share the next one, never the current", async () => {
  const { batcher, issued, confirm, apply } = harness();
  const served: string[] = [];
  const first = batcher.read().then(() => served.push("first"));
  equal(issued.length, 1);
  // Arrives after the first request was issued: it must not be answered by it.
  const second = batcher.read().then(() => served.push("second"));
  const third = batcher.read().then(() => served.push("third"));
  equal(issued.length, 1);
  confirm(issued[0]!, 10);
  equal(issued.length, 2, "the waiting reads are issued together once the first is confirmed");
  apply(10);
  await first;
  deepEqual(served, ["first"]);
  confirm(issued[1]!, 12);
  apply(11);
  await Promise.resolve();
  deepEqual(served, ["first"], "not served before the node applies up to the read index");
  apply(12);
  await Promise.all([second, third]);
  deepEqual(served, ["first", "second", "third"]);
  equal(batcher.pending, 0);
});

Deno.test("a read whose ReadIndex is never answered times out; a bound refuses more readers", async () => {
  const { batcher, issued } = harness({ timeoutMs: 60, retryMs: 20 });
  const reads = [batcher.read(), batcher.read(), batcher.read(), batcher.read()];
  await rejects(batcher.read(), ReadTimeoutError);
  for (const read of reads) await rejects(read, ReadTimeoutError);
  // The unanswered request was issued again before the deadline.
  equal(issued.length >= 2, true, `issued ${issued.length}`);
  equal(batcher.pending, 0);
});

Deno.test("close fails every waiting read", async () => {
  const { batcher } = harness();
  const read = batcher.read();
  batcher.close(new Error("stopping"));
  await rejects(read, /stopping/);
});
