import type { ClaimBatch } from './claim-batch.js';
import { shutdownCause, type ExecuteTask } from './execute-task.js';
import type { ClaimedTask, ClaimRef, Logger, TaskQueue, WakeUpSource, WorkerMetrics } from './ports.js';
import { WakeSignal } from './wake-signal.js';

export interface WorkerOptions {
  readonly workerId: string;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly pollIntervalMs: number;
  readonly heartbeatIntervalMs: number;
}

export interface WorkerDeps {
  readonly claimBatch: ClaimBatch;
  readonly executeTask: ExecuteTask;
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
 */
export class Worker {
  private readonly inFlight = new Map<string, { task: ClaimedTask; done: Promise<unknown> }>();
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
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.wakeSignal.wake();
    await this.loop;
    const drained = await this.settleWithin(timeoutMs);
    if (!drained) {
      this.deps.logger.warn(
        `[Worker ${this.options.workerId}] Shutdown timeout reached, releasing ${this.inFlight.size} unfinished tasks to pending`,
      );
      this.shutdown.abort(shutdownCause);
      await Promise.allSettled([...this.inFlight.values()].map((entry) => entry.done));
    }
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.deps.logger.info(`[Worker ${this.options.workerId}] Stopped`);
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const { concurrency } = this.options;
      const free = Math.min(concurrency - this.executing, 2 * concurrency - this.inFlight.size);
      if (free <= 0) {
        // A finishing task wakes us; the poll interval is only a backstop.
        await this.wakeSignal.wait(this.options.pollIntervalMs);
        continue;
      }
      const limit = Math.min(this.options.batchSize, free);
      let tasks: readonly ClaimedTask[];
      try {
        tasks = await this.deps.claimBatch(limit);
      } catch (cause) {
        this.deps.logger.error(`[Worker ${this.options.workerId}] Failed to claim tasks: ${message(cause)}`);
        await this.wakeSignal.wait(this.options.pollIntervalMs);
        continue;
      }
      for (const task of tasks) this.launch(task);
      if (tasks.length < limit) {
        for (const source of this.deps.wakeUps) source.idle?.();
        await this.wakeSignal.wait(this.options.pollIntervalMs);
      }
    }
  }

  private launch(task: ClaimedTask): void {
    this.executing += 1;
    let executed = false;
    const onExecuted = () => {
      if (executed) return;
      executed = true;
      this.executing -= 1;
      this.wakeSignal.wake();
    };
    const done = this.deps
      .executeTask(task, this.shutdown.signal, onExecuted)
      .catch((cause: unknown) => {
        // Recording the outcome failed (database down?): the claim stays, the cleaner recovers it.
        this.deps.logger.error(`[Executor] Task ${task.id}: could not record the outcome: ${message(cause)}`, { taskId: task.id });
      })
      .finally(() => {
        onExecuted();
        this.inFlight.delete(task.id);
        this.deps.metrics.inFlight(this.inFlight.size);
        this.wakeSignal.wake();
      });
    this.inFlight.set(task.id, { task, done });
    this.deps.metrics.inFlight(this.inFlight.size);
  }

  private async settleWithin(timeoutMs: number): Promise<boolean> {
    if (this.inFlight.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const all = Promise.allSettled([...this.inFlight.values()].map((entry) => entry.done)).then(() => true);
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
      this.deps.logger.error(`[Worker ${this.options.workerId}] Failed to refresh heartbeats: ${message(cause)}`);
    }
  }
}

const message = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause));
