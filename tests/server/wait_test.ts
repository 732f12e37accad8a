import { equal, rejects, throws } from "node:assert/strict";
import { WaitRegistry, WaitTimeoutError } from "../../server/wait.ts";

Deno.test("a waiter is settled by its id, once; unknown ids are ignored", async () => {
  const registry = new WaitRegistry<number>({ waitersMax: 2 });
  const waiting = registry.register("a", 1000);
  equal(registry.trigger("b", 1), false);
  equal(registry.trigger("a", 42), true);
  equal(await waiting, 42);
  equal(registry.trigger("a", 43), false);
  equal(registry.size, 0);
});

Deno.test("a waiter that never sees its entry times out and leaves the table", async () => {
  const registry = new WaitRegistry<number>({ waitersMax: 2 });
  await rejects(registry.register("a", 10), WaitTimeoutError);
  equal(registry.size, 0);
});

Deno.test("the table is bounded and ids are unique", () => {
  const registry = new WaitRegistry<number>({ waitersMax: 1 });
  const waiting = registry.register("a", 1000);
  equal(registry.full, true);
  throws(() => registry.register("a", 1000), /already waiting/);
  registry.cancelAll(new Error("stop"));
  return rejects(waiting, /stop/);
});
