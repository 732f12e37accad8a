import { equal, rejects, throws } from "node:assert/strict";
import { WaitRegistry, WaitTimeoutError } from "../../server/wait.ts";

Deno.test("a waiter is settled by its id, once; unknown ids are ignored", async () => {
  const registry = new WaitRegistry<number>({ waitersMax: 2, timeoutMs: 1000 });
  const waiting = registry.register("a");
  equal(registry.trigger("b", 1), false);
  equal(registry.trigger("a", 42), true);
  equal(await waiting, 42);
  equal(registry.trigger("a", 43), false);
  equal(registry.size, 0);
});

Deno.test("a waiter that never sees its entry times out and leaves the table", async () => {
  const registry = new WaitRegistry<number>({ waitersMax: 2, timeoutMs: 10 });
  await rejects(registry.register("a"), WaitTimeoutError);
  equal(registry.size, 0);
});

Deno.test("the table is bounded and ids are unique", () => {
  const registry = new WaitRegistry<number>({ waitersMax: 1, timeoutMs: 1000 });
  const waiting = registry.register("a");
  equal(registry.full, true);
  throws(() => registry.register("a"), /already waiting/);
  throws(() => registry.register("b"), /1 waiting/);
  registry.cancelAll(new Error("stop"));
  return rejects(waiting, /stop/);
});
