import assert from "node:assert/strict";
import {
  decodeConfChange,
  EntryType,
  MemoryStorage,
  Node,
  ProposalDroppedError,
  type Ready,
  StateType,
} from "../../raft/mod.ts";
import { dec, enc } from "./harness.ts";

function newNode(): { node: Node; storage: MemoryStorage } {
  const storage = new MemoryStorage();
  const node = new Node({ id: 1, electionTicks: 10, heartbeatTicks: 1, storage });
  return { node, storage };
}

/** Runs the documented loop until `until` says stop (bounded); returns the Readys seen. */
async function runLoop(
  node: Node,
  storage: MemoryStorage,
  onReady: (rd: Ready, k: number) => void,
): Promise<Ready[]> {
  const seen: Ready[] = [];
  for await (const rd of node.ready()) {
    if (rd.hardState) storage.setHardState(rd.hardState);
    storage.append(rd.entries);
    await Promise.resolve(); // an async persist step
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.ConfChange) node.applyConfChange(decodeConfChange(e.data));
    }
    seen.push(rd);
    node.advance();
    onReady(rd, seen.length);
    if (seen.length > 100) throw new Error("too many Readys");
  }
  return seen;
}

Deno.test("Node.ready() yields a Ready for each input, and a proposal comes back committed", async () => {
  const { node, storage } = newNode();
  node.bootstrap([1]);
  const committed: string[] = [];
  const loop = runLoop(node, storage, (rd) => {
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.Normal && e.data.byteLength > 0) committed.push(dec(e.data));
    }
    if (committed.length === 2) node.stop();
  });
  // Inputs arrive from other tasks while the loop waits.
  await new Promise((r) => setTimeout(r, 0));
  node.campaign();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(node.status().softState.raftState, StateType.Leader);
  node.propose(enc("one"));
  node.propose(enc("two"));
  const readys = await loop;
  assert.deepEqual(committed, ["one", "two"]);
  assert.ok(readys.length >= 3);
});

Deno.test("Node produces the next Ready only after advance()", async () => {
  const { node, storage } = newNode();
  node.bootstrap([1]);
  const it = node.ready()[Symbol.asyncIterator]();
  const first = await it.next();
  assert.equal(first.done, false);
  storage.append((first.value as Ready).entries);
  node.advance();
  node.campaign();
  const leader = await it.next();
  assert.deepEqual((leader.value as Ready).softState, { lead: 1, raftState: StateType.Leader });
  storage.append((leader.value as Ready).entries);
  // New work arrives while the Ready is still being handled: the next one waits.
  node.propose(enc("x"));
  let third: IteratorResult<Ready> | undefined;
  const pending = it.next().then((r) => (third = r));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(third, undefined, "blocked until advance()");
  node.advance();
  await pending;
  assert.equal(third!.done, false);
  assert.deepEqual((third!.value as Ready).entries.map((e) => dec(e.data)), ["x"]);
  storage.append((third!.value as Ready).entries);
  node.advance();
  node.stop();
  assert.equal((await it.next()).done, true);
});

Deno.test("Node.stop() ends an iteration that is waiting for input", async () => {
  const { node, storage } = newNode();
  node.bootstrap([1]);
  const loop = runLoop(node, storage, () => {});
  await new Promise((r) => setTimeout(r, 5));
  node.stop();
  const readys = await loop;
  assert.equal(readys.length, 1, "only the bootstrap Ready");
  assert.throws(() => node.propose(enc("late")), ProposalDroppedError);
});

Deno.test("Node.propose throws ProposalDroppedError synchronously without a leader", () => {
  const { node } = newNode();
  node.bootstrap([1, 2, 3]);
  assert.throws(() => node.propose(enc("x")), ProposalDroppedError);
});
