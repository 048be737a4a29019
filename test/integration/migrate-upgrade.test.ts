import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applySchema, migrationScript, migrationStatus } from '../../src/adapters/postgres/migrate.js';
import { describeMigration, loadMigrations } from '../../src/adapters/postgres/migration-files.js';
import { closePool, createPostgresPool } from '../../src/adapters/postgres/pool.js';
import { createTestDatabase, withClient, type TestDatabase } from '../support/database.js';
import { runCli } from './cli-run.js';
import { scenario } from './cli-operator-scenario.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../fixtures');

/** Every row of both tables, in a stable order, as text: what "nothing lost, nothing changed" compares. */
const snapshot = (url: string) =>
  withClient(url, async (client) => ({
    tasks: (await client.query('SELECT * FROM scheduled_tasks ORDER BY id')).rows.map((row) => JSON.stringify(row)),
    events: (await client.query('SELECT * FROM task_events ORDER BY task_id, seq')).rows.map((row) => JSON.stringify(row)),
  }));

/** Runs `script` through the real psql binary, as a DBA would: stops at the first error. */
const psql = (url: string, script: string): Promise<{ code: number | null; stderr: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', '-'], {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning' },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
    child.stdin.end(script);
  });

describe('upgrading a database in use', () => {
  let database: TestDatabase;
  beforeEach(async () => {
    database = await createTestDatabase();
  });
  afterEach(async () => {
    await database.drop();
  });

  /** The schema before migrations, with tasks in every status and the histories the worker wrote. */
  const oldDatabaseWithHistory = async () => {
    await withClient(database.url, async (client) => {
      await client.query(await readFile(join(fixtures, 'ddl-before-migrations.sql'), 'utf8'));
      await client.query('CREATE INDEX task_events_occurred_brin ON task_events USING brin (occurred_at)');
    });
    const pool = await createPostgresPool(database.url, 2);
    try {
      const make = scenario(pool);
      const ids = {
        completed: await make.completed(),
        failed: await make.failed(),
        exhausted: await make.failed({ maxAttempts: 1 }, 'exhausted'),
        retrying: await make.retrying(),
        running: await make.running(),
        pending: await make.pending({ dueInSeconds: 3600 }),
        cancelled: await make.pending({ dueInSeconds: 3600 }),
      };
      // Cancelled as the worker of that schema did: the row and its event in one statement.
      await withClient(database.url, (client) =>
        client.query(`
          WITH t AS (UPDATE scheduled_tasks SET status = 'cancelled', updated_at = now(), event_seq = event_seq + 1
                      WHERE id = ${ids.cancelled} RETURNING id, event_seq)
          INSERT INTO task_events (task_id, seq, event_type) SELECT id, event_seq, 'cancelled' FROM t`),
      );
      return ids;
    } finally {
      await closePool(pool);
    }
  };

  it('keeps every task and every event of every status across all migrations, and verify agrees', async () => {
    await oldDatabaseWithHistory();
    const before = await snapshot(database.url);
    expect(before.tasks).toHaveLength(7);
    expect(before.events.length).toBeGreaterThan(7);

    const first = await applySchema(database.url);
    expect(first.applied.map(describeMigration)).toEqual(loadMigrations().map(describeMigration));
    expect(await snapshot(database.url)).toEqual(before);
    const second = await applySchema(database.url);
    expect(second.applied).toEqual([]);
    expect(await snapshot(database.url)).toEqual(before);

    // An index a DBA added to the old table is kept, now on every partition.
    const indexed = await withClient(database.url, (client) =>
      client.query(`SELECT count(*)::int AS n FROM pg_indexes WHERE indexdef LIKE '%USING brin (occurred_at)%'`));
    expect(indexed.rows[0].n).toBeGreaterThanOrEqual(4);
    const verify = await runCli(['verify'], { env: { DATABASE_URL: database.url } });
    expect(verify).toEqual({ code: 0, stdout: 'Verified 7 tasks: every row agrees with its history.\n', stderr: '' });
  });

  it('applies the --dry-run script through psql over the old schema, losing nothing, and the runner then finds nothing to do', async () => {
    await oldDatabaseWithHistory();
    const before = await snapshot(database.url);
    const script = migrationScript((await migrationStatus(database.url)).pending);
    const run = await psql(database.url, script);
    expect(run).toEqual({ code: 0, stderr: '' });
    expect((await migrationStatus(database.url)).pending).toEqual([]);
    expect(await snapshot(database.url)).toEqual(before);
    expect((await applySchema(database.url)).applied).toEqual([]);
    // The same script again is refused by psql's first statement that conflicts, not applied twice.
    expect((await psql(database.url, script)).code).not.toBe(0);
    expect(await snapshot(database.url)).toEqual(before);
  });

  it('applies the CLI --dry-run output through psql on an empty database', async () => {
    const dryRun = await runCli(['migrate', '--dry-run'], { env: { DATABASE_URL: database.url } });
    expect(dryRun.code).toBe(0);
    expect(await psql(database.url, dryRun.stdout)).toEqual({ code: 0, stderr: '' });
    expect((await migrationStatus(database.url)).pending).toEqual([]);
  });
});
