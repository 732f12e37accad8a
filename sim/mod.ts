/** The deterministic raft cluster simulator: see simulator.ts for what one run does and checks. */
export { Rng } from "./rng.ts";
export { Checker, InvariantViolation } from "./checker.ts";
export {
  simulate,
  Simulation,
  type SimulationOptions,
  type SimulationResult,
  type SimulationStats,
} from "./simulator.ts";
