import { errorMessage } from '../shared/error-message.js';
import type { ClaimedTask, Clock, Logger, TaskQueue, Tracer, WorkerMetrics } from './ports.js';

export interface ClaimBatchDeps {
  readonly workerId: string;
  readonly queue: TaskQueue;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: WorkerMetrics;
  /** One span per claim (docs/tracing.md); none when absent or off. */
  readonly tracer?: Tracer;
}

export type ClaimBatch = (limit: number) => Promise<readonly ClaimedTask[]>;

/**
 * Claims up to `limit` due tasks for this worker. The claim rule of the domain (only a pending task
 * that is due can be claimed, and only by one worker) is enforced by the queue in one statement —
 * `FOR UPDATE SKIP LOCKED` is what makes "only one" hold across processes.
 */
export const claimBatch = (deps: ClaimBatchDeps): ClaimBatch => {
  const claim = claimOnly(deps);
  const { tracer } = deps;
  if (tracer === undefined || !tracer.enabled) return claim;
  return async (limit) => {
    const attributes = { 'at_worker.worker_id': deps.workerId, 'at_worker.claim.limit': limit };
    const span = tracer.startSpan('at-worker claim', { attributes });
    let tasks: readonly ClaimedTask[];
    try {
      tasks = await claim(limit);
    } catch (cause) {
      span.end({ error: errorMessage(cause) });
      throw cause;
    }
    span.end({ attributes: { 'at_worker.claim.count': tasks.length } });
    // Each attempt's span links to (or, without a producer's traceparent, is a child of) its claim.
    const claimTrace = span.traceparent;
    return tasks.map((task) => ({ ...task, claimTrace }));
  };
};

const claimOnly =
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
