import type { DatabasePool } from 'slonik';
import { cronCalendar } from '../../src/adapters/cron/croner-calendar.js';
import { startDashboardServer, type DashboardServer } from '../../src/adapters/dashboard/server.js';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createPostgresDashboardReader } from '../../src/adapters/postgres/dashboard-reader.js';
import { createPostgresOperatorStore } from '../../src/adapters/postgres/operator-store.js';
import { closePool, createPostgresPool } from '../../src/adapters/postgres/pool.js';
import { createPostgresScheduleStore } from '../../src/adapters/postgres/schedule-store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { connectSql, type SqlClient } from '../support/tasks-sql.js';

const TIMEOUT_MS = 500;

/** A dashboard query that runs too long is stopped by the pool's statement_timeout, and the page says why. */
describe('dashboard statement timeout', () => {
  let database: TestDatabase;
  let db: SqlClient;
  let pool: DatabasePool;
  let server: DashboardServer;

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    db = await connectSql(database.url);
    pool = await createPostgresPool(database.url, 3, { statementTimeoutMs: TIMEOUT_MS });
    server = await startDashboardServer({
      port: 0,
      host: '127.0.0.1',
      reader: createPostgresDashboardReader(pool),
      store: createPostgresOperatorStore(pool),
      schedules: createPostgresScheduleStore(pool),
      calendarFor: cronCalendar,
      stuckTimeoutMs: 300_000,
      statementTimeoutMs: TIMEOUT_MS,
      token: null,
      scrub: (text) => text,
      logger: new RecordingLogger(),
    });
  });

  afterAll(async () => {
    await server.close();
    await closePool(pool);
    await db.close();
    await database.drop();
  });

  it('answers 503 naming the limit when the task list waits longer than it, and serves again afterwards', async () => {
    // Another session holds the table, as a long migration or a stuck transaction would.
    await db.client.query('BEGIN');
    await db.client.query('LOCK TABLE scheduled_tasks IN ACCESS EXCLUSIVE MODE');
    const started = performance.now();
    const answer = await fetch(`http://127.0.0.1:${server.port}/tasks`);
    const waited = performance.now() - started;
    await db.client.query('ROLLBACK');
    expect(answer.status).toBe(503);
    expect(await answer.text()).toContain('longer than the dashboard\'s 0.5 s limit and was stopped');
    expect(waited).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect((await fetch(`http://127.0.0.1:${server.port}/tasks`)).status).toBe(200);
  });
});
