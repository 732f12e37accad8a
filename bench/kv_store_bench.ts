/**
 * KvStore: apply of puts, point gets, prefix ranges, snapshot (in one go, as a job in slices that
 * yield to the event loop, and in chunks for a streamed file) and restore over 100k keys with
 * 256-byte values. Run: `deno bench -A bench/kv_store_bench.ts`.
 */
import { type KvCommand, KvStore } from "../kv/mod.ts";

const KEYS = 100_000;
const enc = new TextEncoder();
const value = new Uint8Array(256).fill(0x61);
const keys: Uint8Array[] = [];
for (let i = 0; i < KEYS; i++) {
  // Spread keys over 100 prefixes so that ranges by prefix have work to do.
  keys.push(enc.encode(`user/${String(i % 100).padStart(3, "0")}/${i * 7919 % KEYS}`));
}

function filled(): KvStore {
  const s = new KvStore();
  for (let i = 0; i < KEYS; i++) {
    s.apply(i + 1, { requestId: "", op: "put", key: keys[i]!, value });
  }
  return s;
}

const full = filled();
const snap = full.snapshot();
const prefix = enc.encode("user/042/");

Deno.bench("apply 100k puts of new keys (256-byte values)", { group: "apply" }, () => {
  filled();
});

Deno.bench("apply 100k puts of new keys, then one range (merges the sorted index)", {
  group: "apply",
}, () => {
  filled().range(prefix, 1);
});

let overwriteIndex = full.appliedIndex;
Deno.bench("apply 100k overwrites of existing keys", { group: "apply" }, () => {
  for (let i = 0; i < KEYS; i++) {
    const cmd: KvCommand = { requestId: "", op: "put", key: keys[i]!, value };
    full.apply(++overwriteIndex, cmd);
  }
});

Deno.bench("get 100k existing keys", { group: "read" }, () => {
  for (let i = 0; i < KEYS; i++) {
    if (full.get(keys[i]!) === undefined) throw new Error("missing");
  }
});

Deno.bench("range prefix (1000 keys under it), limit 100", { group: "read" }, () => {
  const r = full.range(prefix, 100);
  if (r.items.length !== 100 || !r.more) throw new Error("bad range");
});

Deno.bench("range prefix, limit 1000 (all of it)", { group: "read" }, () => {
  const r = full.range(prefix, 1000);
  if (r.items.length !== 1000) throw new Error("bad range");
});

Deno.bench(`snapshot of 100k keys (${(snap.length / 1e6).toFixed(1)} MB)`, {
  group: "snapshot",
}, () => {
  full.snapshot();
});

Deno.bench("snapshotAsync of 100k keys (5 ms slices, setTimeout(0) between)", {
  group: "snapshot",
}, async () => {
  const r = await full.snapshotAsync();
  if (r.data.length !== snap.length) throw new Error("bad snapshot size");
});

Deno.bench("beginSnapshot().chunks() of 100k keys (1 MiB chunks in one reused buffer)", {
  group: "snapshot",
}, () => {
  let bytes = 0;
  for (const chunk of full.beginSnapshot().chunks(1024 * 1024)) bytes += chunk.length;
  if (bytes !== snap.length) throw new Error("bad snapshot size");
});

Deno.bench("beginSnapshot() + abort() at 100k keys (the sorted runs lent copy-on-write)", {
  group: "snapshot",
}, () => {
  full.beginSnapshot().abort();
});

Deno.bench("restore of a 100k-key snapshot", { group: "snapshot" }, () => {
  new KvStore().restore(snap);
});
