import type { DatabasePool } from 'slonik';
import { createActivityRecorder } from '../../src/adapters/postgres/activity-recorder.js';
import { readActivity } from '../../src/adapters/postgres/dashboard-activity.js';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { closePool, createPostgresPool } from '../../src/adapters/postgres/pool.js';
import { FAST_ENV, spawnWorker, until } from '../support/worker-process.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { connectSql, type SqlClient } from '../support/tasks-sql.js';
import { startReceiver } from '../support/http-receiver.js';

/** The overview's last hour: what each worker counted, added to at_worker_activity, read by minute. */
describe('the overview’s last hour, from the workers’ tally', () => {
  let database: TestDatabase;
  let db: SqlClient;
  let pool: DatabasePool;

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    db = await connectSql(database.url);
    pool = await createPostgresPool(database.url, 2);
  });

  afterAll(async () => {
    await closePool(pool);
    await db.close();
    await database.drop();
  });

  beforeEach(async () => {
    await db.client.query('DELETE FROM at_worker_activity');
  });

  const warnings = (logger: RecordingLogger) => logger.lines.filter((line) => line.level === 'warn').map((line) => line.message);
  /** What `worker` has written in all: claims and the sum of their lateness. */
  const written = async (worker: string) =>
    (
      await db.client.query<{ claimed: number; late_sum_ms: number }>(
        'SELECT sum(claimed)::int AS claimed, sum(late_sum_ms) AS late_sum_ms FROM at_worker_activity WHERE worker_id = $1',
        [worker],
      )
    ).rows[0];

  /** Runs `body` with the database broken by `breaking` (SQL), mended by `mending` afterwards. */
  const whileBroken = async (breaking: string, mending: string, body: () => Promise<void>) => {
    await db.client.query(breaking);
    try {
      await body();
    } finally {
      await db.client.query(mending);
    }
  };

  const totals = (activity: Awaited<ReturnType<typeof readActivity>>) => ({
    claimed: activity.lastHour.reduce((sum, minute) => sum + minute.claimed, 0),
    completed: activity.lastHour.reduce((sum, minute) => sum + minute.completed, 0),
    failed: activity.lastHour.reduce((sum, minute) => sum + minute.failed, 0),
    minutes: activity.lastHour.length,
    workers: activity.workers.map((worker) => [worker.workerId, worker.claimed, worker.completed, worker.failed]),
    lateness: activity.lastHour
      .filter((minute) => minute.latenessMaxMs !== null)
      .map((minute) => [minute.latenessAvgMs, minute.latenessMaxMs]),
  });

  it('adds each flush to the bucket and worker it counted, and reads them by minute with their lateness', async () => {
    const minute = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;
    let clock = minute + 1_000;
    const one = createActivityRecorder(pool, 'worker-1', new RecordingLogger(), { flushMs: 3_600_000, now: () => clock });
    const two = createActivityRecorder(pool, 'worker-2', new RecordingLogger(), { flushMs: 3_600_000, now: () => clock });
    one.metrics.claimed('http_callback', 100);
    one.metrics.claimed('http_callback', 300);
    // A task due since '-infinity' is read as due at the earliest Date: claimed, with no lateness.
    one.metrics.claimed('http_callback', Date.now() + 8.64e15);
    one.metrics.attemptEnded('http_callback', 'completed', 5);
    one.metrics.attemptEnded('http_callback', 'retried', 5);
    one.metrics.attemptEnded('http_callback', 'failed', 5);
    await one.flush();
    // Later in the same bucket: added to the row already written.
    clock = minute + 9_000;
    one.metrics.claimed('http_callback', 200);
    one.metrics.recovered('http_callback', 'failed');
    one.metrics.recovered('http_callback', 'requeued');
    await one.flush();
    // The next minute, another worker.
    clock = minute + 61_000;
    two.metrics.claimed('email', 1_000);
    two.metrics.attemptEnded('email', 'completed', 5);
    await Promise.all([one.close(), two.close()]);

    const rows = await db.client.query<{ worker_id: string; claimed: number; late_count: number }>(
      'SELECT worker_id, claimed, late_count FROM at_worker_activity ORDER BY bucket, worker_id',
    );
    expect(rows.rows).toEqual([
      { worker_id: 'worker-1', claimed: 4, late_count: 3 },
      { worker_id: 'worker-2', claimed: 1, late_count: 1 },
    ]);
    const read = totals(await pool.connect((connection) => readActivity(connection, new Date())));
    expect(read).toEqual({
      claimed: 5,
      completed: 2,
      failed: 2,
      minutes: 60,
      // Most recently seen first.
      workers: [
        ['worker-2', 1, 1, 0],
        ['worker-1', 4, 1, 2],
      ],
      lateness: [
        [200, 300],
        [1_000, 1_000],
      ],
    });
  });

  it('keeps what a flush could not write and writes it with the next one, warning once', async () => {
    const logger = new RecordingLogger();
    const recorder = createActivityRecorder(pool, 'worker-3', logger, { flushMs: 3_600_000 });
    await whileBroken(
      'ALTER TABLE at_worker_activity RENAME TO at_worker_activity_away',
      'ALTER TABLE at_worker_activity_away RENAME TO at_worker_activity',
      async () => {
        recorder.metrics.claimed('http_callback', 10);
        await recorder.flush();
        recorder.metrics.claimed('http_callback', 20);
        await recorder.flush();
      },
    );
    expect(warnings(logger)).toEqual([
      expect.stringMatching(/^\[Worker worker-3\] could not write its activity for the dashboard, keeping it: .*at_worker_activity/),
    ]);
    recorder.metrics.claimed('http_callback', 30);
    await recorder.close();
    expect(await written('worker-3')).toEqual({ claimed: 3, late_sum_ms: 60 });
  });

  it('writes its counts once when the clean-up of old rows that follows fails', async () => {
    const logger = new RecordingLogger();
    const recorder = createActivityRecorder(pool, 'worker-5', logger, { flushMs: 3_600_000 });
    await whileBroken(
      `CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no delete today'; END $$;
       CREATE TRIGGER refuse_delete BEFORE DELETE ON at_worker_activity FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete()`,
      'DROP TRIGGER refuse_delete ON at_worker_activity; DROP FUNCTION refuse_delete()',
      async () => {
        recorder.metrics.claimed('http_callback', 10);
        // The first flush also deletes old rows: refused here, after the counts are written.
        await recorder.flush();
        recorder.metrics.claimed('http_callback', 10);
        await recorder.close();
      },
    );
    expect(warnings(logger)).toEqual([
      expect.stringMatching(/^\[Worker worker-5\] could not delete activity rows older than 2 hours: .*no delete today/),
    ]);
    expect(await written('worker-5')).toEqual({ claimed: 2, late_sum_ms: 20 });
  });

  it('deletes rows older than two hours when it writes, and the overview reads only the last hour', async () => {
    await db.client.query(`
      INSERT INTO at_worker_activity (bucket, worker_id, claimed, completed, failed, late_count, late_sum_ms, late_max_ms, last_seen_at)
      SELECT date_bin('10 seconds', now() - age, 'epoch'), worker, 1, 1, 0, 1, 5, 5, now() - age
        FROM (VALUES ('worker-gone', interval '3 hours'), ('worker-earlier', interval '90 minutes')) AS old (worker, age)`);
    expect(totals(await pool.connect((connection) => readActivity(connection, new Date()))).workers).toEqual([]);
    const recorder = createActivityRecorder(pool, 'worker-4', new RecordingLogger(), { flushMs: 3_600_000 });
    recorder.metrics.attemptEnded('http_callback', 'completed', 1);
    await recorder.close();
    const left = await db.client.query<{ worker_id: string }>('SELECT worker_id FROM at_worker_activity ORDER BY bucket');
    expect(left.rows.map((row) => row.worker_id)).toEqual(['worker-earlier', 'worker-4']);
  });

  it('a running worker’s claims, completions and lateness reach the table by the time it has stopped', async () => {
    const receiver = await startReceiver();
    const worker = spawnWorker({ ...FAST_ENV, DATABASE_URL: database.url, WORKER_ID: 'worker-live' });
    try {
      await worker.waitForLog(/Started|Worker started/i, 30_000);
      for (let n = 0; n < 5; n += 1) await db.insertTask('http_callback', { url: receiver.url('/ok'), data: { n } });
      await until(async () => (await db.statusCounts())['completed'] === 5, 30_000, 'the tasks to complete');
    } finally {
      expect(await worker.stop()).toBe(0);
      await receiver.close();
    }
    const read = totals(await pool.connect((connection) => readActivity(connection, new Date())));
    expect(read).toMatchObject({ claimed: 5, completed: 5, failed: 0, workers: [['worker-live', 5, 5, 0]] });
    // Lateness as the worker measured it: from each task's due time to the claim's arrival, at least
    // what the history says (the claim's own transaction time) and not much more.
    const history = await db.client.query<{ ms: number }>(`
      SELECT max(extract(epoch FROM c.occurred_at - (p.data->>'execute_at')::timestamptz) * 1000)::float8 AS ms
        FROM task_events AS c JOIN task_events AS p ON p.task_id = c.task_id AND p.seq = c.seq - 1
       WHERE c.event_type = 'claimed'`);
    const worst = Math.max(...read.lateness.map(([, max]) => max ?? 0));
    expect(worst).toBeGreaterThanOrEqual(Math.floor(history.rows[0]!.ms) - 1);
    expect(worst).toBeLessThan(history.rows[0]!.ms + 5_000);
  });
});
