import type { ClaimToken, Destination } from '../domain/index.js';
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

/** The waiting claims of one line (one destination), oldest first. */
interface Line {
  readonly tasks: { readonly task: ClaimedTask; readonly order: number }[];
  /** How many of the first `tasks` have already been reported as passed over. */
  passedOver: number;
}

/**
 * The claims a worker holds, keyed by claim token, not task id: a task the cleaner took back (this
 * worker stalled) may be claimed again here while its old attempt still settles, and the old
 * attempt's end must not drop the new claim. The counts the loop asks for on every turn are kept
 * by the transitions, so reading them costs nothing.
 *
 * With `lineOf` (fair slots), the waiting claims also stand in one line per destination, so the
 * oldest claim allowed to start is found by looking at the head of each line, not at every waiting
 * claim: a burst to one receiver at its share has all of the waiting claims behind one blocked
 * line, and a slot frees thousands of times a second.
 */
export class HeldClaims {
  private readonly claims = new Map<ClaimToken, HeldClaim>();
  /** The waiting claims, oldest first: a Set keeps insertion order and deletes in O(1). */
  private readonly queue = new Set<ClaimedTask>();
  /** The waiting claims by destination (only with `lineOf`); a line without claims is removed. */
  private readonly lines = new Map<Destination | null, Line>();
  private added = 0;
  private executingCount = 0;

  constructor(private readonly lineOf?: (task: ClaimedTask) => Destination | null) {}

  /** Claims in any stage. */
  get size(): number {
    return this.claims.size;
  }
  get waiting(): number {
    return this.queue.size;
  }
  get executing(): number {
    return this.executingCount;
  }

  /** A claim just made: it waits for a slot. */
  add(task: ClaimedTask): void {
    this.claims.set(task.claimToken, { task, stage: 'waiting', settled: null });
    this.queue.add(task);
    if (this.lineOf === undefined) return;
    const key = this.lineOf(task);
    let line = this.lines.get(key);
    if (line === undefined) this.lines.set(key, (line = { tasks: [], passedOver: 0 }));
    line.tasks.push({ task, order: (this.added += 1) });
  }

  /**
   * The oldest waiting claim whose line `mayStart` allows, moved to executing; undefined when none.
   * Every waiting claim of a line not allowed that is older than the one started (all of them when
   * none starts) has been passed over: each is told to `passedOver` once, the first time.
   * Without `lineOf`, or without `mayStart`, the oldest waiting claim starts.
   */
  startNext(mayStart?: (line: Destination | null) => boolean, passedOver?: (task: ClaimedTask) => void): ClaimedTask | undefined {
    if (this.lineOf === undefined || mayStart === undefined) {
      const oldest = this.queue.values().next();
      if (oldest.done === true) return undefined;
      // The oldest of all heads its line.
      if (this.lineOf !== undefined) this.takeHead(this.lineOf(oldest.value));
      return this.start(oldest.value);
    }
    let next: Line | undefined;
    let nextKey: Destination | null = null;
    let blocked: Line[] | undefined;
    for (const [key, line] of this.lines) {
      if (!mayStart(key)) (blocked ??= []).push(line);
      else if (next === undefined || line.tasks[0]!.order < next.tasks[0]!.order) {
        next = line;
        nextKey = key;
      }
    }
    const before = next === undefined ? Infinity : next.tasks[0]!.order;
    for (const line of blocked ?? []) {
      for (; line.passedOver < line.tasks.length && line.tasks[line.passedOver]!.order < before; line.passedOver += 1) {
        passedOver?.(line.tasks[line.passedOver]!.task);
      }
    }
    return next === undefined ? undefined : this.start(this.takeHead(nextKey));
  }

  /** The waiting claims, oldest first (read only). */
  waitingTasks(): Iterable<ClaimedTask> {
    return this.queue;
  }

  /** A waiting claim given back unrun (postponed): waiting → recording, without taking a slot. */
  giveBack(task: ClaimedTask): void {
    const claim = this.claims.get(task.claimToken);
    if (!this.queue.has(task) || claim === undefined) return;
    this.queue.delete(task);
    this.leaveLine(task);
    claim.stage = 'recording';
  }

  /** Every waiting claim, moved to executing (at shutdown, to be released without running). */
  startAll(): ClaimedTask[] {
    const tasks = [...this.queue];
    this.queue.clear();
    this.lines.clear();
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

  /** `task`, off its line already (if any), leaves the queue for a slot. */
  private start(task: ClaimedTask): ClaimedTask {
    this.queue.delete(task);
    this.toExecuting(task);
    return task;
  }

  /** The first claim of the line `key`, taken off it. */
  private takeHead(key: Destination | null): ClaimedTask {
    const line = this.lines.get(key)!;
    const { task } = line.tasks.shift()!;
    if (line.passedOver > 0) line.passedOver -= 1;
    if (line.tasks.length === 0) this.lines.delete(key);
    return task;
  }

  private leaveLine(task: ClaimedTask): void {
    if (this.lineOf === undefined) return;
    const key = this.lineOf(task);
    const line = this.lines.get(key);
    const index = line?.tasks.findIndex((entry) => entry.task === task) ?? -1;
    if (line === undefined || index < 0) return;
    line.tasks.splice(index, 1);
    if (index < line.passedOver) line.passedOver -= 1;
    if (line.tasks.length === 0) this.lines.delete(key);
  }

  private toExecuting(task: ClaimedTask): void {
    const claim = this.claims.get(task.claimToken);
    if (claim === undefined || claim.stage !== 'waiting') return;
    claim.stage = 'executing';
    this.executingCount += 1;
  }
}
