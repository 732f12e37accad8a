import assert from "node:assert/strict";
import { simulate, type SimulationOptions, type SimulationResult } from "../../sim/mod.ts";

function failure(r: SimulationResult, o: SimulationOptions): string {
  if (r.ok) return "";
  return `seed ${r.seed} (${r.phase} phase, step ${r.step}): ${r.violation}\n` +
    `${r.trace.join("\n")}\n` +
    `replay: deno task sim --seed ${r.seed} --steps ${o.steps} --nodes ${o.nodes}`;
}

/** Runs seeds first..last; stops at the third failure. */
function sweep(first: number, last: number, o: Omit<SimulationOptions, "seed">): string[] {
  const failures: string[] = [];
  for (let seed = first; seed <= last && failures.length < 3; seed++) {
    const options = { ...o, seed };
    const r = simulate(options);
    if (!r.ok) failures.push(failure(r, options));
  }
  return failures;
}

Deno.test("simulator: 200 seeds x 2000 steps on 5 nodes keep every safety invariant and stay live", () => {
  assert.deepEqual(sweep(1, 200, { steps: 2000, nodes: 5 }), []);
});

Deno.test("simulator: 60 seeds x 3000 steps on 3 nodes", () => {
  assert.deepEqual(sweep(1, 60, { steps: 3000, nodes: 3 }), []);
});

Deno.test("simulator: 20 seeds x 5000 steps on 7 nodes", () => {
  assert.deepEqual(sweep(1, 20, { steps: 5000, nodes: 7 }), []);
});

Deno.test("simulator: a seed replays exactly", () => {
  const a = simulate({ seed: 4242, steps: 1500, nodes: 5 });
  const b = simulate({ seed: 4242, steps: 1500, nodes: 5 });
  assert.deepEqual(a, b);
});
