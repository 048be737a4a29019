import type { ClaimedTask, Clock, Logger, TaskQueue, WorkerMetrics } from './ports.js';

export interface ClaimBatchDeps {
  readonly workerId: string;
  readonly queue: TaskQueue;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: WorkerMetrics;
}

export type ClaimBatch = (limit: number) => Promise<readonly ClaimedTask[]>;

/**
 * Claims up to `limit` due tasks for this worker. The claim rule of the domain (only a pending task
 * that is due can be claimed, and only by one worker) is enforced by the queue in one statement —
 * `FOR UPDATE SKIP LOCKED` is what makes "only one" hold across processes.
 */
export const claimBatch =
  (deps: ClaimBatchDeps): ClaimBatch =>
  async (limit) => {
    const tasks = await deps.queue.claimDueTasks(deps.workerId, limit);
    if (tasks.length > 0) {
      deps.logger.info(`[Worker ${deps.workerId}] Found ${tasks.length} tasks to process`, { count: tasks.length });
      const now = deps.clock.now().getTime();
      for (const task of tasks) deps.metrics.claimed(task.taskType, Math.max(0, now - task.executeAt.getTime()));
    }
    return tasks;
  };
