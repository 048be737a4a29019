import { until } from '../support/worker-process.js';
import { insertHttpBurst, useWorkerSuite } from '../support/worker-suite.js';
import { deliveriesByWebhookId, duplicatesOf, isRunning } from './fault-helpers.js';

const WORKERS = 4;
const TOTAL = 10_000;

/**
 * Four worker processes race for the same 10,000 due rows. FOR UPDATE SKIP LOCKED is the whole
 * guarantee that no two of them ever hold the same task; with no crash in the picture, each task
 * must reach the receiver exactly once.
 */
describe('many workers on one queue', () => {
  const suite = useWorkerSuite();
  const workers = suite.workers;

  it(`${WORKERS} processes x ${TOTAL.toLocaleString('en')} tasks: all completed, none delivered twice`, async () => {
    await insertHttpBurst(suite.db, suite.receiver.url('/many'), TOTAL);
    // Batches of 50 and 50 in flight per process: a claim costs one statement whatever its size,
    // and on this 2-core machine (4 workers, PostgreSQL, the suite.receiver, jest) more in flight only
    // adds contention. LOG_LEVEL=warn: 10,000 "Found N tasks" lines are not what is tested here.
    // Half of them also claim 50 tasks ahead of their slots (WORKER_PREFETCH): tasks held by one
    // worker while the others race for the rest.
    for (let n = 1; n <= WORKERS; n += 1) {
      const prefetch = n % 2 === 0 ? '50' : '0';
      suite.start({
        LOG_LEVEL: 'warn',
        WORKER_ID: `many-${n}`,
        WORKER_BATCH_SIZE: '50',
        WORKER_CONCURRENCY: '50',
        WORKER_PREFETCH: prefetch,
      });
    }
    const started = Date.now();
    await until(() => suite.receiver.to('/many').length >= TOTAL, 90_000, `${TOTAL} deliveries`);
    await until(async () => (await suite.db.statusCounts())['completed'] === TOTAL, 15_000, 'every task completed');
    const elapsedMs = Date.now() - started;

    expect(await suite.db.statusCounts()).toEqual({ completed: TOTAL });
    const deliveries = deliveriesByWebhookId(suite.receiver, '/many');
    expect(duplicatesOf(deliveries)).toEqual([]);
    expect(deliveries.size).toBe(TOTAL);
    expect(suite.receiver.to('/many')).toHaveLength(TOTAL);
    // The history agrees: one claim and one completion per task, nothing recovered.
    const histories = await suite.db.client.query<{ history: string; tasks: number }>(
      `SELECT history, count(*)::int AS tasks
         FROM (SELECT string_agg(event_type, ',' ORDER BY seq) AS history FROM task_events GROUP BY task_id) AS h
        GROUP BY history`,
    );
    expect(histories.rows).toEqual([{ history: 'scheduled,claimed,completed', tasks: TOTAL }]);
    // Every process took part.
    const perWorker = await suite.db.client.query<{ worker_id: string; count: number }>(
      `SELECT worker_id, count(*)::int AS count FROM task_events WHERE event_type = 'completed' GROUP BY worker_id ORDER BY worker_id`,
    );
    expect(perWorker.rows.map((row) => row.worker_id)).toEqual(workers.map((_, n) => `many-${n + 1}`));
    for (const worker of workers) expect(isRunning(worker.child)).toBe(true);
    console.log(
      `[fault-many-workers] ${TOTAL} tasks by ${WORKERS} workers in ${elapsedMs} ms (${Math.round(TOTAL / (elapsedMs / 1000))}/s); ` +
        `per worker: ${perWorker.rows.map((row) => row.count).join(', ')}`,
    );
    expect(await Promise.all(workers.map((worker) => worker.stop('SIGTERM')))).toEqual(workers.map(() => 0));
  }, 150_000);
});
