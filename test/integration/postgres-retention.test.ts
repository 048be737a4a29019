import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { sql } from 'slonik';
import type { RetentionPolicy } from '../../src/application/history-maintenance.js';
import { createPrometheusMetrics } from '../../src/adapters/observability/prometheus-metrics.js';
import { autovacuumWarning, readStorageHealth } from '../../src/adapters/postgres/storage-health.js';
import { createHistoryMaintenanceStore } from '../../src/adapters/postgres/history-maintenance.js';
import { closePool, createPostgresPool } from '../../src/adapters/postgres/pool.js';
import { DEFAULT_TEST_DATABASE_URL, withClient } from '../support/database.js';
import { runCli } from './cli-run.js';
import { scenario } from './cli-operator-scenario.js';
import { openFixture, type Fixture } from './postgres-fixtures.js';

const ROLES_SQL = readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), '../../sql/roles.sql'), 'utf8');
const DAY = 86_400_000;
const POLICY: RetentionPolicy = { finishedMs: 30 * DAY, failedMs: 90 * DAY };
// Small partitions, so a test fills several: ranges of 10 task ids.
const PARTITION = 10;

describe('partitioned history and retention', () => {
  let fixture: Fixture;
  beforeEach(async () => {
    fixture = await openFixture();
    // Past the partitions the migration made (1,000,000 ids each), then small ones from there.
    await fixture.pool.query(sql.unsafe`SELECT setval(pg_get_serial_sequence('scheduled_tasks', 'id'), 2000000)`);
    await fixture.pool.query(sql.unsafe`SELECT at_worker_history_prepare(${PARTITION}, 6)`);
  });
  afterEach(async () => {
    await fixture.close();
  });

  const query = (text: string) => withClient(fixture.database.url, async (client) => (await client.query(text)).rows);
  const ended = (ids: readonly string[], daysAgo: number) =>
    query(`UPDATE scheduled_tasks SET updated_at = now() - interval '${daysAgo} days' WHERE id IN (${ids.join(',')})`);
  const existing = async (ids: readonly string[]) =>
    (await query(`SELECT id FROM scheduled_tasks WHERE id IN (${ids.join(',')}) ORDER BY id`)).map((row) => String(row['id']));
  const eventCount = async (ids: readonly string[]) =>
    Number((await query(`SELECT count(*) AS n FROM task_events WHERE task_id IN (${ids.join(',')})`))[0]!['n']);
  const store = (pool = fixture.pool) =>
    createHistoryMaintenanceStore(pool, { partitionSize: PARTITION, partitionsAhead: 6, batchSize: 3 });

  it('routes every event to a partition, and the append-only guard holds on each of them', async () => {
    const make = scenario(fixture.pool);
    const id = await make.completed();
    const partitions = await query(`SELECT name FROM task_events_partitions WHERE detached_at IS NULL ORDER BY end_task_id`);
    expect(partitions.length).toBeGreaterThanOrEqual(8);
    for (const { name } of [...partitions, { name: 'task_events_default' }]) {
      for (const statement of [`UPDATE ${name} SET seq = seq`, `DELETE FROM ${name}`, `TRUNCATE ${name}`]) {
        await expect(query(statement)).rejects.toThrow(/task_events is append-only/);
      }
    }
    expect(await eventCount([id])).toBe(3);
    // An id far beyond every partition still gets its history (in the DEFAULT partition), and the
    // next pass starts its ranges above it.
    await query(`INSERT INTO scheduled_tasks (id, task_type, payload, status) VALUES (9000000, 'x', '{}', 'cancelled')`);
    expect(await query(`SELECT count(*)::int AS n FROM task_events_default`)).toEqual([{ n: 1 }]);
    await fixture.pool.query(sql.unsafe`SELECT setval(pg_get_serial_sequence('scheduled_tasks', 'id'), 9000000)`);
    await store().runPass('w', POLICY);
    const [newest] = await query(`SELECT first_task_id::int AS first FROM task_events_partitions ORDER BY end_task_id DESC LIMIT 1`);
    expect(Number(newest!['first'])).toBeGreaterThan(9000000);
  });

  it('removes expired finished tasks with their whole history, keeps live ones whole, and verify passes', async () => {
    const make = scenario(fixture.pool);
    // Range 1 (ids 2000001-2000010): expired tasks beside one scheduled 40 days ahead and one retried for weeks.
    const rangeOne = [await make.completed(), await make.completed(), await make.failed()];
    const longLived = await make.pending({ dueInSeconds: 40 * 86_400 });
    const retrying = await make.retrying();
    rangeOne.push(await make.completed());
    // Range 2: all finished and expired, so its partition is dropped whole.
    await query(`SELECT setval(pg_get_serial_sequence('scheduled_tasks', 'id'), 2000010)`);
    const rangeTwo = [];
    for (let n = 0; n < 10; n += 1) rangeTwo.push(await (n % 3 === 0 ? make.pending({ dueInSeconds: 60 }) : make.completed()));
    await query(`UPDATE scheduled_tasks SET status = 'cancelled' WHERE id IN (${rangeTwo.filter((_, n) => n % 3 === 0).join(',')})`);
    // Range 3: a failed task 31 days old (failed ones are kept 90 days) and a young completed one.
    await query(`SELECT setval(pg_get_serial_sequence('scheduled_tasks', 'id'), 2000020)`);
    const failedKept = await make.failed();
    const young = await make.completed();

    await ended([...rangeOne, ...rangeTwo, failedKept], 31);
    await query(`UPDATE scheduled_tasks SET updated_at = now() - interval '31 days' WHERE id = ${rangeOne[2]} AND status = 'failed'`);
    await ended([rangeOne[2]!], 91);
    const keptEvents = await eventCount([longLived, retrying, failedKept, young]);

    for (let pass = 0; pass < 3; pass += 1) await store().runPass('worker-r', POLICY);

    expect(await existing([...rangeOne, ...rangeTwo])).toEqual([]);
    expect(await eventCount([...rangeOne, ...rangeTwo])).toBe(0);
    expect(await existing([longLived, retrying, failedKept, young])).toEqual([longLived, retrying, failedKept, young]);
    expect(await eventCount([longLived, retrying, failedKept, young])).toBe(keptEvents);
    const dropped = await query(`SELECT name FROM task_events_partitions WHERE dropped_at IS NOT NULL AND first_task_id = 2000011`);
    expect(dropped).toHaveLength(1);
    expect(await query(`SELECT to_regclass('${String(dropped[0]!['name'])}') AS t`)).toEqual([{ t: null }]);
    // Recorded: by whom, how many, and which ids, so a missing task reads as removed by retention.
    const passes = await query(`SELECT worker_id, sum(tasks_removed)::int AS tasks, sum(events_removed)::int AS events
                                  FROM at_worker_retention_passes GROUP BY worker_id`);
    expect(passes).toEqual([{ worker_id: 'worker-r', tasks: 14, events: expect.any(Number) }]);
    expect(Number(passes[0]!['events'])).toBeGreaterThanOrEqual(14);
    for (const id of [...rangeOne, ...rangeTwo]) {
      expect(await query(`SELECT at_worker_removed_by_retention(${id}) AS r`)).toEqual([{ r: true }]);
    }
    expect(await query(`SELECT at_worker_removed_by_retention(${longLived}) AS r`)).toEqual([{ r: false }]);

    const verify = await runCli(['verify'], { env: { DATABASE_URL: fixture.database.url } });
    expect(verify).toEqual({ code: 0, stdout: 'Verified 4 tasks: every row agrees with its history.\n', stderr: '' });

    const stats = await runCli(['stats'], { env: { DATABASE_URL: fixture.database.url, TASK_RETENTION_FAILED: 'forever' } });
    expect(stats.stdout).toContain(
      'Storage and retention: completed and cancelled kept 30d, failed forever (TASK_RETENTION, TASK_RETENTION_FAILED)',
    );
    expect(stats.stdout).toMatch(new RegExp(`oldest kept: task ${longLived}, history since \\d{4}-`));
    expect(stats.stdout).toContain('removed by retention so far: 14 tasks,');
    expect(stats.stdout).toMatch(/last removal: \d{4}-\S+ .*by worker-r/);
  });

  it('removes expired tasks row by row from the range still being filled, beside young ones (a slow deployment)', async () => {
    const make = scenario(fixture.pool);
    const expired = [await make.completed(), await make.failed()];
    const young = await make.completed();
    await ended([expired[0]!], 31);
    await ended([expired[1]!], 91);
    await store().runPass('slow', POLICY);
    expect(await existing([...expired, young])).toEqual([young]);
    expect(await eventCount(expired)).toBe(0);
    expect(await eventCount([young])).toBe(3);
    expect(await query(`SELECT removed_ids FROM at_worker_retention_passes WHERE tasks_removed > 0`)).toEqual([{ removed_ids: expired }]);
    const verify = await runCli(['verify'], { env: { DATABASE_URL: fixture.database.url } });
    expect(verify).toEqual({ code: 0, stdout: 'Verified 1 task: every row agrees with its history.\n', stderr: '' });
  });

  it('lets three workers run maintenance at once: each task removed once, no deadlock, no missing partition', async () => {
    const make = scenario(fixture.pool);
    const doomed: string[] = [];
    for (let n = 0; n < 25; n += 1) doomed.push(await make.completed());
    await ended(doomed, 31);
    const pools = await Promise.all([1, 2, 3].map(() => createPostgresPool(fixture.database.url, 2)));
    try {
      for (let round = 0; round < 4; round += 1) {
        await Promise.all(pools.map((pool, n) => store(pool).runPass(`worker-${n}`, POLICY)));
        await make.completed(); // ids keep moving, so partitions ahead keep being needed
      }
    } finally {
      await Promise.all(pools.map(closePool));
    }
    expect(await existing(doomed)).toEqual([]);
    const [record] = await query(`SELECT sum(tasks_removed)::int AS tasks FROM at_worker_retention_passes`);
    expect(record).toEqual({ tasks: 25 });
    expect(await query(`SELECT count(*)::int AS n FROM task_events_default`)).toEqual([{ n: 0 }]);
    const [{ last }] = (await query(`SELECT at_worker_last_task_id() AS last`)) as [{ last: string }];
    const [{ covered }] = (await query(`SELECT max(end_task_id) AS covered FROM task_events_partitions WHERE detached_at IS NULL`)) as [
      { covered: string },
    ];
    expect(Number(covered)).toBeGreaterThan(Number(last) + PARTITION);
  });

  it('runs retention as the role of sql/roles.sql, which still cannot rewrite history', async () => {
    const suffix = randomBytes(4).toString('hex');
    const group = `atw_group_${suffix}`;
    const login = `atw_login_${suffix}`;
    const admin = (text: string) =>
      withClient(process.env['TEST_DATABASE_URL'] ?? DEFAULT_TEST_DATABASE_URL, (client) => client.query(text));
    await query(`SET at_worker.role = '${group}'; ${ROLES_SQL}; RESET at_worker.role`);
    await query(`CREATE ROLE ${login} LOGIN PASSWORD 'pw' IN ROLE ${group}`);
    const url = new URL(fixture.database.url);
    url.username = login;
    url.password = 'pw';
    const make = scenario(fixture.pool);
    const expired = [await make.completed(), await make.completed()];
    await query(`SELECT setval(pg_get_serial_sequence('scheduled_tasks', 'id'), 2000010)`);
    const kept = await make.completed();
    await ended(expired, 31);
    const asWorker = new pg.Client({ connectionString: url.toString() });
    await asWorker.connect();
    try {
      const pool = await createPostgresPool(url.toString(), 1);
      try {
        await store(pool).runPass('least', POLICY);
      } finally {
        await closePool(pool);
      }
      expect(await existing([...expired, kept])).toEqual([kept]);
      for (const statement of [
        `DELETE FROM task_events WHERE task_id = ${kept}`,
        `SET at_worker.removing_expired_history = 'on'; DELETE FROM task_events WHERE task_id = ${kept}`,
        `UPDATE task_events SET seq = seq WHERE task_id = ${kept}`,
        `TRUNCATE task_events`,
        `DELETE FROM scheduled_tasks WHERE id = ${kept}`,
        `SELECT at_worker_history_add_partition(5000000000, 5000000010)`,
        `ALTER TABLE task_events DETACH PARTITION task_events_default`,
      ]) {
        await expect(asWorker.query(statement)).rejects.toThrow(/permission denied|must be owner/);
      }
      expect(await eventCount([kept])).toBe(3);
    } finally {
      await asWorker.end();
      await fixture.close();
      fixture = await openFixture();
      await admin(`DROP ROLE IF EXISTS ${login}`);
      await admin(`DROP ROLE IF EXISTS ${group}`);
    }
  });

  it('exports what retention would remove as JSON Lines, one task with its events per line, and the archive restores it', async () => {
    const make = scenario(fixture.pool);
    const finished = [await make.completed(), await make.failed(), await make.completed()];
    const live = await make.pending({ dueInSeconds: 3600 });
    await query(`SELECT setval(pg_get_serial_sequence('scheduled_tasks', 'id'), 2000010)`);
    const young = await make.completed();
    await ended(finished, 31);
    await ended([finished[1]!], 91); // failed: kept 90 days
    const before = new Date(Date.now() - 30 * DAY);
    const rowsOf = async (ids: readonly string[]) => ({
      tasks: await query(`SELECT to_jsonb(s)::text AS j FROM scheduled_tasks AS s WHERE id IN (${ids.join(',')}) ORDER BY id`),
      events: await query(`SELECT to_jsonb(e)::text AS j FROM task_events AS e WHERE task_id IN (${ids.join(',')}) ORDER BY task_id, seq`),
    });
    const original = await rowsOf(finished);

    const exported = await runCli(['export', '--before', before.toISOString()], { env: { DATABASE_URL: fixture.database.url } });
    expect(exported).toMatchObject({ code: 0, stderr: '' });
    const lines = exported.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines.map((line) => String(JSON.parse(line).task.id))).toEqual(finished);
    expect(exported.stdout).not.toContain(`"id": ${live}`);
    expect(exported.stdout).not.toContain(`"id": ${young}`);

    await store().runPass('w', POLICY);
    expect(await existing([...finished, live, young])).toEqual([live, young]);
    // Restored from the archive alone, into tables of the same shape: the same rows, byte for byte.
    await query(`CREATE TABLE restored_tasks (LIKE scheduled_tasks); CREATE TABLE restored_events (LIKE task_events)`);
    await withClient(fixture.database.url, async (client) => {
      for (const line of lines) {
        await client.query(`INSERT INTO restored_tasks SELECT * FROM jsonb_populate_record(NULL::restored_tasks, ($1::jsonb)->'task')`, [
          line,
        ]);
        await client.query(
          `INSERT INTO restored_events SELECT * FROM jsonb_populate_recordset(NULL::restored_events, ($1::jsonb)->'events')`,
          [line],
        );
      }
    });
    expect({
      tasks: await query(`SELECT to_jsonb(s)::text AS j FROM restored_tasks AS s ORDER BY id`),
      events: await query(`SELECT to_jsonb(e)::text AS j FROM restored_events AS e ORDER BY task_id, seq`),
    }).toEqual(original);

    const refused = await runCli(['export', '--before', 'yesterday'], { env: { DATABASE_URL: fixture.database.url } });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^at-worker export: --before/);
  });

  it("reports autovacuum off for the server or a table, and the tables' sizes, as a warning and as gauges", async () => {
    await scenario(fixture.pool).completed();
    await query(`ALTER TABLE task_events_default SET (autovacuum_enabled = false)`);
    const health = await readStorageHealth(fixture.pool);
    const [{ autovacuum }] = (await query('SHOW autovacuum')) as [{ autovacuum: string }];
    expect(health.autovacuumServer).toBe(autovacuum === 'on');
    expect(health.autovacuumOffTables).toEqual(['task_events_default']);
    expect(autovacuumWarning(health)).toMatch(
      autovacuum === 'on' ? /^Autovacuum is off for task_events_default/ : /^Autovacuum is off on the PostgreSQL server/,
    );
    expect(autovacuumWarning({ autovacuumServer: true, autovacuumOffTables: [], tables: [] })).toBeNull();

    const { registry } = createPrometheusMetrics({ processMetrics: false, storageHealth: () => readStorageHealth(fixture.pool) });
    const text = await registry.metrics();
    expect(text).toContain(`at_worker_autovacuum_enabled{scope="server"} ${autovacuum === 'on' ? 1 : 0}`);
    expect(text).toContain('at_worker_autovacuum_enabled{scope="task_events_default"} 0');
    const bytes = (table: string) => Number(new RegExp(`at_worker_table_bytes{table="${table}"} (\\d+)`).exec(text)?.[1]);
    expect(bytes('scheduled_tasks')).toBeGreaterThan(8192);
    expect(bytes('task_events')).toBeGreaterThan(8192);
    expect(text).toMatch(/at_worker_table_rows{table="task_events"} \d+/);
  });
});
