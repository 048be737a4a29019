import type { Destination } from '../domain/index.js';
import { errorMessage } from '../shared/error-message.js';
import type { ClaimBatch } from './claim-batch.js';
import { shutdownCause, type ExecuteTask } from './execute-task.js';
import { FAIR_SHARE_POSTPONE_MS, FairSlots } from './fair-slots.js';
import type { PostponeTask } from './postpone-task.js';
import { HeldClaims } from './held-claims.js';
import type { ClaimedTask, Logger, TaskQueue, WakeUpSource, WorkerMetrics } from './ports.js';
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
   * one slot; default 1 (no limit). See FairSlots.
   */
  readonly destinationShare?: number;
}

export interface WorkerDeps {
  readonly claimBatch: ClaimBatch;
  readonly executeTask: ExecuteTask;
  /** Gives a task back unrun (fair slots); without it, tasks over their share wait in line. */
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
 * the database's work (coalesced into group commits), and holding the slot through it leaves the
 * slot idle for the write's latency (10,000 tasks: 3,055–3,104/s → 3,139–3,510/s; see
 * docs/performance.md). Tasks whose outcome is still being written stay in flight (heartbeats,
 * graceful shutdown), and at most `concurrency` of them may wait to be written before the loop
 * stops claiming.
 *
 * With `prefetch` > 0 the worker also holds up to that many claimed tasks that have not started: a
 * freed slot starts the next one at once instead of waiting for a claim's round trip, and claims
 * (of at least half a batch) run while tasks do. Claimed-ahead tasks are heartbeated like running
 * ones; at shutdown they are released at once without being run.
 */
export class Worker {
  /** Every claim this worker holds, waiting, executing or recording. */
  private readonly held: HeldClaims;
  private readonly fair: FairSlots;
  /** Wakes the loop when the next task passed over by fair slots runs out of patience. */
  private patienceTimer: NodeJS.Timeout | null = null;
  private readonly wakeSignal = new WakeSignal();
  private readonly shutdown = new AbortController();
  private stopping = false;
  private loop: Promise<void> | null = null;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: WorkerOptions,
    private readonly deps: WorkerDeps,
  ) {
    for (const source of deps.wakeUps) source.onWakeUp(() => this.wakeSignal.wake());
    this.fair = new FairSlots(options.concurrency, options.destinationShare ?? 1);
    // Waiting claims stand in a line per destination only when fair slots can hold one back.
    this.held = new HeldClaims(this.fair.active ? (task) => this.fair.destinationOf(task) : undefined);
  }

  start(): void {
    if (this.loop !== null) return;
    const { workerId, pollIntervalMs, batchSize, concurrency } = this.options;
    this.deps.logger.info(
      `[Worker ${workerId}] Started with polling interval ${pollIntervalMs / 1000}s, batch size ${batchSize}, concurrency ${concurrency}`,
    );
    this.heartbeat = setInterval(() => void this.beat(), this.options.heartbeatIntervalMs);
    this.heartbeat.unref();
    this.loop = this.run();
  }

  get inFlightCount(): number {
    return this.held.size;
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
    for (const task of this.held.startAll()) {
      this.fair.started(task);
      this.launch(task, notStarted);
    }
    const drained = await this.settleWithin(timeoutMs);
    if (!drained) {
      this.deps.logger.warn(
        `[Worker ${this.options.workerId}] Shutdown timeout reached, releasing ${this.held.size} unfinished tasks to pending`,
      );
      this.shutdown.abort(shutdownCause);
      this.deps.queue.giveUpRetries?.();
      await Promise.allSettled(this.held.settling());
    }
    // Nothing of this worker's is left to write; a cleaner sweep still retrying stops too.
    this.deps.queue.giveUpRetries?.();
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    if (this.patienceTimer !== null) clearTimeout(this.patienceTimer);
    this.deps.logger.info(`[Worker ${this.options.workerId}] Stopped`);
  }

  private async run(): Promise<void> {
    const { concurrency, batchSize } = this.options;
    const prefetch = this.options.prefetch ?? 0;
    while (!this.stopping) {
      this.startWaiting();
      const { held } = this;
      const room = Math.min(concurrency + prefetch - held.executing - held.waiting, 2 * concurrency + prefetch - held.size);
      // While claimed tasks wait, claiming one at a time would cost a round trip per task. (Tasks
      // passed over by fair slots wait too, with or without prefetch: at least one, never 0.)
      const worthClaiming = held.waiting === 0 ? 1 : Math.max(1, Math.ceil(Math.min(batchSize, prefetch) / 2));
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
      for (const task of tasks) this.held.add(task);
      this.deps.metrics.inFlight(this.held.size);
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
   * next one and waits in line; one of a slow destination (a task of it has run FAIR_SHARE_SLOW_MS)
   * that has waited FAIR_SHARE_PATIENCE_MS is postponed (given back unrun), so a destination that
   * hangs holds at most its share and cannot fill the line either, while a healthy destination at
   * its share (a burst to one receiver) only waits in line for its own slots, without a write.
   */
  private startWaiting(): void {
    if (this.stopping) return;
    const now = Date.now();
    const hasRoom = (destination: Destination | null) => this.fair.hasRoom(destination);
    const passedOver = (task: ClaimedTask) => this.fair.passedOver(task, now);
    while (this.held.executing < this.options.concurrency) {
      const task = this.held.startNext(hasRoom, passedOver);
      if (task === undefined) break;
      this.fair.started(task, now);
      this.launch(task, this.shutdown.signal);
    }
    if (this.held.waiting > 0) this.postponeOutOfPatience(now);
  }

  private postponeOutOfPatience(now: number): void {
    const postponeTask = this.deps.postponeTask;
    if (postponeTask === undefined) return;
    const { due, nextAt } = this.fair.outOfPatience(this.held.waitingTasks(), now);
    for (const task of due) {
      this.held.giveBack(task);
      const destination = this.fair.destinationOf(task)!;
      const held = this.fair.held(destination);
      const detail = `${destination} holds ${held} of this worker's ${this.options.concurrency} slots (DESTINATION_MAX_SHARE)`;
      const settled = postponeTask(task, { reason: 'fair_share', destination, detail, forMs: FAIR_SHARE_POSTPONE_MS })
        .catch((cause: unknown) => {
          this.deps.logger.error(`[Executor] Task ${task.id}: could not postpone: ${errorMessage(cause)}`, { taskId: task.id });
        })
        .finally(() => this.settle(task));
      this.held.settlesWith(task, settled);
    }
    if (nextAt === null || this.patienceTimer !== null) return;
    this.patienceTimer = setTimeout(() => {
      this.patienceTimer = null;
      this.startWaiting();
      this.wakeSignal.wake();
    }, nextAt - now);
    this.patienceTimer.unref();
  }

  private settle(task: ClaimedTask): void {
    this.held.settled(task);
    this.fair.forget(task);
    this.deps.metrics.inFlight(this.held.size);
    this.wakeSignal.wake();
  }

  /** Runs a task `held` has just moved to executing. */
  private launch(task: ClaimedTask, shutdown: AbortSignal): void {
    const onExecuted = () => {
      if (!this.held.executed(task)) return;
      this.fair.executed(task);
      // The freed slot takes a claimed-ahead task now, even while the loop waits for a claim.
      this.startWaiting();
      this.wakeSignal.wake();
    };
    const settled = this.deps
      .executeTask(task, shutdown, onExecuted)
      .catch((cause: unknown) => {
        // Recording the outcome failed (database down?): the claim stays, the cleaner recovers it.
        this.deps.logger.error(`[Executor] Task ${task.id}: could not record the outcome: ${errorMessage(cause)}`, { taskId: task.id });
      })
      .finally(() => {
        onExecuted();
        this.settle(task);
      });
    this.held.settlesWith(task, settled);
  }

  private async settleWithin(timeoutMs: number): Promise<boolean> {
    if (this.held.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const all = Promise.allSettled(this.held.settling()).then(() => true);
    const drained = await Promise.race([all, timeout]);
    clearTimeout(timer);
    return drained;
  }

  private async beat(): Promise<void> {
    const claims = this.held.refs();
    if (claims.length === 0) return;
    try {
      await this.deps.queue.refreshHeartbeats(this.options.workerId, claims);
    } catch (cause) {
      this.deps.logger.error(`[Worker ${this.options.workerId}] Failed to refresh heartbeats: ${errorMessage(cause)}`);
    }
  }
}

/** The shutdown signal of a task that never started: executeTask releases it without running it. */
const notStarted = AbortSignal.abort(shutdownCause);
