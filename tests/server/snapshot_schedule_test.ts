import assert from "node:assert/strict";
import {
  idFraction,
  idleWindowMs,
  snapshotDue,
  snapshotPhase,
} from "../../server/snapshot_schedule.ts";

/** The indexes at which a node applying one entry at a time would take its snapshots. */
function dueIndexes(id: number, count: number, upTo: number): number[] {
  const phase = snapshotPhase(id, count);
  const due: number[] = [];
  let snapshotIndex = 0;
  for (let applied = 1; applied <= upTo; applied++) {
    if (snapshotDue(snapshotIndex, applied, phase)) {
      due.push(applied);
      snapshotIndex = applied;
    }
  }
  return due;
}

Deno.test("snapshot schedule: one snapshot every count entries, the first within count", () => {
  for (const count of [1, 7, 50, 10_000]) {
    for (const id of [1, 2, 3, 12345]) {
      const due = dueIndexes(id, count, count * 5);
      assert.equal(due.length, 5, `id ${id} count ${count}: ${due}`);
      assert.ok(due[0]! >= 1 && due[0]! <= count);
      for (let i = 1; i < due.length; i++) assert.equal(due[i]! - due[i - 1]!, count);
    }
  }
});

Deno.test("snapshot schedule: nodes 1, 2 and 3 are out of phase by at least a fifth of count", () => {
  const count = 10_000;
  const offsets = [1, 2, 3].map((id) => snapshotPhase(id, count).offset).sort((a, b) => a - b);
  const gaps = [
    offsets[1]! - offsets[0]!,
    offsets[2]! - offsets[1]!,
    count + offsets[0]! - offsets[2]!,
  ];
  for (const gap of gaps) assert.ok(gap >= count / 5, `offsets ${offsets}`);
});

Deno.test("snapshot schedule: a late snapshot does not move the phase; a jump past two points is one snapshot", () => {
  const phase = snapshotPhase(2, 100);
  const point = phase.offset + 100;
  // Taken late (at point + 40): the next one is still due at the next point, not 100 after it.
  assert.equal(snapshotDue(point + 40, point + 99, phase), false);
  assert.equal(snapshotDue(point + 40, point + 100, phase), true);
  // A snapshot from the leader far ahead: nothing due until the next point after it.
  assert.equal(snapshotDue(point + 1000, point + 1050, phase), false);
  assert.equal(snapshotDue(0, point + 1000, phase), true);
});

Deno.test("idle images: nodes 1 to 5 wait 0.5 to 3.5 s of quiet, each at least 0.4 s apart", () => {
  const windows = [1, 2, 3, 4, 5].map((id) => idleWindowMs(idFraction(id))).sort((a, b) => a - b);
  assert.ok(windows[0]! >= 500 && windows.at(-1)! <= 3500, `windows ${windows}`);
  for (let i = 1; i < windows.length; i++) {
    assert.ok(windows[i]! - windows[i - 1]! >= 400, `windows ${windows}`);
  }
});
