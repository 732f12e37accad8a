/**
 * A bounded stream of writes against a test cluster, recording which were acknowledged, so a
 * test can check that every acknowledged write survives what it did to the cluster.
 */
import { equal } from "node:assert/strict";
import type { TestCluster, TestNode } from "./harness.ts";

export interface Acked {
  key: string;
  value: string;
  revision: number;
}

export class WriteStream {
  readonly acked: Acked[] = [];
  readonly failures = new Map<number | string, number>();
  #stopped = false;
  #workers: Promise<void>[] = [];
  #sequence = 0;

  constructor(readonly cluster: TestCluster, readonly prefix: string) {}

  /** Starts `concurrency` writers, each sending one write at a time to a running node in turn. */
  start(options: { concurrency: number; writesMax: number }): void {
    for (let worker = 0; worker < options.concurrency; worker++) {
      this.#workers.push(this.#work(worker, options.writesMax));
    }
  }

  /** Waits until `writesMax` writes have been answered. */
  async finish(): Promise<void> {
    await Promise.all(this.#workers);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#workers);
  }

  async #work(worker: number, writesMax: number): Promise<void> {
    let turn = worker;
    while (!this.#stopped && this.#sequence < writesMax) {
      const nodes = this.cluster.running();
      const node = nodes[turn++ % Math.max(1, nodes.length)];
      if (node === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      const n = this.#sequence++;
      const key = `${this.prefix}/${String(n).padStart(6, "0")}`;
      const value = `value-${n}`;
      try {
        const response = await fetch(`${node.url}/kv/${key}`, {
          method: "PUT",
          body: value,
          signal: AbortSignal.timeout(8000),
        });
        const text = await response.text();
        if (response.status === 200) {
          this.acked.push({ key, value, revision: (JSON.parse(text) as Acked).revision });
        } else {
          this.failures.set(response.status, (this.failures.get(response.status) ?? 0) + 1);
        }
      } catch (error) {
        const name = (error as Error).name;
        this.failures.set(name, (this.failures.get(name) ?? 0) + 1);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }
}

/** Reads every acknowledged write back from `node` and checks value and revision. */
export async function assertAllReadable(
  node: TestNode,
  acked: Acked[],
  options: { consistency?: "serializable" } = {},
): Promise<void> {
  const query = options.consistency ? `?consistency=${options.consistency}` : "";
  // A few at a time: thousands of parallel requests would only measure the test's own load.
  for (let i = 0; i < acked.length; i += 32) {
    await Promise.all(
      acked.slice(i, i + 32).map(async ({ key, value, revision }) => {
        const response = await node.fetch(`/kv/${key}${query}`);
        const body = await response.text();
        equal(response.status, 200, `node ${node.id} lost acknowledged write ${key}: ${body}`);
        equal(body, value, `node ${node.id}: ${key}`);
        equal(response.headers.get("etag"), `"${revision}"`, `node ${node.id}: ${key}`);
      }),
    );
  }
}
