import assert from "node:assert/strict";
import { V8_FLAGS, V8_FLAGS_ARG } from "../../server/v8_flags.ts";

Deno.test("v8 flags: deno task start and deno task compile pass the flags of server/v8_flags.ts", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  ) as { tasks: Record<string, string> };
  assert.equal(V8_FLAGS_ARG, `--v8-flags=${V8_FLAGS.join(",")}`);
  for (const task of ["start", "compile"]) {
    const words = config.tasks[task]!.split(" ");
    assert.ok(words.includes(V8_FLAGS_ARG), `${task}: ${config.tasks[task]}`);
    assert.ok(words.indexOf(V8_FLAGS_ARG) < words.indexOf("main.ts"), `${task}: before main.ts`);
  }
});

Deno.test("v8 flags: V8 takes each flag and reports the value set", async () => {
  // V8 refuses a flag it does not know at startup: a typo in the list would fail here.
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `${V8_FLAGS_ARG},--print-flag-values`, ""],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  for (const flag of V8_FLAGS) {
    const [name, value] = flag.replace(/^--/, "").split("=");
    assert.match(text, new RegExp(`--${name}=${value}\\b`), `${flag} in V8's flag values`);
  }
});
