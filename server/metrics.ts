/**
 * Counters, gauges and latency histograms, rendered in the Prometheus text format for
 * `GET /metrics`. A fixed set of series per metric (labels are declared up front), so memory is
 * bounded whatever the traffic.
 */

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([key, value]) =>
    `${key}="${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`
  );
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

interface Metric {
  render(lines: string[]): void;
}

/**
 * A series key: names and values joined with separators that cannot clash. Cheaper than
 * `labelText` (no escaping), which runs only when rendering; `inc` runs on every request.
 */
function seriesKey(labels: Labels): string {
  let key = "";
  for (const name in labels) key += name + "\u0000" + labels[name] + "\u0001";
  return key;
}

export class Counter implements Metric {
  #values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}

  inc(labels: Labels = {}, amount = 1): void {
    const key = seriesKey(labels);
    const series = this.#values.get(key);
    if (series) series.value += amount;
    else this.#values.set(key, { labels: { ...labels }, value: amount });
  }

  get(labels: Labels = {}): number {
    return this.#values.get(seriesKey(labels))?.value ?? 0;
  }

  render(lines: string[]): void {
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    if (this.#values.size === 0) lines.push(`${this.name} 0`);
    for (const { labels, value } of this.#values.values()) {
      lines.push(`${this.name}${labelText(labels)} ${value}`);
    }
  }
}

export class Gauge implements Metric {
  constructor(readonly name: string, readonly help: string, readonly read: () => number) {}

  render(lines: string[]): void {
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`);
    lines.push(`${this.name} ${this.read()}`);
  }
}

/** Counters kept elsewhere (the transport's), read when the metrics are rendered. */
export class CounterFamily implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly read: () => { labels: Labels; value: number }[],
  ) {}

  render(lines: string[]): void {
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    for (const { labels, value } of this.read()) {
      lines.push(`${this.name}${labelText(labels)} ${value}`);
    }
  }
}

/** Latency in seconds, with buckets from 0.5 ms to 10 s. */
export class Histogram implements Metric {
  static readonly BUCKETS = [
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
  ];
  #counts = new Array<number>(Histogram.BUCKETS.length + 1).fill(0);
  #sum = 0;
  #count = 0;

  constructor(readonly name: string, readonly help: string) {}

  observe(seconds: number): void {
    const buckets = Histogram.BUCKETS;
    let bucket = 0;
    while (bucket < buckets.length && !(seconds <= buckets[bucket]!)) bucket++;
    this.#counts[bucket] = (this.#counts[bucket] ?? 0) + 1;
    this.#sum += seconds;
    this.#count++;
  }

  get count(): number {
    return this.#count;
  }

  render(lines: string[]): void {
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    let cumulative = 0;
    Histogram.BUCKETS.forEach((bound, i) => {
      cumulative += this.#counts[i] ?? 0;
      lines.push(`${this.name}_bucket{le="${bound}"} ${cumulative}`);
    });
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`);
    lines.push(`${this.name}_sum ${this.#sum}`, `${this.name}_count ${this.#count}`);
  }
}

export class Registry {
  #metrics: Metric[] = [];

  add<M extends Metric>(metric: M): M {
    this.#metrics.push(metric);
    return metric;
  }

  render(): string {
    const lines: string[] = [];
    for (const metric of this.#metrics) metric.render(lines);
    return lines.join("\n") + "\n";
  }
}

/** The metrics a raftkv node keeps; gauges are added by the server, which knows the live values. */
export function createServerMetrics() {
  const registry = new Registry();
  return {
    registry,
    proposals: registry.add(
      new Counter("raftkv_proposals_total", "Proposals by outcome (committed, dropped, timeout)."),
    ),
    proposalSeconds: registry.add(
      new Histogram("raftkv_proposal_seconds", "From proposal to applied, for this node's writes."),
    ),
    appliedEntries: registry.add(
      new Counter("raftkv_applied_entries_total", "Raft log entries applied to the state machine."),
    ),
    walSyncSeconds: registry.add(
      new Histogram("raftkv_wal_sync_seconds", "Time to write and fsync one Ready to the WAL."),
    ),
    snapshots: registry.add(
      new Counter("raftkv_snapshots_total", "Snapshots taken (source=local) or installed (peer)."),
    ),
    snapshotSeconds: registry.add(
      new Histogram("raftkv_snapshot_seconds", "Time to take and save one snapshot."),
    ),
    httpRequests: registry.add(
      new Counter("raftkv_http_requests_total", "Client requests by method and status."),
    ),
    httpSeconds: registry.add(
      new Histogram("raftkv_http_request_seconds", "Client request latency."),
    ),
    readIndexSeconds: registry.add(
      new Histogram("raftkv_read_index_seconds", "Time to confirm a linearizable read."),
    ),
  };
}

export type ServerMetrics = ReturnType<typeof createServerMetrics>;
