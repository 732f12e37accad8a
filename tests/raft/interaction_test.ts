/**
 * Scripted interaction tests: each file in testdata/ is a sequence of blocks
 *
 *   <command> <args...>
 *   ----
 *   <expected output, up to a blank line>
 *
 * run against a hand-routed Cluster (harness.ts). The output shows every message delivered and
 * the resulting states, so a change in behaviour shows up as a readable diff. Run with
 * `REWRITE=1 deno test -A tests/raft/interaction_test.ts` to rewrite the expected outputs (then
 * review the diff before committing).
 *
 * Commands: new peers=1,2,3 [learners=4] [pre-vote] [check-quorum]; campaign ID; tick ID [N];
 * tick-all [N]; propose ID DATA; conf-change ID (add|remove|learner) NODE; transfer ID TARGET;
 * read ID CTX; isolate ID; heal; stabilize; status ID...; log ID.
 */
import assert from "node:assert/strict";
import {
  ConfChangeType,
  type Message,
  MessageType,
  ProposalDroppedError,
  StateType,
} from "../../raft/mod.ts";
import { stateName } from "../../raft/raft.ts";
import { Cluster, dec, enc } from "./harness.ts";

const TYPE_NAMES = new Map<number, string>(
  Object.entries(MessageType).map(([name, v]) => [v, name]),
);

function formatMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${TYPE_NAMES.get(m.type)} t${m.term}`;
  if (
    m.type === MessageType.MsgApp || m.type === MessageType.MsgVote ||
    m.type === MessageType.MsgPreVote
  ) {
    s += ` i${m.index} lt${m.logTerm}`;
  }
  if (m.type === MessageType.MsgAppResp || m.type === MessageType.MsgReadIndexResp) {
    s += ` i${m.index}`;
  }
  if (m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat) s += ` c${m.commit}`;
  if (m.entries.length > 0) {
    s += ` [${m.entries.map((e) => `${e.index}/${e.term}${e.type === 1 ? "cc" : ""}`).join(" ")}]`;
  }
  if (m.reject) s += ` rejected hint=${m.rejectHint}/${m.logTerm}`;
  if (m.snapshot) s += ` snap=${m.snapshot.metadata.index}/${m.snapshot.metadata.term}`;
  return s;
}

class Runner {
  cluster: Cluster | undefined;

  #c(): Cluster {
    if (this.cluster === undefined) throw new Error("no cluster: start with `new`");
    return this.cluster;
  }

  /** Runs one command; returns its output lines. */
  run(line: string): string[] {
    const [cmd, ...args] = line.trim().split(/\s+/);
    const num = (i: number) => {
      const v = Number(args[i]);
      if (!Number.isSafeInteger(v)) throw new Error(`${cmd}: argument ${i + 1} is not a number`);
      return v;
    };
    switch (cmd) {
      case "new": {
        const opts = new Map(args.map((a) => a.split("=") as [string, string | undefined]));
        const ids = (k: string) =>
          (opts.get(k) ?? "").split(",").filter((x) => x !== "").map(Number);
        this.cluster = new Cluster({
          peers: ids("peers"),
          learners: ids("learners"),
          config: { preVote: opts.has("pre-vote"), checkQuorum: opts.has("check-quorum") },
        });
        this.cluster.stabilize();
        return [];
      }
      case "campaign":
        this.#c().node(num(0)).rn.campaign();
        return [];
      case "tick":
        this.#c().tick(num(0), args.length > 1 ? num(1) : 1);
        return [];
      case "tick-all": {
        const c = this.#c();
        const n = args.length > 0 ? num(0) : 1;
        for (let k = 0; k < n; k++) for (const node of c.nodes.values()) node.rn.tick();
        return [];
      }
      case "propose":
        return this.#catchDrop(() => this.#c().node(num(0)).rn.propose(enc(args[1] ?? "")));
      case "conf-change": {
        const type = {
          add: ConfChangeType.AddNode,
          remove: ConfChangeType.RemoveNode,
          learner: ConfChangeType.AddLearnerNode,
        }[
          args[1] as "add" | "remove" | "learner"
        ];
        if (type === undefined) throw new Error(`conf-change: unknown kind ${args[1]}`);
        return this.#catchDrop(() =>
          this.#c().node(num(0)).rn.proposeConfChange({
            transition: 0,
            changes: [{ type, nodeId: num(2) }],
            context: new Uint8Array(),
          })
        );
      }
      case "transfer":
        this.#c().node(num(0)).rn.transferLeader(num(1));
        return [];
      case "read":
        this.#c().node(num(0)).rn.readIndex(enc(args[1] ?? ""));
        return [];
      case "isolate":
        this.#c().isolated.add(num(0));
        return [];
      case "heal":
        this.#c().isolated.clear();
        return [];
      case "stabilize": {
        const c = this.#c();
        const lines: string[] = [];
        c.onDeliver = (m) => lines.push(formatMessage(m));
        c.stabilize();
        c.onDeliver = undefined;
        return lines;
      }
      case "status":
        return args.map((_, i) => this.#status(num(i)));
      case "log": {
        const r = this.#c().raft(num(0));
        const log = r.raftLog;
        const ents = log.slice(log.firstIndex(), log.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
        return [
          ents.map((e) =>
            `${e.index}/${e.term}${e.type === 1 ? "cc" : ""}${
              e.data.byteLength > 0 && e.type === 0 ? `:${dec(e.data)}` : ""
            }`
          ).join(" "),
        ];
      }
      default:
        throw new Error(`unknown command ${cmd}`);
    }
  }

  #catchDrop(fn: () => void): string[] {
    try {
      fn();
      return [];
    } catch (err) {
      if (err instanceof ProposalDroppedError) return [`dropped: ${err.message}`];
      throw err;
    }
  }

  #status(id: number): string {
    const n = this.#c().node(id);
    const r = n.rn.raft;
    let s = `${id}: ${stateName(r.state)} term=${r.term} vote=${r.vote} lead=${r.lead} ` +
      `commit=${r.raftLog.committed} applied=${r.raftLog.applied} last=${r.raftLog.lastIndex()}`;
    s += ` voters=${n.confState.voters.join(",")}`;
    if (n.confState.learners.length > 0) s += ` learners=${n.confState.learners.join(",")}`;
    if (n.readStates.length > 0) {
      s += ` reads=${n.readStates.map((rs) => `${dec(rs.requestCtx)}@${rs.index}`).join(",")}`;
    }
    if (r.state === StateType.Leader) {
      const prs = [...r.trk.progress].filter(([pid]) => pid !== id).map(([pid, pr]) =>
        `${pid}:${pr.state}/${pr.match}`
      );
      s += ` progress=${prs.join(",")}`;
    }
    return s;
  }
}

interface Block {
  command: string;
  expected: string[];
}

function parse(text: string): Block[] {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  let i = 0;
  // Bounded by the number of lines: each iteration consumes at least one.
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === "" || line.startsWith("#")) {
      i++;
      continue;
    }
    if (lines[i + 1] !== "----") throw new Error(`line ${i + 2}: expected ---- after "${line}"`);
    i += 2;
    const expected: string[] = [];
    while (i < lines.length && lines[i] !== "") expected.push(lines[i++]!);
    blocks.push({ command: line, expected });
  }
  return blocks;
}

function render(
  blocks: Array<{ command: string; output: string[] }>,
  comments: Map<number, string[]>,
) {
  const out: string[] = [];
  blocks.forEach((b, k) => {
    for (const c of comments.get(k) ?? []) out.push(c);
    out.push(b.command, "----", ...b.output, "");
  });
  return out.join("\n");
}

/** Comment lines preceding each block, kept when rewriting. */
function comments(text: string): Map<number, string[]> {
  const map = new Map<number, string[]>();
  let pending: string[] = [];
  let block = 0;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith("#")) pending.push(line);
    else if (lines[i + 1] === "----") {
      map.set(block++, pending);
      pending = [];
      // Skip the output of this block.
      i += 2;
      while (i < lines.length && lines[i] !== "") i++;
    }
  }
  return map;
}

const dir = new URL("./testdata/", import.meta.url);
const rewrite = Deno.env.get("REWRITE") === "1";

for (const entry of Deno.readDirSync(dir)) {
  if (!entry.isFile || !entry.name.endsWith(".txt")) continue;
  Deno.test(`scripted interaction: ${entry.name}`, () => {
    const url = new URL(entry.name, dir);
    const text = Deno.readTextFileSync(url);
    const blocks = parse(text);
    const runner = new Runner();
    const results = blocks.map((b) => ({ command: b.command, output: runner.run(b.command) }));
    if (rewrite) {
      Deno.writeTextFileSync(url, render(results, comments(text)));
      return;
    }
    results.forEach((r, k) => {
      assert.deepEqual(
        r.output,
        blocks[k]!.expected,
        `${entry.name}: block ${k + 1} "${r.command}"`,
      );
    });
  });
}
