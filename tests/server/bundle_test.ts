/** `deno bundle` of main.ts gives one file that runs a node (`deno compile` needs a download). */
import { equal } from "node:assert/strict";
import { TestCluster } from "./harness.ts";

Deno.test("the bundle of main.ts runs a node that serves writes and stops on SIGTERM", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftkv-bundle-" });
  try {
    const bundle = `${dir}/raftkv.js`;
    const built = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--platform",
        "deno",
        "-o",
        bundle,
        new URL("../../main.ts", import.meta.url).pathname,
      ],
      stdin: "null",
    }).output();
    equal(built.code, 0, new TextDecoder().decode(built.stderr));

    const cluster = await TestCluster.start({ nodes: 1, entry: bundle });
    try {
      const node = await cluster.waitForLeader();
      const put = await node.fetch("/kv/bundled", { method: "PUT", body: "yes" });
      equal(put.status, 200);
      await put.body?.cancel();
      const get = await node.fetch("/kv/bundled");
      equal(await get.text(), "yes");
      equal((await node.kill("SIGTERM")).code, 0);
    } finally {
      await cluster.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
