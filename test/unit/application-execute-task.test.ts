import { executeTask, shutdownCause } from '../../src/application/execute-task.js';
import { noMetrics, type TaskExecutor } from '../../src/application/ports.js';
import { permanentFailure, retryableFailure, succeeded } from '../../src/domain/index.js';
import { InMemoryTaskQueue } from '../support/in-memory-queue.js';
import { RecordingLogger } from '../support/recording-logger.js';

const setup = (executor: TaskExecutor, options: { taskTimeoutMs?: number; maxAttempts?: number } = {}) => {
  const queue = new InMemoryTaskQueue();
  const logger = new RecordingLogger();
  const run = executeTask({
    workerId: 'w1',
    executors: new Map([['http_callback', executor]]),
    queue,
    clock: { now: () => new Date() },
    jitter: { next: () => 0 },
    logger,
    metrics: noMetrics,
    retryPolicy: { baseDelayMs: 60_000, maxDelayMs: 600_000 },
    taskTimeoutMs: options.taskTimeoutMs ?? 5_000,
  });
  const id = queue.add('http_callback', { url: 'http://example.test/', data: {} }, { maxAttempts: options.maxAttempts ?? 3 });
  return { queue, logger, run, id };
};

const claimOne = async (queue: InMemoryTaskQueue) => {
  const [task] = await queue.claimDueTasks('w1', 1);
  if (task === undefined) throw new Error('nothing claimed');
  return task;
};

const never = new AbortController().signal;

describe('ExecuteTask', () => {
  it('completes a task whose executor succeeds, recording the duration', async () => {
    const { queue, run, id } = setup({ execute: async () => succeeded({ http_status: 204 }) });
    expect(await run(await claimOne(queue), never)).toBe('applied');
    expect(queue.state(id)).toMatchObject({ status: 'completed', attempts: 1 });
    const last = queue.history(id).at(-1);
    expect(last).toMatchObject({ type: 'completed', details: { http_status: 204 } });
    expect(last && 'details' in last && typeof last.details['duration_ms']).toBe('number');
  });

  it('schedules a retry with backoff after a retryable failure', async () => {
    const { queue, run, id, logger } = setup({ execute: async () => retryableFailure('HTTP 503: busy') });
    const before = Date.now();
    await run(await claimOne(queue), never);
    const state = queue.state(id);
    expect(state).toMatchObject({ status: 'pending', attempts: 1 });
    // jitter 0 -> half of the 60 s base delay
    expect(state.status === 'pending' && state.executeAt.getTime() - before).toBeGreaterThanOrEqual(30_000);
    expect(logger.messages()).toContain(`[Executor] Task ${id} failed: HTTP 503: busy (will be retried)`);
  });

  it('fails a task at once on a permanent failure', async () => {
    const { queue, run, id } = setup({ execute: async () => permanentFailure('HTTP 404: no such hook') });
    await run(await claimOne(queue), never);
    expect(queue.state(id)).toMatchObject({ status: 'failed', attempts: 1, error: 'HTTP 404: no such hook' });
  });

  it('fails an unknown task type permanently, naming the types it knows', async () => {
    const queue = new InMemoryTaskQueue();
    const run = executeTask({
      workerId: 'w1',
      executors: new Map([['http_callback', { execute: async () => succeeded() }]]),
      queue,
      clock: { now: () => new Date() },
      jitter: { next: () => 0 },
      logger: new RecordingLogger(),
      metrics: noMetrics,
      retryPolicy: { baseDelayMs: 1000, maxDelayMs: 1000 },
      taskTimeoutMs: 1000,
    });
    const id = queue.add('fax', {});
    await run(await claimOne(queue), never);
    expect(queue.state(id)).toMatchObject({ status: 'failed', error: 'unknown task_type "fax" (expected one of: http_callback)' });
  });

  it('turns an executor that throws into a retryable failure instead of crashing the worker', async () => {
    const { queue, run, id } = setup({
      execute: async () => {
        throw new Error('boom');
      },
    });
    await run(await claimOne(queue), never);
    expect(queue.state(id)).toMatchObject({ status: 'pending', attempts: 1 });
    expect(queue.history(id).at(-1)).toMatchObject({ type: 'retry_scheduled', error: 'executor error: boom' });
  });

  it('aborts a task at TASK_TIMEOUT even if its executor ignores the signal', async () => {
    const { queue, run, id } = setup({ execute: () => new Promise(() => undefined) }, { taskTimeoutMs: 50 });
    await run(await claimOne(queue), never);
    expect(queue.history(id).at(-1)).toMatchObject({
      type: 'retry_scheduled',
      error: 'task timed out after 50 ms (TASK_TIMEOUT)',
    });
  });

  it('counts a task cut off by shutdown as an attempt: its request may have reached the receiver', async () => {
    const shutdown = new AbortController();
    const { queue, run, id } = setup({
      execute: (_task, signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve(retryableFailure('aborted')))),
    });
    const running = run(await claimOne(queue), shutdown.signal);
    shutdown.abort(shutdownCause);
    await running;
    expect(queue.state(id)).toMatchObject({ status: 'pending', attempts: 1 });
    expect(queue.history(id).at(-1)).toMatchObject({
      type: 'retry_scheduled',
      error: 'interrupted by shutdown (SHUTDOWN_TIMEOUT) while running: counted as an attempt',
    });
  });

  it('releases a task whose shutdown began before it started, without consuming an attempt', async () => {
    const shutdown = new AbortController();
    let executed = false;
    const { queue, run, id } = setup({
      execute: async () => {
        executed = true;
        return succeeded();
      },
    });
    shutdown.abort(shutdownCause);
    await run(await claimOne(queue), shutdown.signal);
    expect(executed).toBe(false);
    expect(queue.state(id)).toMatchObject({ status: 'pending', attempts: 0 });
    expect(queue.history(id).at(-1)?.type).toBe('released');
  });

  it('changes nothing when the claim was taken away meanwhile (fenced late result)', async () => {
    let finish: () => void = () => undefined;
    const { queue, run, id, logger } = setup({
      execute: () => new Promise((resolve) => (finish = () => resolve(succeeded()))),
    });
    const task = await claimOne(queue);
    const running = run(task, never);
    // The cleaner recovers the task (as if this worker had stalled) and another worker claims it.
    queue.ageHeartbeat(id, 10 * 60_000);
    const [stuck] = await queue.findStuckTasks(5 * 60_000, 10);
    expect(stuck?.id).toBe(id);
    await queue.endAttempt({
      claim: task,
      events: [{ type: 'recovered', at: new Date(), workerId: 'cleaner', attempt: 1, previousOwner: 'w1', error: 'stuck' }],
      next: { status: 'pending', taskType: 'http_callback', attempts: 1, maxAttempts: 3, executeAt: new Date() },
      errorMessage: 'stuck',
    });
    finish();
    expect(await running).toBe('fenced');
    expect(queue.state(id)).toMatchObject({ status: 'pending', attempts: 1 });
    expect(logger.messages().some((line) => line.includes('result discarded'))).toBe(true);
  });
});
