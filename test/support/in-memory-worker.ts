import { claimBatch } from '../../src/application/claim-batch.js';
import { executeTask } from '../../src/application/execute-task.js';
import { noMetrics, type TaskExecutor, type WorkerMetrics } from '../../src/application/ports.js';
import { Worker, type WorkerOptions } from '../../src/application/worker.js';
import type { RetryPolicy } from '../../src/domain/index.js';
import type { InMemoryTaskQueue } from './in-memory-queue.js';
import { RecordingLogger } from './recording-logger.js';

export interface InMemoryWorkerOptions extends Partial<WorkerOptions> {
  readonly metrics?: WorkerMetrics;
  readonly retryPolicy?: RetryPolicy;
  readonly taskTimeoutMs?: number;
}

/**
 * The real loop and use cases, wired as the container wires them, over an in-memory queue and the
 * given executors; no jitter, and intervals long enough that only full batches and wake-ups drive it.
 */
export const inMemoryWorker = (queue: InMemoryTaskQueue, executors: Record<string, TaskExecutor>, options: InMemoryWorkerOptions = {}) => {
  const logger = new RecordingLogger();
  const metrics = options.metrics ?? noMetrics;
  const deps = { workerId: 'w1', queue, clock: { now: () => new Date() }, logger, metrics };
  const worker = new Worker(
    {
      workerId: 'w1',
      batchSize: options.batchSize ?? 10,
      concurrency: options.concurrency ?? 10,
      prefetch: options.prefetch ?? 0,
      pollIntervalMs: options.pollIntervalMs ?? 60_000,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 60_000,
    },
    {
      claimBatch: claimBatch(deps),
      executeTask: executeTask({
        ...deps,
        executors: new Map(Object.entries(executors)),
        jitter: { next: () => 0 },
        retryPolicy: options.retryPolicy ?? { baseDelayMs: 1000, maxDelayMs: 1000 },
        taskTimeoutMs: options.taskTimeoutMs ?? 60_000,
      }),
      queue,
      logger,
      metrics,
      wakeUps: [],
    },
  );
  return { worker, logger };
};
