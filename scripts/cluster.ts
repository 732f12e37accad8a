/**
 * `deno task cluster`: a local 3-node cluster. Node i listens for clients on i·10000+2379 and for
 * peers on i·10000+2380, and keeps its data in raftkv-i/. Ctrl-C stops all three cleanly.
 */
import { V8_FLAGS_ARG } from "../server/v8_flags.ts";

const NODES = [1, 2, 3];
const mainPath = new URL("../main.ts", import.meta.url).pathname;
const peers = NODES.map((i) => `http://127.0.0.1:${i * 10000 + 2380}`).join(",");

const children = NODES.map((id) => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      V8_FLAGS_ARG,
      mainPath,
      "start-server",
      "--id",
      String(id),
      "--peers",
      peers,
      "--client-port",
      String(id * 10000 + 2379),
      "--data-dir",
      `raftkv-${id}`,
      ...Deno.args,
    ],
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return { id, child };
});

console.log("raftkv: 3-node cluster starting; Ctrl-C stops it");
for (const { id } of children) {
  console.log(
    `  node ${id}: clients http://127.0.0.1:${id * 10000 + 2379}  peers http://127.0.0.1:${
      id * 10000 + 2380
    }  data raftkv-${id}/`,
  );
}
console.log("Try: curl -X PUT --data-binary hello http://127.0.0.1:12379/kv/greeting");

let stopping = false;
let bySignal = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  console.log("\nraftkv: stopping the cluster");
  for (const { child } of children) {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
  }
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    bySignal = true;
    stop();
  });
}

// One node exiting on its own (a bad flag, a locked data dir) takes the others down with it.
await Promise.race(children.map(({ child }) => child.status));
stop();
const statuses = await Promise.all(children.map(({ child }) => child.status));
Deno.exit(!bySignal || statuses.some((status) => !status.success) ? 1 : 0);
