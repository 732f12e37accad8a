/**
 * The `start-server` flags of shared/SPEC.md: one table drives parsing, validation and `--help`,
 * so the usage text can never drift from what is accepted.
 */
import { parseArgs } from "node:util";

/** A bad or missing flag; main.ts prints the message and the usage, then exits with code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export interface ServerConfig {
  id: number;
  /** Every peer named on the command line, this node included. */
  peers: Map<number, string>;
  peerPort: number;
  clientPort: number;
  host: string;
  dataDir: string;
  join: boolean;
  snapshotCount: number;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  valueBytesMax: number;
}

interface FlagSpec {
  name: string;
  type: "string" | "boolean";
  value?: string;
  defaultText: string;
  help: string;
}

const FLAGS: readonly FlagSpec[] = [
  {
    name: "id",
    type: "string",
    value: "N",
    defaultText: "required",
    help: "this node's id, a positive integer",
  },
  {
    name: "peers",
    type: "string",
    value: "URLS",
    defaultText: "required",
    help: "comma-separated peer URLs: the i-th belongs to node i, or id=URL pairs",
  },
  {
    name: "peer-port",
    type: "string",
    value: "PORT",
    defaultText: "port of its own --peers URL",
    help: "port for raft traffic from peers",
  },
  {
    name: "client-port",
    type: "string",
    value: "PORT",
    defaultText: "2379",
    help: "port for the REST API",
  },
  {
    name: "host",
    type: "string",
    value: "ADDR",
    defaultText: "127.0.0.1",
    help: "address both listeners bind to (0.0.0.0 for every interface)",
  },
  {
    name: "data-dir",
    type: "string",
    value: "DIR",
    defaultText: "raftkv-<id>",
    help: "holds wal/ and snap/; locked while the node runs",
  },
  {
    name: "join",
    type: "boolean",
    defaultText: "off",
    help: "start as a member just added through POST /cluster/members",
  },
  {
    name: "snapshot-count",
    type: "string",
    value: "N",
    defaultText: "10000",
    help: "applied entries between two snapshots",
  },
  {
    name: "tick-ms",
    type: "string",
    value: "MS",
    defaultText: "100",
    help: "length of one raft tick",
  },
  {
    name: "election-ticks",
    type: "string",
    value: "N",
    defaultText: "10",
    help: "ticks without a leader before an election",
  },
  {
    name: "heartbeat-ticks",
    type: "string",
    value: "N",
    defaultText: "1",
    help: "ticks between heartbeats",
  },
  {
    name: "max-value-bytes",
    type: "string",
    value: "BYTES",
    defaultText: "1048576",
    help: "largest value a PUT accepts",
  },
  { name: "help", type: "boolean", defaultText: "", help: "print this help and exit" },
];

/** The usage text, generated from the flag table. */
export function usage(): string {
  const rows = FLAGS.map((flag) => {
    const left = `  --${flag.name}${flag.value ? ` ${flag.value}` : ""}`;
    const dflt = flag.defaultText ? ` (default: ${flag.defaultText})` : "";
    return `${left.padEnd(28)}${flag.help}${dflt}`;
  });
  return [
    "Usage: raftkv start-server --id N --peers URLS [flags]",
    "",
    "Starts one raftkv node. Example, node 1 of a local 3-node cluster:",
    "  raftkv start-server --id 1 --client-port 12379 \\",
    "    --peers http://127.0.0.1:12380,http://127.0.0.1:22380,http://127.0.0.1:32380",
    "",
    "Flags:",
    ...rows,
  ].join("\n");
}

/** Parses `start-server` arguments. Returns undefined when `--help` was asked for. */
export function parseServerFlags(args: string[]): ServerConfig | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: Object.fromEntries(FLAGS.map((flag) => [flag.name, { type: flag.type }])),
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    // node:util's messages are long and mention internals; keep the first sentence.
    const message = error instanceof Error ? error.message.split(". ")[0] : String(error);
    throw new UsageError(message ?? "bad arguments");
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values["help"] === true) return undefined;

  const text = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === "string" ? value : undefined;
  };
  const id = parseInteger("id", text("id"), { min: 1, required: true });
  const peersText = text("peers");
  if (peersText === undefined) throw new UsageError("missing required flag --peers");
  const peers = parsePeers(peersText);
  const ownURL = peers.get(id);
  if (ownURL === undefined) {
    throw new UsageError(`--peers names no URL for this node (--id ${id})`);
  }
  const ownPort = urlPort(ownURL);
  const electionTicks = parseInteger("election-ticks", text("election-ticks"), {
    min: 2,
    fallback: 10,
  });
  const heartbeatTicks = parseInteger("heartbeat-ticks", text("heartbeat-ticks"), {
    min: 1,
    fallback: 1,
  });
  if (heartbeatTicks >= electionTicks) {
    throw new UsageError(
      `--heartbeat-ticks (${heartbeatTicks}) must be less than --election-ticks (${electionTicks})`,
    );
  }
  const clientPort = parseInteger("client-port", text("client-port"), {
    min: 1,
    max: 65535,
    fallback: 2379,
  });
  const peerPort = parseInteger("peer-port", text("peer-port"), {
    min: 1,
    max: 65535,
    fallback: ownPort,
  });
  if (clientPort === peerPort) {
    throw new UsageError(`--client-port and the peer port are both ${clientPort}`);
  }
  return {
    id,
    peers,
    peerPort,
    clientPort,
    host: text("host") ?? "127.0.0.1",
    dataDir: text("data-dir") ?? `raftkv-${id}`,
    join: values["join"] === true,
    snapshotCount: parseInteger("snapshot-count", text("snapshot-count"), {
      min: 1,
      fallback: 10000,
    }),
    tickMs: parseInteger("tick-ms", text("tick-ms"), { min: 1, max: 60_000, fallback: 100 }),
    electionTicks,
    heartbeatTicks,
    valueBytesMax: parseInteger("max-value-bytes", text("max-value-bytes"), {
      min: 1,
      max: 64 * 1024 * 1024,
      fallback: 1024 * 1024,
    }),
  };
}

/** Plain URLs (the i-th is node i) or `id=URL` pairs, never a mix. */
export function parsePeers(text: string): Map<number, string> {
  const items = text.split(",").map((item) => item.trim()).filter((item) => item !== "");
  if (items.length === 0) throw new UsageError("--peers is empty");
  const pairs = items.map((item) => item.includes("=") && !item.startsWith("http"));
  if (pairs.some((pair) => pair !== pairs[0])) {
    throw new UsageError("--peers mixes plain URLs and id=URL pairs");
  }
  const peers = new Map<number, string>();
  items.forEach((item, position) => {
    let id = position + 1;
    let url = item;
    if (pairs[0]) {
      const at = item.indexOf("=");
      id = parseInteger("peers", item.slice(0, at), { min: 1, required: true });
      url = item.slice(at + 1);
    }
    if (peers.has(id)) throw new UsageError(`--peers names node ${id} twice`);
    peers.set(id, normalizePeerURL(url));
  });
  return peers;
}

function normalizePeerURL(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--peers: "${text}" is not a URL`);
  }
  if (url.protocol !== "http:") {
    throw new UsageError(`--peers: "${text}" must be an http:// URL`);
  }
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "") {
    throw new UsageError(`--peers: "${text}" must have no path, query or fragment`);
  }
  return url.origin;
}

function urlPort(url: string): number {
  const port = new URL(url).port;
  return port === "" ? 80 : Number(port);
}

function parseInteger(
  name: string,
  text: string | undefined,
  options: { min: number; max?: number; required?: boolean; fallback?: number },
): number {
  if (text === undefined) {
    if (options.fallback !== undefined) return options.fallback;
    throw new UsageError(`missing required flag --${name}`);
  }
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  if (!/^\d+$/.test(text.trim()) || Number(text) < options.min || Number(text) > max) {
    const range = options.max === undefined ? `>= ${options.min}` : `${options.min}..${max}`;
    throw new UsageError(`--${name} must be an integer ${range}, got "${text}"`);
  }
  return Number(text);
}
