import { noMetrics, type TaskExecutor } from '../../src/application/ports.js';
import { recoverStuck } from '../../src/application/recover-stuck.js';
import { retryableFailure, succeeded } from '../../src/domain/index.js';
import { InMemoryTaskQueue } from '../support/in-memory-queue.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { until } from '../support/worker-process.js';
import { inMemoryWorker } from '../support/in-memory-worker.js';

const clock = { now: () => new Date() };

const workerWith = (queue: InMemoryTaskQueue, executor: TaskExecutor, options: { batchSize: number; concurrency: number }) =>
  inMemoryWorker(queue, { job: executor }, options);


describe('Worker loop', () => {
  it('drains a backlog in full batches without waiting for the poll interval', async () => {
    const queue = new InMemoryTaskQueue();
    const ids = Array.from({ length: 95 }, (_, n) => queue.add('job', { n }));
    const { worker, logger } = workerWith(queue, { execute: async () => succeeded() }, { batchSize: 10, concurrency: 20 });
    worker.start();
    // The poll interval is a minute: only claiming again after full batches can finish this in time.
    await until(() => ids.every((id) => queue.state(id).status === 'completed'));
    await worker.stop(1000);
    expect(logger.messages()).toContain('[Worker w1] Found 10 tasks to process');
  });

  it('never runs more tasks at once than its concurrency', async () => {
    const queue = new InMemoryTaskQueue();
    const ids = Array.from({ length: 40 }, (_, n) => queue.add('job', { n }));
    let running = 0;
    let peak = 0;
    const executor: TaskExecutor = {
      execute: async () => {
        running += 1;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 10));
        running -= 1;
        return succeeded();
      },
    };
    const { worker } = workerWith(queue, executor, { batchSize: 10, concurrency: 7 });
    worker.start();
    await until(() => ids.every((id) => queue.state(id).status === 'completed'));
    await worker.stop(1000);
    expect(peak).toBe(7);
  });

  it('at shutdown lets a task finish within the timeout, and releases one that does not', async () => {
    const queue = new InMemoryTaskQueue();
    const quick = queue.add('job', { ms: 50 });
    const slow = queue.add('job', { ms: 60_000 });
    const executor: TaskExecutor = {
      execute: (task, signal) =>
        new Promise((resolve) => {
          const timer = setTimeout(() => resolve(succeeded()), (task.payload as { ms: number }).ms);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve(retryableFailure('aborted'));
          });
        }),
    };
    const { worker } = workerWith(queue, executor, { batchSize: 10, concurrency: 10 });
    worker.start();
    await until(() => worker.inFlightCount === 2);
    await worker.stop(300);
    expect(queue.state(quick)).toMatchObject({ status: 'completed', attempts: 1 });
    expect(queue.state(slow)).toMatchObject({ status: 'pending', attempts: 0 });
    expect(queue.history(slow).map((event) => event.type)).toEqual(['scheduled', 'claimed', 'released']);
  });
});

describe('RecoverStuck', () => {
  const run = (queue: InMemoryTaskQueue, logger = new RecordingLogger()) =>
    recoverStuck({ workerId: 'cleaner', queue, clock, logger, metrics: noMetrics, stuckTimeoutMs: 5 * 60_000 })();

  it('restores a task whose owner stopped heart-beating, and fails one with no attempts left', async () => {
    const queue = new InMemoryTaskQueue();
    const retryable = queue.add('job', {}, { maxAttempts: 3 });
    const lastChance = queue.add('job', {}, { maxAttempts: 1 });
    await queue.claimDueTasks('crashed', 10);
    queue.ageHeartbeat(retryable, 6 * 60_000);
    queue.ageHeartbeat(lastChance, 6 * 60_000);
    const logger = new RecordingLogger();
    expect(await run(queue, logger)).toEqual({ requeued: 1, failed: 1, skipped: 0 });
    expect(queue.state(retryable)).toMatchObject({ status: 'pending', attempts: 1 });
    expect(queue.state(lastChance)).toMatchObject({ status: 'failed', attempts: 1 });
    expect(logger.messages()).toContain(`[Cleaner] Restored stuck task ${retryable} to pending (owner crashed, attempt 1 consumed)`);
  });

  it('leaves a live task alone', async () => {
    const queue = new InMemoryTaskQueue();
    const live = queue.add('job', {});
    await queue.claimDueTasks('alive', 10);
    queue.ageHeartbeat(live, 60_000);
    expect(await run(queue)).toEqual({ requeued: 0, failed: 0, skipped: 0 });
    expect(queue.state(live).status).toBe('processing');
  });
});
