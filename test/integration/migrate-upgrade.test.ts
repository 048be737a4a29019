import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applySchema, migrationScript, migrationStatus } from '../../src/adapters/postgres/migrate.js';
import { describeMigration, loadMigrations } from '../../src/adapters/postgres/migration-files.js';
import { createTestDatabase, withClient, type TestDatabase } from '../support/database.js';
import { runCli } from './cli-run.js';
import { scenario } from './cli-operator-scenario.js';
import { openFixture } from './postgres-fixtures.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../fixtures');

/**
 * Every row of both tables, in a stable order, as text: what "nothing lost, nothing changed" compares.
 * `like`: an earlier snapshot whose columns alone are kept (later migrations add columns to rows).
 */
const snapshot = async (url: string, like?: Snapshot): Promise<Snapshot> => {
  const keep = (rows: Record<string, unknown>[], columns?: readonly string[]) =>
    rows.map((row) => JSON.stringify(columns === undefined ? row : Object.fromEntries(columns.map((column) => [column, row[column]]))));
  return withClient(url, async (client) => {
    const tasks = (await client.query('SELECT * FROM scheduled_tasks ORDER BY id')).rows;
    const events = (await client.query('SELECT * FROM task_events ORDER BY task_id, seq')).rows;
    return {
      columns: { tasks: like?.columns.tasks ?? Object.keys(tasks[0] ?? {}), events: like?.columns.events ?? Object.keys(events[0] ?? {}) },
      tasks: keep(tasks, like?.columns.tasks),
      events: keep(events, like?.columns.events),
    };
  });
};
interface Snapshot {
  readonly columns: { readonly tasks: readonly string[]; readonly events: readonly string[] };
  readonly tasks: readonly string[];
  readonly events: readonly string[];
}

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

  /**
   * The schema before migrations, holding tasks in every status with the histories a worker writes.
   * Today's worker writes them (in a database of today's schema), and they are copied over row for
   * row with the triggers off, as they would sit in a database the old worker filled.
   */
  const oldDatabaseWithHistory = async () => {
    const source = await openFixture(2);
    let rows: { tasks: unknown; events: unknown };
    try {
      const make = scenario(source.pool);
      await make.completed();
      await make.failed();
      await make.failed({ maxAttempts: 1 }, 'exhausted');
      await make.retrying();
      await make.running();
      await make.pending({ dueInSeconds: 3600 });
      const cancelled = await make.pending({ dueInSeconds: 3600 });
      expect((await runCli(['cancel', cancelled], { env: { DATABASE_URL: source.database.url } })).code).toBe(0);
      rows = await withClient(source.database.url, async (client) => ({
        tasks: (await client.query('SELECT json_agg(t) AS rows FROM scheduled_tasks AS t')).rows[0].rows,
        events: (await client.query('SELECT json_agg(e) AS rows FROM task_events AS e')).rows[0].rows,
      }));
    } finally {
      await source.close();
    }
    await withClient(database.url, async (client) => {
      await client.query(await readFile(join(fixtures, 'ddl-before-migrations.sql'), 'utf8'));
      await client.query('CREATE INDEX task_events_occurred_brin ON task_events USING brin (occurred_at)');
      await client.query(`SET session_replication_role = replica`);
      await client.query(`INSERT INTO scheduled_tasks SELECT * FROM json_populate_recordset(NULL::scheduled_tasks, $1)`, [
        JSON.stringify(rows.tasks),
      ]);
      // The 'scheduled' event as the old trigger wrote it: without the fields later migrations add to it.
      await client.query(
        `
        INSERT INTO task_events
        SELECT task_id, seq, event_type, worker_id, occurred_at,
               CASE WHEN event_type = 'scheduled' THEN data - 'task_uuid' - 'payload_sha256' ELSE data END
          FROM json_populate_recordset(NULL::task_events, $1)`,
        [JSON.stringify(rows.events)],
      );
      await client.query(`SELECT setval(pg_get_serial_sequence('scheduled_tasks', 'id'), (SELECT max(id) FROM scheduled_tasks))`);
    });
  };

  it('keeps every task and every event of every status across all migrations, and verify agrees', async () => {
    await oldDatabaseWithHistory();
    const before = await snapshot(database.url);
    expect(before.tasks).toHaveLength(7);
    expect(before.events.length).toBeGreaterThan(7);

    const first = await applySchema(database.url);
    expect(first.applied.map(describeMigration)).toEqual(loadMigrations().map(describeMigration));
    expect(await snapshot(database.url, before)).toEqual(before);
    const second = await applySchema(database.url);
    expect(second.applied).toEqual([]);
    expect(await snapshot(database.url, before)).toEqual(before);

    // An index a DBA added to the old table is kept, now on every partition.
    const indexed = await withClient(database.url, (client) =>
      client.query(`SELECT count(*)::int AS n FROM pg_indexes WHERE indexdef LIKE '%USING brin (occurred_at)%'`),
    );
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
    expect(await snapshot(database.url, before)).toEqual(before);
    expect((await applySchema(database.url)).applied).toEqual([]);
    // The same script again is refused by psql's first statement that conflicts, not applied twice.
    expect((await psql(database.url, script)).code).not.toBe(0);
    expect(await snapshot(database.url, before)).toEqual(before);
  });

  it('applies the CLI --dry-run output through psql on an empty database', async () => {
    const dryRun = await runCli(['migrate', '--dry-run'], { env: { DATABASE_URL: database.url } });
    expect(dryRun.code).toBe(0);
    expect(await psql(database.url, dryRun.stdout)).toEqual({ code: 0, stderr: '' });
    expect((await migrationStatus(database.url)).pending).toEqual([]);
  });
});
