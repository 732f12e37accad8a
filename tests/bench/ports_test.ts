/** The bench's fixed ports (bench/system.ts `slotPortBase`). */
import { equal, ok } from "node:assert/strict";
import { slotPortBase } from "../../bench/system.ts";

Deno.test("ports: every slot's raftkv and etcd ports differ and lie below the ephemeral range", () => {
  const ports = [1, 2, 3, 4].flatMap((slot) =>
    [2379, 2380, 2479, 2480].map((offset) => slotPortBase(slot) + offset)
  );
  equal(new Set(ports).size, ports.length, `${ports}`);
  // Linux hands out 32768-60999 to outgoing connections: a port there may be taken at any moment.
  ok(ports.every((port) => port > 1024 && port < 32768), `${ports}`);
  equal(slotPortBase(1) + 2379, 12379, "node 1 has the client port of `deno task cluster`");
});
