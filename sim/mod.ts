/**
 * The deterministic raft cluster simulator.
 *
 * `simulate({ seed, steps, nodes })` drives RawNodes with MemoryStorage through random faults and
 * checks the safety invariants after every step, then liveness once everything heals (see
 * simulator.ts for the faults, checker.ts for the invariants). Every random choice comes from the
 * seeded Rng: a failing seed replays exactly with `deno task sim --seed S --steps N --nodes M`
 * (`--verbose` prints every action; `Simulation.describeNodes()` shows the nodes from a script).
 */
export { Rng } from "./rng.ts";
export { Checker, InvariantViolation } from "./checker.ts";
export {
  type Action,
  ACTIONS,
  DEFAULT_WEIGHTS,
  simulate,
  Simulation,
  type SimulationOptions,
  type SimulationResult,
  type SimulationStats,
} from "./simulator.ts";
