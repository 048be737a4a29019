import type { ClaimToken } from '../domain/index.js';
import type { ClaimedTask, ClaimRef } from './ports.js';

/**
 * Where a claim this worker holds stands:
 *
 *   waiting ──a slot frees──▶ executing ──the executor returns──▶ recording ──its end is written──▶ (gone)
 *
 * `waiting`: claimed ahead (WORKER_PREFETCH), not started. `executing`: its executor holds a slot.
 * `recording`: the executor has returned and freed its slot; the outcome is being written. All
 * three are heartbeated and count as in flight.
 */
export type ClaimStage = 'waiting' | 'executing' | 'recording';

interface HeldClaim {
  readonly task: ClaimedTask;
  stage: ClaimStage;
  /** Resolves once the attempt's end is written or given up; null until the task starts. */
  settled: Promise<unknown> | null;
}

/**
 * The claims a worker holds, keyed by claim token, not task id: a task the cleaner took back (this
 * worker stalled) may be claimed again here while its old attempt still settles, and the old
 * attempt's end must not drop the new claim. The counts the loop asks for on every turn are kept
 * by the transitions, so reading them costs nothing.
 */
export class HeldClaims {
  private readonly claims = new Map<ClaimToken, HeldClaim>();
  /** The waiting claims, oldest first. */
  private readonly queue: ClaimedTask[] = [];
  private executingCount = 0;

  /** Claims in any stage. */
  get size(): number {
    return this.claims.size;
  }
  get waiting(): number {
    return this.queue.length;
  }
  get executing(): number {
    return this.executingCount;
  }

  /** A claim just made: it waits for a slot. */
  add(task: ClaimedTask): void {
    this.claims.set(task.claimToken, { task, stage: 'waiting', settled: null });
    this.queue.push(task);
  }

  /** The oldest waiting claim `mayStart` allows, moved to executing; undefined when none. */
  startNext(mayStart?: (task: ClaimedTask) => boolean): ClaimedTask | undefined {
    const index = mayStart === undefined ? 0 : this.queue.findIndex(mayStart);
    const task = index < 0 ? undefined : this.queue.splice(index, 1)[0];
    if (task !== undefined) this.toExecuting(task);
    return task;
  }

  /** The waiting claims, oldest first (read only). */
  waitingTasks(): readonly ClaimedTask[] {
    return this.queue;
  }

  /** A waiting claim given back unrun (postponed): waiting → recording, without taking a slot. */
  giveBack(task: ClaimedTask): void {
    const index = this.queue.indexOf(task);
    const claim = this.claims.get(task.claimToken);
    if (index < 0 || claim === undefined) return;
    this.queue.splice(index, 1);
    claim.stage = 'recording';
  }

  /** Every waiting claim, moved to executing (at shutdown, to be released without running). */
  startAll(): ClaimedTask[] {
    const tasks = this.queue.splice(0);
    for (const task of tasks) this.toExecuting(task);
    return tasks;
  }

  /** The promise that settles once `task`'s attempt end is written or given up. */
  settlesWith(task: ClaimedTask, settled: Promise<unknown>): void {
    const claim = this.claims.get(task.claimToken);
    if (claim !== undefined) claim.settled = settled;
  }

  /** The executor returned: executing → recording. False when it was not executing (already told). */
  executed(task: ClaimedTask): boolean {
    const claim = this.claims.get(task.claimToken);
    if (claim?.stage !== 'executing') return false;
    claim.stage = 'recording';
    this.executingCount -= 1;
    return true;
  }

  /** The attempt's end is written or given up: the claim is no longer held. */
  settled(task: ClaimedTask): void {
    this.executed(task);
    this.claims.delete(task.claimToken);
  }

  /** The attempt ends not yet written, for shutdown to wait on. */
  settling(): Promise<unknown>[] {
    return [...this.claims.values()].flatMap((claim) => (claim.settled === null ? [] : [claim.settled]));
  }

  /** Every held claim, for the heartbeat. */
  refs(): ClaimRef[] {
    return [...this.claims.values()].map(({ task }) => ({ id: task.id, claimToken: task.claimToken }));
  }

  private toExecuting(task: ClaimedTask): void {
    const claim = this.claims.get(task.claimToken);
    if (claim === undefined || claim.stage !== 'waiting') return;
    claim.stage = 'executing';
    this.executingCount += 1;
  }
}
