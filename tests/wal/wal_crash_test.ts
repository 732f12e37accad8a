import { deepStrictEqual, ok } from "node:assert/strict";
import { Wal } from "../../wal/mod.ts";
import { CRASH_SEGMENT_BYTES_MAX, crashEntry } from "./testdata/crash_data.ts";
import { LineReader, withTempDir } from "./helpers.ts";

const ROUNDS = 20;
/** The whole test stops starting rounds after this long, so it stays bounded on a busy machine. */
const DEADLINE_MS = 25_000;

/** mulberry32: a small seeded generator, so a failing run can be replayed from its seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("every index a writer reported synced survives SIGKILL at a random moment", async () => {
  const seed = Number(Deno.env.get("WAL_CRASH_SEED") ?? Date.now() % 1_000_000);
  const random = seeded(seed);
  const script = new URL("./testdata/crash_writer.ts", import.meta.url).pathname;
  await withTempDir(async (root) => {
    const dir = `${root}/wal`;
    const started = Date.now();
    let synced = 0;
    let rounds = 0;
    for (; rounds < ROUNDS && Date.now() - started < DEADLINE_MS; rounds++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", "--allow-write", "--allow-env", script, dir],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const lines = new LineReader(child.stdout);
      const ready = await lines.next();
      ok(ready?.startsWith("ready "), `seed ${seed} round ${rounds}: ${ready}`);
      // The reopened WAL holds at least everything reported before.
      const recovered = Number(ready!.slice(6));
      ok(recovered >= synced, `seed ${seed} round ${rounds}: recovered ${recovered} < ${synced}`);
      const reading = (async () => {
        for (let line = await lines.next(); line !== undefined; line = await lines.next()) {
          if (line.startsWith("synced ")) synced = Math.max(synced, Number(line.slice(7)));
        }
      })();
      await new Promise((r) => setTimeout(r, 10 + random() * 250));
      child.kill("SIGKILL");
      await child.status;
      await reading;
    }
    ok(rounds >= 5, `only ${rounds} rounds before the deadline`);
    ok(synced > 0, "the writer synced something");
    const r = await Wal.open(dir, { segmentBytesMax: CRASH_SEGMENT_BYTES_MAX });
    ok(r.entries.length >= synced, `seed ${seed}: ${r.entries.length} entries < ${synced} synced`);
    for (let i = 1; i <= r.entries.length; i++) {
      deepStrictEqual(r.entries[i - 1], crashEntry(i), `seed ${seed}: entry ${i}`);
    }
    await r.wal.close();
  });
});
