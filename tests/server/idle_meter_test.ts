import assert from "node:assert/strict";
import { IdleMeter } from "../../server/idle_meter.ts";

Deno.test("idle meter: idle only once its samples span the window with little CPU used", () => {
  let now = 0;
  let cpu = 0;
  const meter = new IdleMeter({
    windowMs: 500,
    busyFractionMax: 0.1,
    now: () => now,
    cpuMs: () => cpu,
  });
  assert.equal(meter.idle, false, "no samples");
  // 100 ms ticks, 5 ms of CPU each: 5% of a core.
  for (let tick = 0; tick < 5; tick++) {
    meter.sample();
    assert.equal(meter.idle, false, `tick ${tick}: the samples span ${now} ms, under the window`);
    now += 100;
    cpu += 5;
  }
  meter.sample();
  assert.equal(meter.idle, true, "500 ms at 5%");
  // A busy tick: 80 ms of CPU in 100 ms. Over the window that is (4 × 5 + 80) / 500 = 20%.
  now += 100;
  cpu += 80;
  meter.sample();
  assert.equal(meter.idle, false, "busy within the window");
  // Quiet again: once the busy tick has left the window, idle again.
  for (let tick = 0; tick < 4; tick++) {
    now += 100;
    cpu += 5;
    meter.sample();
    assert.equal(meter.idle, false, `quiet tick ${tick}: the busy one is still in the window`);
  }
  now += 100;
  cpu += 5;
  meter.sample();
  assert.equal(meter.idle, true, "the busy tick has left the window");
});

Deno.test("idle meter: refuses a window or limit that is not positive; reads this process by default", () => {
  assert.throws(() => new IdleMeter({ windowMs: 0 }), RangeError);
  assert.throws(() => new IdleMeter({ busyFractionMax: -1 }), RangeError);
  const meter = new IdleMeter({ windowMs: 1 });
  meter.sample();
  const until = performance.now() + 5;
  while (performance.now() < until); // Busy: 100% of a core.
  meter.sample();
  assert.equal(meter.idle, false, "a busy loop is not idle");
});
