/**
 * Child process for the data-directory lock test: `hold <dir>` takes the lock, prints
 * `locked <pid>` and waits to be killed; `try <dir>` prints `locked <pid>` or the error's message,
 * and exits.
 */
import { acquireDataDirLock, DataDirLockedError } from "../../../wal/mod.ts";

const [mode, dir] = Deno.args;
if ((mode !== "hold" && mode !== "try") || !dir) {
  throw new Error("usage: lock_holder.ts hold|try <dir>");
}
try {
  const lock = await acquireDataDirLock(dir);
  console.log(`locked ${Deno.pid}`);
  if (mode === "hold") {
    // Held until the parent kills this process (bounded by a minute, against a stray child).
    await new Promise((r) => setTimeout(r, 60_000));
  }
  await lock.release();
} catch (e) {
  if (!(e instanceof DataDirLockedError)) throw e;
  console.log(`refused ${e.message}`);
  Deno.exit(3);
}
