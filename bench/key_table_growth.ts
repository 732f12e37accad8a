/**
 * The longest single put while a table grows to `--keys` keys (default 1,100,000): `KeyTable`
 * against one `Map` keyed by the same kind of hash, as the store used before. A `Map` grows by
 * copying all of itself at once, so one put stops the event loop for a time that doubles with the
 * keys; `KeyTable` spreads its keys over shards that each copy a 16th. A garbage collection can
 * also land in one put: the three longest are printed with the size they happened at.
 *
 *   deno run -A bench/key_table_growth.ts [--keys N]
 */
import { parseArgs } from "node:util";
import { KeyTable } from "../kv/key_table.ts";

const { values } = parseArgs({ options: { keys: { type: "string", default: "1100000" } } });
const keys = Number(values.keys);
if (!Number.isSafeInteger(keys) || keys < 1) {
  throw new RangeError(`--keys must be a positive integer`);
}

interface Item {
  key: string;
}
const items: Item[] = Array.from(
  { length: keys },
  (_, i) => ({ key: `k${String(i).padStart(8, "0")}` }),
);

function longestPuts(put: (item: Item) => void): string {
  const slowest: { ms: number; size: number }[] = [];
  const started = performance.now();
  for (let i = 0; i < keys; i++) {
    const t = performance.now();
    put(items[i]!);
    const ms = performance.now() - t;
    if (slowest.length < 3 || ms > slowest[2]!.ms) {
      slowest.push({ ms, size: i + 1 });
      slowest.sort((a, b) => b.ms - a.ms);
      slowest.length = Math.min(slowest.length, 3);
    }
  }
  const total = performance.now() - started;
  const top = slowest.map((s) => `${s.ms.toFixed(1)} ms at ${s.size}`).join(", ");
  return `${keys} puts in ${total.toFixed(0)} ms; longest: ${top}`;
}

for (let round = 1; round <= 2; round++) {
  const table = new KeyTable<Item>((item) => item.key);
  console.log(`round ${round} KeyTable: ${longestPuts((item) => table.set(item))}`);
  const map = new Map<number, Item>();
  let n = 0;
  console.log(
    `round ${round} one Map:  ${
      longestPuts((item) => map.set(Math.imul(n++, 0x9e3779b1) >>> 2, item))
    }`,
  );
}
