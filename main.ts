/**
 * The raftkv command line. `start-server` runs one node; see `--help` and shared/SPEC.md.
 * `deno task compile` turns this file into the single `raftkv` binary.
 */
import { parseServerFlags, usage, UsageError } from "./server/flags.ts";
import { runServer } from "./server/server.ts";

const COMMANDS =
  "Commands:\n  start-server   run one raftkv node (start-server --help lists its flags)";

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    console.log(`Usage: raftkv <command> [flags]\n\n${COMMANDS}`);
    return command === undefined ? 2 : 0;
  }
  if (command !== "start-server") {
    console.error(`raftkv: unknown command "${command}"\n\n${COMMANDS}`);
    return 2;
  }
  let config;
  try {
    config = parseServerFlags(rest);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`raftkv: ${error.message}\n\n${usage()}`);
    return 2;
  }
  if (config === undefined) {
    console.log(usage());
    return 0;
  }
  return await runServer(config);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
