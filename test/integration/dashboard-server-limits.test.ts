import type { DatabasePool } from 'slonik';
import type { DashboardServer } from '../../src/adapters/dashboard/server.js';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { closePool, createPostgresPool } from '../../src/adapters/postgres/pool.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { connectSql, type SqlClient } from '../support/tasks-sql.js';
import { startPostgresDashboard } from '../support/dashboard-server.js';

const TIMEOUT_MS = 500;

const TOKEN = 'dashboard-token-for-limits-90d1';

/**
 * The dashboard's limits over real HTTP and PostgreSQL: a query that runs too long is stopped by the
 * pool's statement_timeout and the page says why; wrong sign-ins are limited per address.
 */
describe('dashboard limits', () => {
  let database: TestDatabase;
  let db: SqlClient;
  let pool: DatabasePool;
  let server: DashboardServer;

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    db = await connectSql(database.url);
    pool = await createPostgresPool(database.url, 3, { statementTimeoutMs: TIMEOUT_MS });
    server = await startPostgresDashboard(pool, { statementTimeoutMs: TIMEOUT_MS, token: TOKEN });
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
    expect(await answer.text()).toContain("longer than the dashboard's 0.5 s limit and was stopped");
    expect(waited).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect((await fetch(`http://127.0.0.1:${server.port}/tasks`)).status).toBe(200);
  });

  it('refuses sign-in from an address with 429 after 10 wrong tokens, the right token included', async () => {
    const signIn = (token: string) =>
      fetch(`http://127.0.0.1:${server.port}/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
        redirect: 'manual',
      });
    expect((await signIn(TOKEN)).status).toBe(303);
    for (let n = 0; n < 10; n += 1) expect((await signIn(`wrong-token-${n}-xxxxxxxx`)).status).toBe(401);
    const refused = await signIn(TOKEN);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.text()).toContain('Too many wrong tokens from this address');
    expect(refused.headers.get('set-cookie')).toBeNull();
  });
});
