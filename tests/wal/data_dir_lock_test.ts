import { ok, rejects, strictEqual } from "node:assert/strict";
import { acquireDataDirLock, DataDirLockedError } from "../../wal/mod.ts";
import { LineReader, withTempDir } from "./helpers.ts";

const script = new URL("./testdata/lock_holder.ts", import.meta.url).pathname;

function lockChild(mode: "hold" | "try", dir: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", script, mode, dir],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

Deno.test("a second lock on a data directory in the same process is refused until released", async () => {
  await withTempDir(async (root) => {
    const dataDir = `${root}/raftkv-1`;
    const lock = await acquireDataDirLock(dataDir);
    await rejects(acquireDataDirLock(dataDir), (e: unknown) => {
      ok(e instanceof DataDirLockedError);
      strictEqual(e.pid, Deno.pid);
      strictEqual(
        e.message,
        `Cannot lock data directory ${dataDir}: it is in use by process ${Deno.pid}`,
      );
      return true;
    });
    await lock.release();
    await lock.release(); // idempotent
    const again = await acquireDataDirLock(dataDir);
    await again.release();
  });
});

Deno.test("a data directory held by a live process is refused with its pid; after SIGKILL it is taken over", async () => {
  await withTempDir(async (root) => {
    const dataDir = `${root}/raftkv-1`;
    const holder = lockChild("hold", dataDir);
    const lines = new LineReader(holder.stdout);
    const first = await lines.next();
    strictEqual(first, `locked ${holder.pid}`);

    // This process is refused, naming the holder...
    await rejects(acquireDataDirLock(dataDir), (e: unknown) => {
      ok(e instanceof DataDirLockedError);
      strictEqual(e.pid, holder.pid);
      ok(e.message.includes(`is in use by process ${holder.pid}`), e.message);
      return true;
    });
    // ...and so is a third process.
    const other = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", script, "try", dataDir],
    }).output();
    strictEqual(other.code, 3);
    strictEqual(
      new TextDecoder().decode(other.stdout).trim(),
      `refused Cannot lock data directory ${dataDir}: it is in use by process ${holder.pid}`,
    );

    // The holder dies without releasing: the kernel drops its lock and the next owner takes over.
    holder.kill("SIGKILL");
    await holder.status;
    await lines.cancel();
    const lock = await acquireDataDirLock(dataDir);
    strictEqual((await Deno.readTextFile(`${dataDir}/LOCK`)).trim(), String(Deno.pid));
    await lock.release();
  });
});
