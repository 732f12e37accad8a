/** The quiet wait before each benchmark point (bench/settle.ts), on a fake clock. */
import { deepEqual, equal } from "node:assert/strict";
import { settle } from "../../bench/settle.ts";

/** Two clusters whose CPU use per 400 ms window is `shares[i]` (share of one core) each. */
function fake(shares: [number, number][]) {
  let now = 0;
  let window = 0;
  const cpu = [0, 0];
  const calls: string[] = [];
  return {
    calls,
    options: {
      cpuSeconds: () => [...cpu],
      sync: () => {
        calls.push("sync");
        return Promise.resolve();
      },
      sleep: (ms: number) => {
        const [a, b] = shares[Math.min(window, shares.length - 1)]!;
        cpu[0]! += a * ms / 1000;
        cpu[1]! += b * ms / 1000;
        now += ms;
        window++;
        return Promise.resolve();
      },
      now: () => now,
    },
  };
}

Deno.test("settle: syncs first, then needs two quiet windows in a row", async () => {
  const f = fake([[0.04, 0.05]]);
  deepEqual(await settle(f.options), { waitedMs: 800, quiet: true });
  deepEqual(f.calls, ["sync"]);
});

Deno.test("settle: waits while either cluster is busy", async () => {
  const f = fake([[0.9, 0.02], [0.02, 0.5], [0.3, 0.3], [0.05, 0.05]]);
  deepEqual(await settle(f.options), { waitedMs: 5 * 400, quiet: true });
});

Deno.test("settle: a busy window between two quiet ones starts the count again", async () => {
  const f = fake([[0.01, 0.01], [0.01, 0.4], [0.01, 0.01], [0.01, 0.01]]);
  deepEqual(await settle(f.options), { waitedMs: 4 * 400, quiet: true });
});

Deno.test("settle: gives up at maxMs and says it was not quiet", async () => {
  const f = fake([[1, 0]]);
  const settled = await settle({ ...f.options, maxMs: 2000 });
  equal(settled.quiet, false);
  equal(settled.waitedMs, 2000);
});

Deno.test("settle: waits while a system reports background work to come", async () => {
  const f = fake([[0.01, 0.01]]);
  // Quiet on the CPU all along; work is pending in the first three windows.
  let asked = 0;
  const pending = () => Promise.resolve(++asked <= 3);
  deepEqual(await settle({ ...f.options, pending }), { waitedMs: 5 * 400, quiet: true });
  equal(asked, 5);
});
