import assert from "node:assert/strict";
import { simulate, type SimulationResult } from "../../sim/mod.ts";

function failure(r: SimulationResult): string {
  if (r.ok) return "";
  return `seed ${r.seed} (${r.phase} phase, step ${r.step}): ${r.violation}\n` +
    `${r.trace.join("\n")}\nreplay: deno task sim --seed ${r.seed} --steps 2000 --nodes 5`;
}

Deno.test("simulator: 200 seeds x 2000 steps on 5 nodes keep every safety invariant and stay live", () => {
  const failures: string[] = [];
  for (let seed = 1; seed <= 200; seed++) {
    const r = simulate({ seed, steps: 2000, nodes: 5 });
    if (!r.ok) failures.push(failure(r));
    if (failures.length >= 3) break;
  }
  assert.deepEqual(failures, []);
});

Deno.test("simulator: a seed replays exactly", () => {
  const a = simulate({ seed: 4242, steps: 1500, nodes: 5 });
  const b = simulate({ seed: 4242, steps: 1500, nodes: 5 });
  assert.deepEqual(a, b);
});
