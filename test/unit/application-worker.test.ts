import { noMetrics, type TaskExecutor } from '../../src/application/ports.js';
import { recoverStuck } from '../../src/application/recover-stuck.js';
import { retryableFailure, succeeded } from '../../src/domain/index.js';
import { concurrencyProbe } from '../support/executor-calls.js';
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
    expect(queue.claims.slice(0, 2)).toEqual([
      { limit: 10, claimed: 10 },
      { limit: 10, claimed: 10 },
    ]);
    expect(queue.claims.every((claim) => claim.limit <= 10)).toBe(true);
    expect(logger.messages()).toContain('[Worker w1] Found 10 tasks to process');
  });

  it('never runs more tasks at once than its concurrency', async () => {
    const queue = new InMemoryTaskQueue();
    const ids = Array.from({ length: 40 }, (_, n) => queue.add('job', { n }));
    const probe = concurrencyProbe(10);
    const { worker } = workerWith(queue, probe.executor, { batchSize: 10, concurrency: 7 });
    worker.start();
    await until(() => ids.every((id) => queue.state(id).status === 'completed'));
    await worker.stop(1000);
    expect(probe.peak).toBe(7);
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
    // Cut off while running: it may have taken effect, so the attempt counts.
    expect(queue.state(slow)).toMatchObject({ status: 'pending', attempts: 1 });
    expect(queue.history(slow).map((event) => event.type)).toEqual(['scheduled', 'claimed', 'retry_scheduled']);
  });
});

describe('Worker loop and a task claimed twice', () => {
  it("keeps heart-beating a task it claimed again when the task's older attempt ends", async () => {
    // This worker stalled long enough for the cleaner to take its task back, then claimed the same
    // task again while the old attempt was still running.
    const queue = new InMemoryTaskQueue();
    const id = queue.add('job', {});
    const attempts = [gate(), gate()];
    let calls = 0;
    const executor: TaskExecutor = { execute: async () => (await attempts[calls++]!.opened, succeeded()) };
    const { worker, logger } = inMemoryWorker(queue, { job: executor }, { pollIntervalMs: 20, heartbeatIntervalMs: 20 });
    worker.start();
    await until(() => calls === 1, 2000);
    queue.ageHeartbeat(id, 10 * 60_000);
    expect(
      await recoverStuck({
        workerId: 'cleaner',
        queue,
        clock,
        logger: new RecordingLogger(),
        metrics: noMetrics,
        stuckTimeoutMs: 5 * 60_000,
      })(),
    ).toMatchObject({ requeued: 1 });
    await until(() => calls === 2, 2000);

    expect(worker.inFlightCount).toBe(2);
    attempts[0]!.open();
    // The old attempt's end is fenced; the new claim must still be held, and heart-beaten.
    await until(() => logger.messages().some((message) => message.includes('result discarded')));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(worker.inFlightCount).toBe(1);
    queue.ageHeartbeat(id, 10 * 60_000);
    await until(() => Date.now() - (queue.rows.get(id)!.heartbeatAt?.getTime() ?? 0) < 1000, 2000, 'a fresh heartbeat');

    attempts[1]!.open();
    await until(() => queue.state(id).status === 'completed');
    await worker.stop(1000);
    expect(queue.history(id).map((event) => event.type)).toEqual(['scheduled', 'claimed', 'recovered', 'claimed', 'completed']);
  });
});

describe('Worker loop with WORKER_PREFETCH', () => {
  it('holds claimed tasks ahead of its slots, claims at least half a batch at a time, and still runs at most its concurrency', async () => {
    const queue = new InMemoryTaskQueue();
    const ids = Array.from({ length: 60 }, (_, n) => queue.add('job', { n }));
    let peakHeld = 0;
    const probe = concurrencyProbe(10, () => {
      peakHeld = Math.max(peakHeld, worker.inFlightCount);
    });
    const { worker } = inMemoryWorker(queue, { job: probe.executor }, { batchSize: 10, concurrency: 5, prefetch: 10 });
    worker.start();
    await until(() => ids.every((id) => queue.state(id).status === 'completed'));
    await worker.stop(1000);
    expect(probe.peak).toBe(5);
    // 5 running and 10 claimed ahead, never more.
    expect(peakHeld).toBe(15);
    // Once tasks wait, a claim asks for at least half a batch; without prefetch this load claims
    // one task at a time (limit 1) as each slot frees.
    expect(queue.claims.slice(1).every((claim) => claim.limit >= 5)).toBe(true);
    expect(
      ids.every(
        (id) => queue.state(id).status === 'completed' && queue.history(id).filter((event) => event.type === 'claimed').length === 1,
      ),
    ).toBe(true);
  });

  it('a freed slot starts a claimed-ahead task at once, even while a claim is still running', async () => {
    const queue = new InMemoryTaskQueue();
    const ids = Array.from({ length: 3 }, (_, n) => queue.add('job', { n }));
    const started: string[] = [];
    const finishFirst = gate();
    const executor: TaskExecutor = {
      execute: async (task) => {
        started.push(task.id);
        if (task.id === ids[0]) await finishFirst.opened;
        return succeeded();
      },
    };
    // Every claim after the first hangs until released, like a slow database.
    const claimHeld = gate();
    const claim = queue.claimDueTasks.bind(queue);
    let claims = 0;
    queue.claimDueTasks = async (workerId, limit) => {
      claims += 1;
      if (claims > 1) await claimHeld.opened;
      return claim(workerId, limit);
    };
    const { worker } = inMemoryWorker(queue, { job: executor }, { batchSize: 2, concurrency: 1, prefetch: 2 });
    worker.start();
    await until(() => started.length === 1 && claims === 2, 5_000, 'one task running and a second claim hanging');
    finishFirst.open();
    // The first task's slot goes to the claimed-ahead one without waiting for the hanging claim.
    await until(() => started.length === 2, 2_000, 'the claimed-ahead task started');
    expect(started).toEqual([ids[0], ids[1]]);
    claimHeld.open();
    await until(() => ids.every((id) => queue.state(id).status === 'completed'));
    await worker.stop(1000);
  });

  it('at shutdown releases claimed-ahead tasks at once without running them', async () => {
    const queue = new InMemoryTaskQueue();
    const ids = Array.from({ length: 4 }, (_, n) => queue.add('job', { n }));
    const started: string[] = [];
    const executor: TaskExecutor = {
      execute: async (task) => {
        started.push(task.id);
        await new Promise((resolve) => setTimeout(resolve, 100));
        return succeeded();
      },
    };
    const { worker } = inMemoryWorker(queue, { job: executor }, { batchSize: 4, concurrency: 1, prefetch: 3 });
    worker.start();
    await until(() => started.length === 1 && worker.inFlightCount === 4);
    await worker.stop(5_000);
    expect(started).toEqual([ids[0]]);
    expect(queue.state(ids[0]!)).toMatchObject({ status: 'completed', attempts: 1 });
    for (const id of ids.slice(1)) {
      expect(queue.state(id)).toMatchObject({ status: 'pending', attempts: 0 });
      expect(queue.history(id).map((event) => event.type)).toEqual(['scheduled', 'claimed', 'released']);
    }
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

  it('goes on past a task whose recovery cannot be written, and gives up when the store keeps failing', async () => {
    const queue = new InMemoryTaskQueue();
    const ids = [queue.add('job', {}), queue.add('job', {}), queue.add('job', {})];
    await queue.claimDueTasks('crashed', 10);
    for (const id of ids) queue.ageHeartbeat(id, 6 * 60_000);
    const refused = new Set([ids[0]]);
    const endAttempt = queue.endAttempt.bind(queue);
    queue.endAttempt = async (end) => {
      if (refused.has(end.claim.id)) throw new Error('duplicate key value violates unique constraint "task_events_pkey"');
      return endAttempt(end);
    };
    const logger = new RecordingLogger();

    expect(await run(queue, logger)).toEqual({ requeued: 2, failed: 0, skipped: 1 });
    expect(ids.map((id) => queue.state(id).status)).toEqual(['processing', 'pending', 'pending']);
    expect(logger.messages()).toContain(
      `[Cleaner] Task ${ids[0]}: could not record its recovery: duplicate key value violates unique constraint "task_events_pkey"`,
    );

    // Three failures in a row: the store, not a task, is failing; the sweep ends with its error.
    const more = [queue.add('job', {}), queue.add('job', {}), queue.add('job', {}), queue.add('job', {})];
    await queue.claimDueTasks('crashed', 10);
    for (const id of [...more, ids[0]!]) queue.ageHeartbeat(id, 6 * 60_000);
    for (const id of more) refused.add(id);
    await expect(run(queue)).rejects.toThrow('duplicate key value');
  });

  it("judges silence by the store's clock, which stamps heartbeats: a cleaner with a fast clock leaves live tasks alone", async () => {
    const queue = new InMemoryTaskQueue();
    const live = queue.add('job', {});
    await queue.claimDueTasks('alive', 10);
    const tenMinutesAhead = { now: () => new Date(Date.now() + 10 * 60_000) };
    const sweep = recoverStuck({
      workerId: 'cleaner',
      queue,
      clock: tenMinutesAhead,
      logger: new RecordingLogger(),
      metrics: noMetrics,
      stuckTimeoutMs: 5 * 60_000,
    });
    expect(await sweep()).toEqual({ requeued: 0, failed: 0, skipped: 0 });
    expect(queue.state(live).status).toBe('processing');
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

/** A promise the test opens when it chooses. */
const gate = () => {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
};
