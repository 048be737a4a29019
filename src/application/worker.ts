import { destinationOf, type Destination } from '../domain/index.js';
import { errorMessage } from '../shared/error-message.js';
import type { ClaimBatch } from './claim-batch.js';
import { shutdownCause, type ExecuteTask } from './execute-task.js';
import type { PostponeTask } from './postpone-task.js';
import type { ClaimedTask, ClaimRef, Logger, TaskQueue, WakeUpSource, WorkerMetrics } from './ports.js';
import { WakeSignal } from './wake-signal.js';

export interface WorkerOptions {
  readonly workerId: string;
  readonly batchSize: number;
  readonly concurrency: number;
  /** Tasks claimed ahead of the free slots (WORKER_PREFETCH); 0 claims only for free slots. */
  readonly prefetch?: number;
  readonly pollIntervalMs: number;
  readonly heartbeatIntervalMs: number;
  /**
   * The share of `concurrency` one destination may hold at once (DESTINATION_MAX_SHARE), at least
   * one slot; default 1 (no limit). A task whose destination is full is postponed unrun.
   */
  readonly destinationShare?: number;
}

export interface WorkerDeps {
  readonly claimBatch: ClaimBatch;
  readonly executeTask: ExecuteTask;
  /** Gives a task back unrun (fair slots); without it, over-share tasks wait in line instead. */
  readonly postponeTask?: PostponeTask;
  readonly queue: TaskQueue;
  readonly logger: Logger;
  readonly metrics: WorkerMetrics;
  readonly wakeUps: readonly WakeUpSource[];
}

/**
 * The polling loop. Claims up to `batchSize` tasks while fewer than `concurrency` run; claims again
 * at once after a full batch (a backlog drains without waiting for the poll interval) and sleeps the
 * poll interval only when a claim came back short. A wake-up (NOTIFY, a timer for the next due task,
 * a freed slot) cuts the sleep short.
 *
 * A slot is freed when the executor returns, not when its outcome has been written: recording is
 * the database's work (coalesced into group commits), and holding the slot through it left slots
 * idle for the write's latency. Measured on 2 cores, concurrency 100, sink arrivals per second: with
 * slow claims (before claim-due-tasks turned bitmap scans off), 20,000 tasks went from 1,700–2,000/s
 * to 3,100–3,900/s (held slots with concurrency 400 also did 3,100/s: it was latency, not work);
 * with today's claim, 10,000 tasks 3,055–3,104/s → 3,139–3,510/s, 30,000 tasks +2–5 %. Tasks
 * whose outcome is still being written stay in flight (heartbeats, graceful shutdown), and at most
 * `concurrency` of them may wait to be written before the loop stops claiming.
 *
 * With `prefetch` > 0 the worker also holds up to that many claimed tasks that have not started: a
 * freed slot starts the next one at once instead of waiting for a claim's round trip, and claims
 * (of at least half a batch) run while tasks do. Claimed-ahead tasks are heartbeated like running
 * ones; at shutdown they are released at once without being run.
 */
export class Worker {
  /**
   * Every claim this worker holds: waiting, executing, or having its outcome written. Keyed by claim
   * token, not task id: a task the cleaner took back (this worker stalled) may be claimed again
   * here while its old attempt still settles, and the old attempt's end must not drop the new claim.
   */
  private readonly inFlight = new Map<string, { task: ClaimedTask; done: Promise<unknown> | null }>();
  /** Claimed ahead (prefetch), not started yet, oldest first. */
  private readonly waiting: Waiting[] = [];
  /** Executing tasks per destination, for fair slots. */
  private readonly busy = new Map<Destination, number>();
  private readonly slotsPerDestination: number;
  private blockedTimer: NodeJS.Timeout | null = null;
  private readonly wakeSignal = new WakeSignal();
  private readonly shutdown = new AbortController();
  private stopping = false;
  /** Tasks whose executor has not returned yet; `inFlight` also holds those being recorded. */
  private executing = 0;
  private loop: Promise<void> | null = null;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: WorkerOptions,
    private readonly deps: WorkerDeps,
  ) {
    for (const source of deps.wakeUps) source.onWakeUp(() => this.wakeSignal.wake());
    const share = options.destinationShare ?? 1;
    this.slotsPerDestination = Math.max(1, Math.floor(options.concurrency * share + 1e-9));
  }

  start(): void {
    if (this.loop !== null) return;
    this.deps.logger.info(
      `[Worker ${this.options.workerId}] Started with polling interval ${this.options.pollIntervalMs / 1000}s, batch size ${this.options.batchSize}, concurrency ${this.options.concurrency}`,
    );
    this.heartbeat = setInterval(() => void this.beat(), this.options.heartbeatIntervalMs);
    this.heartbeat.unref();
    this.loop = this.run();
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /**
   * Stops claiming, lets in-flight tasks finish for up to `timeoutMs`, then aborts the rest — they
   * are released to pending without consuming an attempt — and waits for those releases to be written.
   * Outcomes still waiting out an unreachable database are given up then (their tasks stay claimed
   * for a cleaner), so a database outage cannot hold shutdown past the timeout.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.wakeSignal.wake();
    await this.loop;
    // Claimed ahead but never started: released now, so another worker can take them.
    for (const { task } of this.waiting.splice(0)) this.launch(task, null, notStarted);
    const drained = await this.settleWithin(timeoutMs);
    if (!drained) {
      this.deps.logger.warn(
        `[Worker ${this.options.workerId}] Shutdown timeout reached, releasing ${this.inFlight.size} unfinished tasks to pending`,
      );
      this.shutdown.abort(shutdownCause);
      this.deps.queue.giveUpRetries?.();
      await Promise.allSettled(this.settling());
    }
    // Nothing of this worker's is left to write; a cleaner sweep still retrying stops too.
    this.deps.queue.giveUpRetries?.();
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    if (this.blockedTimer !== null) clearTimeout(this.blockedTimer);
    this.deps.logger.info(`[Worker ${this.options.workerId}] Stopped`);
  }

  private async run(): Promise<void> {
    const { concurrency, batchSize } = this.options;
    const prefetch = this.options.prefetch ?? 0;
    while (!this.stopping) {
      this.startWaiting();
      const room = Math.min(
        concurrency + prefetch - this.executing - this.waiting.length,
        2 * concurrency + prefetch - this.inFlight.size,
      );
      // While claimed tasks wait, claiming one at a time would cost a round trip per task.
      // (Tasks held back by fair slots wait too, with or without prefetch: at least one, never 0.)
      const worthClaiming = this.waiting.length === 0 ? 1 : Math.max(1, Math.ceil(Math.min(batchSize, prefetch) / 2));
      if (room < worthClaiming) {
        // A finishing task wakes us; the poll interval is only a backstop.
        await this.wakeSignal.wait(this.options.pollIntervalMs);
        continue;
      }
      const limit = Math.min(batchSize, room);
      let tasks: readonly ClaimedTask[];
      try {
        tasks = await this.deps.claimBatch(limit);
      } catch (cause) {
        this.deps.logger.error(`[Worker ${this.options.workerId}] Failed to claim tasks: ${errorMessage(cause)}`);
        await this.wakeSignal.wait(this.options.pollIntervalMs);
        continue;
      }
      for (const task of tasks) {
        this.inFlight.set(task.claimToken, { task, done: null });
        this.waiting.push({ task, destination: destinationOf(task.taskType, task.payload), blockedSince: null });
      }
      this.deps.metrics.inFlight(this.inFlight.size);
      this.startWaiting();
      if (tasks.length < limit) {
        for (const source of this.deps.wakeUps) source.idle?.();
        await this.wakeSignal.wait(this.options.pollIntervalMs);
      }
    }
  }

  /**
   * Starts claimed tasks while slots are free (never once stopping: those are released instead).
   * Fair slots: a task whose destination already holds its share of the slots is passed over for the
   * next one and waits in line; one that has waited FAIR_SHARE_PATIENCE_MS is postponed (given back
   * unrun), so a destination that hangs holds at most its share and cannot fill the line either,
   * while a fast destination at its share (a burst to one receiver) only waits a few ms for its own
   * slots, without a write per task.
   */
  private startWaiting(): void {
    if (this.stopping) return;
    const now = Date.now();
    let index = 0;
    while (this.executing < this.options.concurrency && index < this.waiting.length) {
      const entry = this.waiting[index]!;
      if (this.overShare(entry.destination)) {
        entry.blockedSince ??= now;
        index += 1;
        continue;
      }
      this.waiting.splice(index, 1);
      this.launch(entry.task, entry.destination, this.shutdown.signal);
    }
    this.postponeBlocked(now);
  }

  private overShare(destination: Destination | null): boolean {
    // A share of every slot (one slot of one, say) leaves nothing to be fair about.
    if (destination === null || this.slotsPerDestination >= this.options.concurrency) return false;
    return (this.busy.get(destination) ?? 0) >= this.slotsPerDestination;
  }

  /** Postpones the tasks that waited out their patience, and wakes up when the next one will have. */
  private postponeBlocked(now: number): void {
    if (this.deps.postponeTask === undefined) return;
    let earliest = Infinity;
    for (let index = this.waiting.length - 1; index >= 0; index -= 1) {
      const { task, destination, blockedSince } = this.waiting[index]!;
      if (blockedSince === null || destination === null) continue;
      if (!this.overShare(destination)) continue;
      if (now - blockedSince < FAIR_SHARE_PATIENCE_MS) {
        earliest = Math.min(earliest, blockedSince);
        continue;
      }
      this.waiting.splice(index, 1);
      this.postpone(task, destination, this.busy.get(destination) ?? 0);
    }
    if (earliest === Infinity || this.blockedTimer !== null) return;
    this.blockedTimer = setTimeout(() => {
      this.blockedTimer = null;
      this.startWaiting();
      this.wakeSignal.wake();
    }, earliest + FAIR_SHARE_PATIENCE_MS - now);
    this.blockedTimer.unref();
  }

  private postpone(task: ClaimedTask, destination: Destination, held: number): void {
    const detail = `${destination} holds ${held} of this worker's ${this.options.concurrency} slots (DESTINATION_MAX_SHARE)`;
    const done = this.deps
      .postponeTask!(task, { reason: 'fair_share', destination, detail, forMs: FAIR_SHARE_POSTPONE_MS })
      .catch((cause: unknown) => {
        this.deps.logger.error(`[Executor] Task ${task.id}: could not postpone: ${errorMessage(cause)}`, { taskId: task.id });
      })
      .finally(() => {
        this.inFlight.delete(task.claimToken);
        this.deps.metrics.inFlight(this.inFlight.size);
        this.wakeSignal.wake();
      });
    this.inFlight.set(task.claimToken, { task, done });
  }

  private launch(task: ClaimedTask, destination: Destination | null, shutdown: AbortSignal): void {
    this.executing += 1;
    if (destination !== null) this.busy.set(destination, (this.busy.get(destination) ?? 0) + 1);
    let executed = false;
    const onExecuted = () => {
      if (executed) return;
      executed = true;
      this.executing -= 1;
      if (destination !== null) {
        const left = this.busy.get(destination)! - 1;
        if (left === 0) this.busy.delete(destination);
        else this.busy.set(destination, left);
      }
      // The freed slot takes a claimed-ahead task now, even while the loop waits for a claim.
      this.startWaiting();
      this.wakeSignal.wake();
    };
    const done = this.deps
      .executeTask(task, shutdown, onExecuted)
      .catch((cause: unknown) => {
        // Recording the outcome failed (database down?): the claim stays, the cleaner recovers it.
        this.deps.logger.error(`[Executor] Task ${task.id}: could not record the outcome: ${errorMessage(cause)}`, { taskId: task.id });
      })
      .finally(() => {
        onExecuted();
        this.inFlight.delete(task.claimToken);
        this.deps.metrics.inFlight(this.inFlight.size);
        this.wakeSignal.wake();
      });
    this.inFlight.set(task.claimToken, { task, done });
  }

  private settling(): Promise<unknown>[] {
    return [...this.inFlight.values()].flatMap((entry) => (entry.done === null ? [] : [entry.done]));
  }

  private async settleWithin(timeoutMs: number): Promise<boolean> {
    if (this.inFlight.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const all = Promise.allSettled(this.settling()).then(() => true);
    const drained = await Promise.race([all, timeout]);
    clearTimeout(timer);
    return drained;
  }

  private async beat(): Promise<void> {
    const claims: ClaimRef[] = [...this.inFlight.values()].map(({ task }) => ({ id: task.id, claimToken: task.claimToken }));
    if (claims.length === 0) return;
    try {
      await this.deps.queue.refreshHeartbeats(this.options.workerId, claims);
    } catch (cause) {
      this.deps.logger.error(`[Worker ${this.options.workerId}] Failed to refresh heartbeats: ${errorMessage(cause)}`);
    }
  }
}

interface Waiting {
  readonly task: ClaimedTask;
  readonly destination: Destination | null;
  /** When it was first passed over because its destination held its share (ms since epoch). */
  blockedSince: number | null;
}

/**
 * How long a task over its destination's share waits in line for one of that destination's slots
 * before it is given back (postponed), and for how long it is given back. A second: a fast receiver
 * frees a slot within ms, so only a slow or hanging destination's tasks reach it; each postponement
 * is one row write (coalesced with attempt ends), so a stuck destination costs one write per claimed
 * task per second, and a slot it frees is taken again within about a second.
 */
const FAIR_SHARE_PATIENCE_MS = 1_000;
const FAIR_SHARE_POSTPONE_MS = 1_000;

/** The shutdown signal of a task that never started: executeTask releases it without running it. */
const notStarted = AbortSignal.abort(shutdownCause);
