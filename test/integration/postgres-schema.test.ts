import { createHash } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'slonik';
import { decodeEventRow } from '../../src/adapters/postgres/event-codec.js';
import { applySchema, checkSchema, migrationScript, migrationStatus } from '../../src/adapters/postgres/migrate.js';
import { describeMigration, loadMigrations } from '../../src/adapters/postgres/migration-files.js';
import { closePool, createPostgresPool } from '../../src/adapters/postgres/pool.js';
import { createPostgresTaskQueue } from '../../src/adapters/postgres/task-queue.js';
import { createTestDatabase, withClient, type TestDatabase } from '../support/database.js';
import { eventRows, insertTasks, openFixture, type Fixture } from './postgres-fixtures.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../fixtures');

describe('versioned migrations', () => {
  let database: TestDatabase;
  beforeEach(async () => {
    database = await createTestDatabase();
  });
  afterEach(async () => {
    await database.drop();
  });

  const recorded = (url: string) =>
    withClient(
      url,
      async (client) => (await client.query('SELECT version, name, checksum FROM at_worker_migrations ORDER BY version')).rows,
    );

  it('applies every migration once on an empty database, records each, and applies nothing the second time', async () => {
    const known = loadMigrations();
    const first = await applySchema(database.url);
    expect(first.applied.map(describeMigration)).toEqual(known.map(describeMigration));
    expect(await recorded(database.url)).toEqual(known.map(({ version, name, checksum }) => ({ version, name, checksum })));
    const second = await applySchema(database.url);
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied.map(describeMigration)).toEqual(known.map(describeMigration));
  });

  it('is safe for many workers migrating at the same moment: each migration is applied once', async () => {
    const reports = await Promise.all(Array.from({ length: 6 }, () => applySchema(database.url)));
    // Each by one of them, whichever got the lock first: the runners' reports interleave.
    const applied = reports.flatMap((report) => report.applied.map(describeMigration));
    expect(applied.sort()).toEqual(loadMigrations().map(describeMigration).sort());
  });

  it('upgrades a database made by the schema before migrations, with its tasks and history intact', async () => {
    const before = await readFile(join(fixtures, 'ddl-before-migrations.sql'), 'utf8');
    await withClient(database.url, async (client) => {
      await client.query(before);
      await client.query(
        `INSERT INTO scheduled_tasks (task_type, payload, execute_at) VALUES ('http_callback', '{"url":"http://x"}', now() + interval '1 day')`,
      );
    });
    const report = await applySchema(database.url);
    expect(report.applied.map(describeMigration)).toEqual(loadMigrations().map(describeMigration));
    const pool = await createPostgresPool(database.url, 1);
    try {
      expect(await eventRows(pool, '1')).toEqual([expect.objectContaining({ task_id: '1', seq: 1, event_type: 'scheduled' })]);
      expect((await createPostgresTaskQueue(pool).claimDueTasks('w', 10)).length).toBe(0);
    } finally {
      await closePool(pool);
    }
  });

  it('upgrades a table made by the seed-era DDL, so its stuck rows can be recovered', async () => {
    await withClient(database.url, (client) =>
      client.query(`
        CREATE TABLE scheduled_tasks (
          id bigserial PRIMARY KEY, task_type text NOT NULL, payload jsonb NOT NULL,
          status text NOT NULL DEFAULT 'pending', attempts int NOT NULL DEFAULT 0, max_attempts int NOT NULL DEFAULT 3,
          execute_at timestamptz NOT NULL DEFAULT now(), created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(), completed_at timestamptz, error_message text);
        INSERT INTO scheduled_tasks (task_type, payload, status, updated_at)
        VALUES ('http_callback', '{}', 'processing', now() - interval '1 hour');`),
    );
    await applySchema(database.url);
    const pool = await createPostgresPool(database.url, 1);
    try {
      const stuck = await createPostgresTaskQueue(pool).findStuckTasks(5 * 60_000, 10);
      expect(stuck).toHaveLength(1);
      expect(stuck[0]).toMatchObject({ id: '1', owner: 'unknown' });
    } finally {
      await closePool(pool);
    }
  });

  it('refuses a database whose applied migration changed since, and one newer than the code, changing nothing', async () => {
    await applySchema(database.url);
    await withClient(database.url, (client) => client.query(`UPDATE at_worker_migrations SET checksum = 'edited' WHERE version = 1`));
    await expect(applySchema(database.url)).rejects.toThrow(
      /^migration 0001_baseline changed after it was applied on .*\(its checksum differs\)/,
    );
    await expect(checkSchema(database.url)).rejects.toThrow(/0001_baseline changed after it was applied/);

    await withClient(database.url, (client) =>
      client.query(`UPDATE at_worker_migrations SET checksum = $1 WHERE version = 1;`, [loadMigrations()[0]!.checksum]),
    );
    await withClient(database.url, (client) =>
      client.query(`INSERT INTO at_worker_migrations (version, name, checksum) VALUES (9999, 'from_the_future', 'x')`),
    );
    await expect(applySchema(database.url)).rejects.toThrow(
      'the schema is newer than this worker: migration 9999_from_the_future is applied but unknown to this code; run a newer at-worker',
    );
    expect((await migrationStatus(database.url)).problem).toMatch(/newer than this worker/);
  });

  it('tells a worker that does not migrate that migrations are pending', async () => {
    await expect(checkSchema(database.url)).rejects.toThrow(
      /^the schema is behind this worker: \d+ migration\(s\) pending \(0001_baseline/,
    );
    await applySchema(database.url);
    await expect(checkSchema(database.url)).resolves.toBeUndefined();
  });

  it("gives a DBA a psql script that applies and records what is pending, the runner's way", async () => {
    const script = migrationScript((await migrationStatus(database.url)).pending);
    await withClient(database.url, (client) => client.query(script));
    expect((await migrationStatus(database.url)).pending).toEqual([]);
    expect((await applySchema(database.url)).applied).toEqual([]);
  });
});

describe('scheduled_tasks and task_events at run time', () => {
  let fixture: Fixture;
  beforeEach(async () => {
    fixture = await openFixture();
  });
  afterEach(async () => {
    await fixture.close();
  });

  it("gives a row inserted with plain SQL its 'scheduled' event", async () => {
    await withClient(fixture.database.url, (client) =>
      client.query(`INSERT INTO scheduled_tasks (task_type, payload, execute_at, max_attempts)
                    VALUES ('email', '{"to":"a@example.com"}', '2031-02-03T04:05:06.789Z', 5)`),
    );
    const [row] = await eventRows(fixture.pool, '1');
    expect(row).toMatchObject({ task_id: '1', seq: 1, event_type: 'scheduled', worker_id: null });
    expect(decodeEventRow(row)).toEqual(
      E.right({
        type: 'scheduled',
        at: row!['occurred_at'],
        workerId: null,
        taskType: 'email',
        executeAt: new Date('2031-02-03T04:05:06.789Z'),
        maxAttempts: 5,
        // SHA-256 of the payload's jsonb text, and the row's own uuid: what verify checks the row against.
        payloadSha256: createHash('sha256').update('{"to": "a@example.com"}').digest('hex'),
        taskUuid: (await fixture.pool.oneFirst(sql.unsafe`SELECT task_uuid FROM scheduled_tasks WHERE id = 1`)) as string,
      }),
    );
  });

  it('records 10,000 rows of one INSERT with one event each, and wakes listeners once', async () => {
    await withClient(fixture.database.url, async (listener) => {
      const notifications: string[] = [];
      listener.on('notification', (message) => notifications.push(message.payload ?? ''));
      await listener.query('LISTEN at_worker_tasks');
      await fixture.pool.query(sql.unsafe`
        INSERT INTO scheduled_tasks (task_type, payload, execute_at)
        SELECT 'http_callback', '{}', '2030-01-01T00:00:00Z'::timestamptz + make_interval(secs => n)
          FROM generate_series(1, 10000) AS n`);
      await fixture.pool.query(sql.unsafe`
        INSERT INTO scheduled_tasks (task_type, payload, status, execute_at)
        VALUES ('http_callback', '{}', 'cancelled', '2020-01-01T00:00:00Z'),
               ('http_callback', '{}', 'pending', '2029-06-01T00:00:00.123Z')`);
      await listener.query('SELECT 1'); // notifications arrive before the reply to a later query
      expect(notifications).toEqual([String(Date.parse('2030-01-01T00:00:01Z')), String(Date.parse('2029-06-01T00:00:00.123Z'))]);
    });
    const perTask = await fixture.pool.one(sql.unsafe`
      SELECT count(*)::integer AS events, count(DISTINCT task_id)::integer AS tasks, max(seq) AS max_seq
        FROM task_events WHERE event_type = 'scheduled'`);
    expect(perTask).toEqual({ events: 10_002, tasks: 10_002, max_seq: 1 });
  });

  it('refuses to change or remove history', async () => {
    await insertTasks(fixture.pool, [{}]);
    for (const statement of [`UPDATE task_events SET event_type = 'completed'`, `DELETE FROM task_events`, `TRUNCATE task_events`]) {
      await expect(withClient(fixture.database.url, (client) => client.query(statement))).rejects.toThrow(/task_events is append-only/);
    }
    expect(await eventRows(fixture.pool, '1')).toHaveLength(1);
  });

  // Copied verbatim from the seed specification (section "Диагностика и отладка"): they must run as is.
  const seedDiagnostics = [
    `SELECT version();`,
    `SELECT id, execute_at, status, task_type
FROM scheduled_tasks
WHERE status = 'pending'
ORDER BY execute_at;`,
    `SELECT * FROM pg_locks WHERE relation = 'scheduled_tasks'::regclass;`,
    `SELECT id, task_type, status, attempts, max_attempts, updated_at,
       NOW() - updated_at as stuck_duration
FROM scheduled_tasks
WHERE status = 'processing'
  AND updated_at < NOW() - INTERVAL '5 minutes'
ORDER BY updated_at;`,
    `SELECT id, task_type, payload, error_message
FROM scheduled_tasks
WHERE task_type = 'http_callback'
  AND status = 'failed';`,
    `SELECT status, COUNT(*)
FROM scheduled_tasks
GROUP BY status;`,
    `SELECT task_type,
       AVG(EXTRACT(EPOCH FROM (completed_at - execute_at))) as avg_seconds
FROM scheduled_tasks
WHERE status = 'completed'
  AND completed_at IS NOT NULL
GROUP BY task_type;`,
    `SELECT status, COUNT(*) FROM scheduled_tasks GROUP BY status;`,
    `SELECT COUNT(*) FROM scheduled_tasks
WHERE status = 'processing'
  AND updated_at < NOW() - INTERVAL '5 minutes';`,
    `SELECT
  ROUND(100.0 * SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) / COUNT(*), 2) as success_rate
FROM scheduled_tasks
WHERE status IN ('completed', 'failed');`,
    `SELECT id, task_type, attempts, max_attempts, error_message
FROM scheduled_tasks
WHERE attempts >= max_attempts - 1
  AND status != 'completed'
ORDER BY updated_at DESC
LIMIT 10;`,
  ];

  it('runs every diagnostic query of the seed unchanged', async () => {
    await insertTasks(fixture.pool, [{}, {}, { dueInSeconds: 3600 }]);
    const queue = createPostgresTaskQueue(fixture.pool);
    const [done] = await queue.claimDueTasks('w', 1);
    await fixture.pool.query(sql.unsafe`
      UPDATE scheduled_tasks SET status = 'completed', completed_at = now(), claim_token = NULL
       WHERE id = ${done!.id}::bigint`);
    await queue.claimDueTasks('w', 1);
    await withClient(fixture.database.url, async (client) => {
      for (const query of seedDiagnostics) await expect(client.query(query)).resolves.toBeDefined();
      const rate = await client.query(seedDiagnostics[9]!);
      expect(rate.rows).toEqual([{ success_rate: '100.00' }]);
    });
  });
});
