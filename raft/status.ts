/** A snapshot of a node's raft state, for monitoring (GET /status) and tests. */
import type { Raft } from "./raft.ts";
import type { ProgressState } from "./tracker/progress.ts";
import type { HardState, SoftState } from "./types.ts";
import { StateType } from "./types.ts";

export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
  recentActive: boolean;
  isLearner: boolean;
}

export interface Status {
  id: number;
  hardState: HardState;
  softState: SoftState;
  applied: number;
  leadTransferee: number;
  /** Only on the leader: what it knows of every member (itself included). */
  progress?: Map<number, ProgressStatus>;
}

export function getStatus(r: Raft): Status {
  const s: Status = {
    id: r.id,
    hardState: r.hardState(),
    softState: r.softState(),
    applied: r.raftLog.applied,
    leadTransferee: r.leadTransferee,
  };
  if (r.state === StateType.Leader) {
    const progress = new Map<number, ProgressStatus>();
    for (const [id, pr] of r.trk.progress) {
      progress.set(id, {
        match: pr.match,
        next: pr.next,
        state: pr.state,
        recentActive: pr.recentActive,
        isLearner: pr.isLearner,
      });
    }
    s.progress = progress;
  }
  return s;
}
