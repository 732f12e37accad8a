/**
 * Whether this process has been nearly idle lately: the CPU time of all its threads over the last
 * `windowMs`, sampled on every raft tick, under `busyFractionMax` of one core. A node puts off
 * work that can wait, a new image of its store, to such a moment (`RaftServer`).
 */
import process from "node:process";

export interface IdleMeterOptions {
  /** How far back the meter looks (default 500 ms). */
  windowMs?: number;
  /** The share of one core under which the process counts as idle (default 0.1). */
  busyFractionMax?: number;
  /** Clock and CPU time in ms, for tests; default `performance.now` and `process.cpuUsage`. */
  now?: () => number;
  cpuMs?: () => number;
}

/** Samples kept at most: a tick is at least 1 ms, and the window is short. */
const SAMPLES_MAX = 1000;

export class IdleMeter {
  readonly #windowMs: number;
  readonly #busyFractionMax: number;
  readonly #now: () => number;
  readonly #cpuMs: () => number;
  /** Oldest first; the first may be older than the window, so that the samples span it. */
  #samples: { at: number; cpuMs: number }[] = [];

  constructor(options: IdleMeterOptions = {}) {
    this.#windowMs = options.windowMs ?? 500;
    this.#busyFractionMax = options.busyFractionMax ?? 0.1;
    if (!(this.#windowMs > 0) || !(this.#busyFractionMax > 0)) {
      throw new RangeError("windowMs and busyFractionMax must be positive");
    }
    this.#now = options.now ?? (() => performance.now());
    this.#cpuMs = options.cpuMs ?? (() => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1000;
    });
  }

  /** Records the CPU time used so far. */
  sample(): void {
    const at = this.#now();
    this.#samples.push({ at, cpuMs: this.#cpuMs() });
    // Drop samples while the next one still reaches back over the whole window.
    while (this.#samples.length > 2 && this.#samples[1]!.at <= at - this.#windowMs) {
      this.#samples.shift();
    }
    if (this.#samples.length > SAMPLES_MAX) this.#samples.shift();
  }

  /** True once the samples span the window and the CPU used over them is under the limit. */
  get idle(): boolean {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (first === undefined || last === undefined) return false;
    const span = last.at - first.at;
    if (span < this.#windowMs) return false;
    return (last.cpuMs - first.cpuMs) / span < this.#busyFractionMax;
  }
}
