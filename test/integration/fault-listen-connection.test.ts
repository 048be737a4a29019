import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startReceiver, type Receiver } from '../support/http-receiver.js';
import { connectSql, type SqlClient } from '../support/tasks-sql.js';
import { FAST_ENV, spawnWorker, until, type WorkerProcess } from '../support/worker-process.js';
import { databaseName, isRunning, sleep, terminateBackends } from './fault-helpers.js';

// Polling so slow that only a NOTIFY can explain a task picked up within a couple of seconds.
const POLL_SECONDS = 60;

/**
 * The LISTEN connection is a single long-lived session outside the pool; killing it must not kill
 * the worker, and the worker must LISTEN again by itself — otherwise every new task waits a whole
 * polling interval from then on, silently.
 */
describe('LISTEN connection killed', () => {
  let database: TestDatabase;
  let db: SqlClient;
  let receiver: Receiver;
  let worker: WorkerProcess;

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    db = await connectSql(database.url);
    receiver = await startReceiver();
    worker = spawnWorker({
      ...FAST_ENV,
      LOG_LEVEL: 'debug',
      DATABASE_URL: database.url,
      WORKER_ID: 'listener',
      WORKER_POLLING_INTERVAL: String(POLL_SECONDS),
    });
    await worker.waitForLog(/Started with polling interval/);
  });

  afterAll(async () => {
    await worker.stop('SIGKILL');
    await receiver.close();
    await db.close();
    await database.drop();
  });

  const pickedUpPromptly = async (path: string) => {
    const id = await db.insertTask('http_callback', { url: receiver.url(path), data: {} });
    await until(async () => (await db.task(id)).status === 'completed', 3000, `task for ${path} completed without waiting for a poll`);
  };

  it('reconnects by itself, twice, and new tasks are picked up at once again', async () => {
    await worker.waitForLog(/Listening on channel at_worker_tasks/, 10_000);
    await pickedUpPromptly('/before');

    for (const round of [1, 2]) {
      const killed = await terminateBackends(db.client, databaseName(database.url));
      expect(killed).toBeGreaterThanOrEqual(1);
      await until(
        () => worker.lines.filter((line) => /^LISTEN connection restored/.test(line.msg)).length >= round,
        10_000,
        `LISTEN restored after kill ${round}`,
      );
      // The wake-up on reconnect is spent; what follows must come through the new LISTEN.
      await sleep(300);
      await pickedUpPromptly(`/after-kill-${round}`);
    }

    expect(worker.lines.filter((line) => /^LISTEN connection lost/.test(line.msg))).toHaveLength(2);
    expect(isRunning(worker.child)).toBe(true);
    expect(await worker.stop('SIGTERM')).toBe(0);
  }, 60_000);
});
