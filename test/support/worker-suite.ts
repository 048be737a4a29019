import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { startReceiver, type Receiver, type Responder } from './http-receiver.js';
import { connectSql, type SqlClient } from './tasks-sql.js';
import { FAST_ENV, spawnWorker, type WorkerProcess } from './worker-process.js';

/**
 * What an end-to-end suite needs, set up once per suite and torn down after it: a fresh database
 * with the schema, a plain-SQL client, an HTTP receiver scripted by `responders`, and worker
 * processes started with `start`. A worker started inside a test is killed after that test if it
 * is still running, and leaves `workers` (a failed assertion must not leave it claiming the next
 * test's tasks); one started in `beforeAll` lives until the suite ends.
 */
export const useWorkerSuite = (responders: Record<string, Responder> = {}, options: { applySchema?: boolean } = {}) => {
  let database: TestDatabase | undefined;
  let db: SqlClient | undefined;
  let receiver: Receiver | undefined;
  const workers: WorkerProcess[] = [];
  const startedInTest: WorkerProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    if (options.applySchema !== false) await applySchema(database.url);
    db = await connectSql(database.url);
    receiver = await startReceiver(responders);
  });

  afterEach(async () => {
    const ended = startedInTest.splice(0);
    workers.splice(0, workers.length, ...workers.filter((worker) => !ended.includes(worker)));
    await Promise.all(ended.map((worker) => worker.stop('SIGKILL')));
  });

  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.stop('SIGKILL')));
    await receiver?.close();
    await db?.close();
    await database?.drop();
  });

  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useWorkerSuite: used before beforeAll ran');
    return value;
  };

  return {
    get database(): TestDatabase {
      return ready(database);
    },
    get db(): SqlClient {
      return ready(db);
    },
    get receiver(): Receiver {
      return ready(receiver);
    },
    workers,
    /** Spawns a worker on this suite's database with the fast test settings, plus `env`. */
    start: (env: Record<string, string> = {}): WorkerProcess => {
      const worker = spawnWorker({ ...FAST_ENV, DATABASE_URL: ready(database).url, ...env });
      workers.push(worker);
      if (expect.getState().currentTestName !== undefined) startedInTest.push(worker);
      return worker;
    },
  };
};

/** `count` due http_callback tasks posting `{"n": n}` to `url`, in one INSERT as a bulk producer would. */
export const insertHttpBurst = async (db: SqlClient, url: string, count: number): Promise<void> => {
  await db.client.query(
    `INSERT INTO scheduled_tasks (task_type, payload)
     SELECT 'http_callback', jsonb_build_object('url', $1::text, 'data', jsonb_build_object('n', n))
       FROM generate_series(1, $2::int) AS n`,
    [url, count],
  );
};
