import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startReceiver, type Receiver } from '../support/http-receiver.js';
import { connectSql, type SqlClient } from '../support/tasks-sql.js';
import { FAST_ENV, spawnWorker, until, type WorkerProcess } from '../support/worker-process.js';
import { deliveriesByWebhookId, duplicatesOf, isRunning } from './fault-helpers.js';

const WORKERS = 4;
const TOTAL = 10_000;

/**
 * Four worker processes race for the same 10,000 due rows. FOR UPDATE SKIP LOCKED is the whole
 * guarantee that no two of them ever hold the same task; with no crash in the picture, each task
 * must reach the receiver exactly once.
 */
describe('many workers on one queue', () => {
  let database: TestDatabase;
  let db: SqlClient;
  let receiver: Receiver;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    db = await connectSql(database.url);
    receiver = await startReceiver();
  });

  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.stop('SIGKILL')));
    await receiver.close();
    await db.close();
    await database.drop();
  });

  it(`${WORKERS} processes x ${TOTAL.toLocaleString('en')} tasks: all completed, none delivered twice`, async () => {
    await db.client.query(
      `INSERT INTO scheduled_tasks (task_type, payload)
       SELECT 'http_callback', jsonb_build_object('url', $1::text, 'data', jsonb_build_object('n', n))
         FROM generate_series(1, $2::int) AS n`,
      [receiver.url('/many'), TOTAL],
    );
    // Batches of 50 and 50 in flight per process: a claim costs one statement whatever its size,
    // and on this 2-core machine (4 workers, PostgreSQL, the receiver, jest) more in flight only
    // adds contention. LOG_LEVEL=warn: 10,000 "Found N tasks" lines are not what is tested here.
    for (let n = 1; n <= WORKERS; n += 1) {
      workers.push(
        spawnWorker({
          ...FAST_ENV,
          LOG_LEVEL: 'warn',
          DATABASE_URL: database.url,
          WORKER_ID: `many-${n}`,
          WORKER_BATCH_SIZE: '50',
          WORKER_CONCURRENCY: '50',
        }),
      );
    }
    const started = Date.now();
    await until(() => receiver.to('/many').length >= TOTAL, 90_000, `${TOTAL} deliveries`);
    await until(async () => (await db.statusCounts())['completed'] === TOTAL, 15_000, 'every task completed');
    const elapsedMs = Date.now() - started;

    expect(await db.statusCounts()).toEqual({ completed: TOTAL });
    const deliveries = deliveriesByWebhookId(receiver, '/many');
    expect(duplicatesOf(deliveries)).toEqual([]);
    expect(deliveries.size).toBe(TOTAL);
    expect(receiver.to('/many')).toHaveLength(TOTAL);
    // The history agrees: one claim and one completion per task, nothing recovered.
    const histories = await db.client.query<{ history: string; tasks: number }>(
      `SELECT history, count(*)::int AS tasks
         FROM (SELECT string_agg(event_type, ',' ORDER BY seq) AS history FROM task_events GROUP BY task_id) AS h
        GROUP BY history`,
    );
    expect(histories.rows).toEqual([{ history: 'scheduled,claimed,completed', tasks: TOTAL }]);
    // Every process took part.
    const perWorker = await db.client.query<{ worker_id: string; count: number }>(
      `SELECT worker_id, count(*)::int AS count FROM task_events WHERE event_type = 'completed' GROUP BY worker_id ORDER BY worker_id`,
    );
    expect(perWorker.rows.map((row) => row.worker_id)).toEqual(workers.map((_, n) => `many-${n + 1}`));
    for (const worker of workers) expect(isRunning(worker.child)).toBe(true);
    console.log(
      `[fault-many-workers] ${TOTAL} tasks by ${WORKERS} workers in ${elapsedMs} ms (${Math.round(TOTAL / (elapsedMs / 1000))}/s); per worker: ${perWorker.rows.map((row) => row.count).join(', ')}`,
    );
    expect(await Promise.all(workers.map((worker) => worker.stop('SIGTERM')))).toEqual(workers.map(() => 0));
  }, 150_000);
});
