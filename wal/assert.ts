/** Invariant check: a broken invariant is a bug, so it throws rather than limping on. */
export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(`Assertion failed: ${message}`);
}
