import type { DatabasePool } from 'slonik';
import type { TaskListFilter } from '../../src/application/dashboard/ports.js';
import { listTasks } from '../../src/adapters/postgres/dashboard-tasks.js';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { closePool, createPostgresPool } from '../../src/adapters/postgres/pool.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { connectSql, type SqlClient } from '../support/tasks-sql.js';

const NO_FILTER: TaskListFilter = { status: null, taskType: null, from: null, to: null, errorText: null };

/** The task list with only an end ("until"): the same rows, newest first, as the plain query gives. */
describe('task list until a time', () => {
  let database: TestDatabase;
  let db: SqlClient;
  let pool: DatabasePool;
  const until = new Date(Date.now() - 5 * 86_400_000);

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    db = await connectSql(database.url);
    pool = await createPostgresPool(database.url, 1);
    // In id order: 30 tasks ten days before the end, 40 two hours before it, 30 after it.
    for (const [count, offsetMs] of [
      [30, -10 * 86_400_000],
      [40, -2 * 3_600_000],
      [30, 3_600_000],
    ] as const)
      await db.client.query(
        `INSERT INTO scheduled_tasks (task_type, payload, execute_at, created_at)
         SELECT 'http_callback', '{"url": "http://127.0.0.1:9/x", "data": {}}', $1::timestamptz, $1::timestamptz
           FROM generate_series(1, $2)`,
        [new Date(until.getTime() + offsetMs).toISOString(), count],
      );
  });

  afterAll(async () => {
    await closePool(pool);
    await db.close();
    await database.drop();
  });

  const expected = async (before: string | null, limit: number) =>
    (
      await db.client.query<{ id: string }>(
        `SELECT id FROM scheduled_tasks WHERE created_at < $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
        [until.toISOString(), before, limit],
      )
    ).rows.map((row) => row.id);

  it('pages through every task before the end, newest first, however far back they lie', async () => {
    const shown: string[] = [];
    let before: string | null = null;
    for (let page = 0; page < 5; page += 1) {
      const result = await listTasks(pool, { ...NO_FILTER, to: until }, before, 25);
      expect(result.rows.map((row) => row.id)).toEqual(await expected(before, 25));
      shown.push(...result.rows.map((row) => row.id));
      before = result.nextBefore;
      if (before === null) break;
    }
    expect(shown).toEqual(await expected(null, 1000));
    expect(shown).toHaveLength(70);
    const small = await listTasks(pool, { ...NO_FILTER, to: until }, null, 10);
    expect(small.rows.map((row) => row.id)).toEqual(await expected(null, 10));
  });
});
