import assert from "node:assert/strict";
import { startMallocTrim } from "../../server/malloc_trim.ts";

const glibc = Deno.build.os === "linux" && Deno.build.env === "gnu";

Deno.test("malloc trim: on Linux with glibc a trim runs and reports whether memory was released", async () => {
  const trimmer = startMallocTrim({ intervalMs: 60_000 });
  try {
    const released = await trimmer.trim();
    if (glibc) assert.equal(typeof released, "boolean");
    else assert.equal(released, undefined);
  } finally {
    trimmer.stop();
  }
});

Deno.test("malloc trim: once stopped, trim does nothing and stop may be called again", async () => {
  const trimmer = startMallocTrim({ intervalMs: 60_000 });
  trimmer.stop();
  assert.equal(await trimmer.trim(), undefined);
  trimmer.stop();
});
