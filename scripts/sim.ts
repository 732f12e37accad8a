/**
 * Runs the deterministic raft simulator (sim/) from the command line.
 *
 *   deno task sim --seed 7 --steps 2000 --nodes 5      one run
 *   deno task sim --seeds 1..200 --steps 2000          a sweep over seeds 1 to 200
 *   deno task sim --seed 100 --runs 50                 seeds 100 to 149
 *   deno task sim --seed 7 --verbose                   prints every action of the run
 *   deno task sim --seed 7 --leader-removal off        never remove/demote the current leader
 *   deno task sim --runs 100 --weight confChange=200   membership-heavy runs (see DEFAULT_WEIGHTS)
 *
 * Exits 1 at the first violation, printing the seed, the step, what broke and the last actions;
 * `deno task sim --seed <that seed> --steps <same>` replays it exactly.
 */
import { parseArgs } from "node:util";
import {
  type Action,
  ACTIONS,
  simulate,
  type SimulationOptions,
  type SimulationResult,
} from "../sim/mod.ts";

const RUNS_MAX = 1_000_000;

function usage(message: string): never {
  console.error(`${message}
usage: deno task sim [--seed S | --seeds A..B] [--runs K] [--steps N] [--nodes M]
                     [--pre-vote on|off] [--check-quorum on|off] [--leader-removal on|off]
                     [--weight ACTION=N ...] [--verbose]`);
  Deno.exit(2);
}

function int(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) usage(`--${name} must be a non-negative integer`);
  return n;
}

function onOff(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === "on" || value === "true") return true;
  if (value === "off" || value === "false") return false;
  usage(`--${name} must be on or off`);
}

/** `--weight confChange=100 --weight transfer=50`: overrides of the action weights. */
function weightsOf(specs: string[]): Partial<Record<Action, number>> | undefined {
  if (specs.length === 0) return undefined;
  const weights: Partial<Record<Action, number>> = {};
  for (const spec of specs) {
    const m = /^(\w+)=(\d+)$/.exec(spec);
    const action = m?.[1] as Action | undefined;
    if (m === null || action === undefined || !ACTIONS.includes(action)) {
      usage(`--weight must look like ACTION=N with ACTION one of ${ACTIONS.join(", ")}`);
    }
    weights[action] = Number(m[2]);
  }
  return weights;
}

function seedsOf(values: Record<string, string | string[] | boolean | undefined>): number[] {
  const seed = int("seed", values.seed as string | undefined, 1);
  const range = values.seeds as string | undefined;
  let first = seed;
  let last = seed;
  if (range !== undefined) {
    const m = /^(\d+)\.\.(\d+)$/.exec(range);
    if (m === null) usage("--seeds must look like A..B");
    first = Number(m[1]);
    last = Number(m[2]);
    if (last < first) usage("--seeds A..B needs A <= B");
  }
  if (values.runs !== undefined) last = first + int("runs", values.runs as string, 1) - 1;
  if (last - first + 1 > RUNS_MAX) usage(`at most ${RUNS_MAX} runs`);
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

function summary(r: SimulationResult): string {
  const s = r.stats;
  return `seed ${r.seed}: preVote=${r.preVote} checkQuorum=${r.checkQuorum} ` +
    `leaderTerms=${s.leaderTerms} applied=${s.maxApplied} proposals=${s.proposals} ` +
    `reads=${s.reads} crashes=${s.crashes} confChanges=${s.confChanges} ` +
    `transfers=${s.transfers} compactions=${s.compactions} snapshotsSent=${s.snapshotsSent} ` +
    `delivered=${s.delivered} dropped=${s.dropped} livenessTicks=${s.livenessTicks}`;
}

function main(): void {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      options: {
        seed: { type: "string" },
        seeds: { type: "string" },
        runs: { type: "string" },
        steps: { type: "string" },
        nodes: { type: "string" },
        "pre-vote": { type: "string" },
        "check-quorum": { type: "string" },
        "leader-removal": { type: "string" },
        weight: { type: "string", multiple: true },
        verbose: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
      strict: true,
    });
  } catch (err) {
    usage(err instanceof Error ? err.message : String(err));
  }
  const { values } = parsed;
  if (values.help) usage("Runs the raft simulator.");
  const steps = int("steps", values.steps, 2000);
  const nodes = int("nodes", values.nodes, 5);
  if (nodes < 1 || nodes > 7) usage("--nodes must be 1 to 7");
  const preVote = onOff("pre-vote", values["pre-vote"]);
  const checkQuorum = onOff("check-quorum", values["check-quorum"]);
  const leaderRemoval = onOff("leader-removal", values["leader-removal"]);
  const weights = weightsOf(values.weight ?? []);
  const seeds = seedsOf(values);
  let failed = 0;
  for (const seed of seeds) {
    const options: SimulationOptions = { seed, steps, nodes };
    if (preVote !== undefined) options.preVote = preVote;
    if (checkQuorum !== undefined) options.checkQuorum = checkQuorum;
    if (leaderRemoval !== undefined) options.leaderRemoval = leaderRemoval;
    if (weights !== undefined) options.weights = weights;
    if (values.verbose) options.onAction = (step, action) => console.log(`  ${step}: ${action}`);
    const r = simulate(options);
    if (r.ok) {
      console.log(`ok   ${summary(r)} digest=${r.digest}`);
      continue;
    }
    failed++;
    console.log(`FAIL ${summary(r)}`);
    console.log(`  seed ${r.seed}, ${r.phase} phase, step ${r.step}: ${r.violation}`);
    console.log(`  last actions:\n${r.trace.map((t) => `    ${t}`).join("\n")}`);
    console.log(`  replay: deno task sim --seed ${r.seed} --steps ${steps} --nodes ${nodes}`);
    break;
  }
  if (failed > 0) {
    console.log(
      `  (same options: add the flags given to this run, e.g. --pre-vote/--leader-removal)`,
    );
    Deno.exit(1);
  }
  console.log(`all ${seeds.length} runs passed (${steps} steps, ${nodes} nodes)`);
}

main();
