import pg from 'pg';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createTestDatabase, DEFAULT_TEST_DATABASE_URL, type TestDatabase } from '../support/database.js';
import { percentile, sleep, withClient } from './harness.js';

/**
 * The storage scenarios of docs/storage.md, on a fresh database:
 *  - history: `events` events (5 per task, task ids 1.., made with generate_series), then 500
 *    look-ups of one random task's history, as `at-worker history` reads it;
 *  - drop: retention removes the first partition (1,000,000 task ids, 5,000,000 events) while four
 *    clients keep claiming and ending tasks of a later range; how long the DETACH step and the DROP
 *    take, how long any claim or end took meanwhile, and the longest lock wait seen in
 *    pg_stat_activity (polled every 2 ms).
 *
 * `phase` splits the run for a history too large to fill on a quiet machine: `fill` fills the
 * database named `database` and keeps it; `measure` then runs the look-ups and the drop on it and
 * drops it. `all` does both on a database of its own.
 */
export type StoragePhase = 'all' | 'fill' | 'measure';

export const runStorage = async (events: number, progress: (text: string) => void, phase: StoragePhase = 'all', databaseName?: string) => {
  const database = phase === 'all' || databaseName === undefined ? await createTestDatabase() : await namedDatabase(databaseName, phase);
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const tasks = Math.ceil(events / 5);
    if (phase === 'measure') return await measure(client, database.url, events, tasks, progress);
    await applySchema(database.url);
    await client.query(`SELECT setval(pg_get_serial_sequence('scheduled_tasks', 'id'), $1)`, [tasks]);
    await client.query('SELECT at_worker_history_prepare(1000000, 2)');
    progress(`storage: generating ${events.toLocaleString('en')} events for ${tasks.toLocaleString('en')} task ids`);
    const filled = Date.now();
    for (let first = 1; first <= tasks; first += 1_000_000) {
      await client.query(
        `
        INSERT INTO task_events (task_id, seq, event_type, worker_id, occurred_at, data)
        SELECT t, s, CASE s WHEN 1 THEN 'scheduled' WHEN 5 THEN 'completed' ELSE 'claimed' END, 'bench', now(),
               jsonb_build_object('attempt', s - 1, 'claim_token', gen_random_uuid())
          FROM generate_series($1::bigint, least($2::bigint, $1 + 999999)) AS t, generate_series(1, 5) AS s`,
        [first, tasks],
      );
    }
    await client.query('VACUUM ANALYZE task_events');
    const fillSeconds = Math.round((Date.now() - filled) / 1000);
    if (phase === 'fill') return { phase, database: databaseName, events, tasks, fill_seconds: fillSeconds };
    return { fill_seconds: fillSeconds, ...(await measure(client, database.url, events, tasks, progress)) };
  } finally {
    await client.end();
    if (phase !== 'fill') await database.drop();
  }
};

/** A database of the server TEST_DATABASE_URL names, by name: created for `fill`, expected for `measure`. */
const namedDatabase = async (name: string, phase: StoragePhase): Promise<TestDatabase> => {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`--storage-database takes a lower-case identifier (got "${name}")`);
  const adminUrl = process.env['TEST_DATABASE_URL'] ?? DEFAULT_TEST_DATABASE_URL;
  const drop = () => withClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined);
  const exists = await withClient(
    adminUrl,
    async (client) => (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1,
  );
  if (phase === 'fill') {
    if (exists) throw new Error(`database ${name} exists; drop it or measure it with --storage-phase=measure`);
    await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  } else if (!exists) throw new Error(`database ${name} does not exist; fill it first with --storage-phase=fill`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop };
};

const measure = async (client: pg.Client, url: string, events: number, tasks: number, progress: (text: string) => void) => {
  const sizes = (
    await client.query(`
      SELECT (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('task_events') WHERE isleaf)::float8 AS bytes,
             (SELECT count(*) FROM task_events_partitions WHERE detached_at IS NULL)::int AS partitions`)
  ).rows[0];

  progress('storage: 500 history look-ups of random tasks');
  await client.query({
    name: 'history',
    text: 'SELECT seq, event_type, worker_id, occurred_at, data FROM task_events WHERE task_id = $1 ORDER BY seq',
    values: [1],
  });
  const lookups: number[] = [];
  for (let n = 0; n < 500; n += 1) {
    const id = 1 + Math.floor(Math.random() * tasks);
    const started = performance.now();
    const result = await client.query({
      name: 'history',
      text: 'SELECT seq, event_type, worker_id, occurred_at, data FROM task_events WHERE task_id = $1 ORDER BY seq',
      values: [id],
    });
    lookups.push(performance.now() - started);
    if (result.rowCount !== 5) throw new Error(`task ${id}: ${result.rowCount} events instead of 5`);
  }

  progress('storage: dropping the first partition under a claim/end load');
  const load = startLoad(url);
  await sleep(2_000);
  const maintenancePid = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
  const watch = watchLockWaits(url, maintenancePid);
  const windowStart = performance.now();
  let detachMs: number;
  for (;;) {
    const started = performance.now();
    const step = (await client.query(`SELECT * FROM at_worker_history_retire('bench', '30 days', '90 days', 5000)`)).rows[0];
    if (step.partition_detached !== null) {
      detachMs = performance.now() - started;
      break;
    }
    if (!step.more) throw new Error('retention found nothing to detach');
  }
  const droppedAt = performance.now();
  const dropped = (await client.query('SELECT * FROM at_worker_history_drop_detached() AS name')).rows.map((row) => row.name);
  const dropMs = performance.now() - droppedAt;
  const windowEnd = performance.now();
  await sleep(1_000);
  const lockWaits = await watch.stop();
  const statements = await load.stop();
  const during = statements.filter((s) => s.end >= windowStart && s.start <= windowEnd).map((s) => s.end - s.start);
  const all = statements.map((s) => s.end - s.start);
  const round = (value: number | null) => (value === null ? null : Math.round(value * 10) / 10);
  return {
    events,
    tasks,
    task_events_bytes: sizes.bytes,
    bytes_per_event: Math.round(sizes.bytes / events),
    partitions: sizes.partitions,
    lookup_ms: { p50: round(percentile(lookups, 0.5)), p99: round(percentile(lookups, 0.99)), max: round(Math.max(...lookups)) },
    dropped,
    detach_step_ms: round(detachMs),
    drop_ms: round(dropMs),
    load_statements: all.length,
    load_ms: { p50: round(percentile(all, 0.5)), p99: round(percentile(all, 0.99)), max: round(Math.max(...all)) },
    load_during_detach_and_drop: { statements: during.length, max_ms: round(during.length === 0 ? null : Math.max(...during)) },
    max_lock_wait_ms: round(lockWaits.longest),
    max_lock_wait_ms_by_target: lockWaits.by,
  };
};

interface Timed {
  readonly start: number;
  readonly end: number;
}

/** Four clients, each: schedule 10 tasks due now, claim 10, end them completed (row and event), timed per statement. */
const startLoad = (url: string) => {
  let stopped = false;
  const statements: Timed[] = [];
  const loop = async (n: number) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      while (!stopped) {
        const time = async <T>(run: () => Promise<T>): Promise<T> => {
          const start = performance.now();
          const result = await run();
          statements.push({ start, end: performance.now() });
          return result;
        };
        await time(() =>
          client.query(`INSERT INTO scheduled_tasks (task_type, payload) SELECT 'http_callback', '{}' FROM generate_series(1, 10)`),
        );
        const claimed = await time(() => client.query<{ id: string }>(`SELECT id FROM at_worker_claim_due_tasks($1, 10)`, [`load-${n}`]));
        const ids = claimed.rows.map((row) => row.id);
        await time(() =>
          client.query(
            `
          WITH t AS (UPDATE scheduled_tasks SET status = 'completed', completed_at = now(), updated_at = now(), claim_token = NULL,
                            attempts = attempts + 1, event_seq = event_seq + 1
                      WHERE id = ANY ($1::bigint[]) RETURNING id, event_seq)
          INSERT INTO task_events (task_id, seq, event_type, worker_id, data)
          SELECT id, event_seq, 'completed', 'load', '{"attempt": 1}' FROM t`,
            [ids],
          ),
        );
      }
    } finally {
      await client.end();
    }
  };
  const loops = [1, 2, 3, 4].map(loop);
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      return statements;
    },
  };
};

/**
 * The longest wait on a heavyweight lock of any session of this database but `exceptPid` (the
 * maintenance session itself), polled every 2 ms: from the first poll that sees a statement waiting
 * to the last, plus one interval; overall and by what it waits for (a table, or a lock type such as
 * `object`, which is how commits that NOTIFY queue for the notification queue).
 */
const watchLockWaits = (url: string, exceptPid: number) => {
  let stopped = false;
  let longest = 0;
  const longestBy = new Map<string, number>();
  const firstSeen = new Map<string, number>();
  const done = withClient(url, async (client) => {
    while (!stopped) {
      const now = performance.now();
      const rows = (
        await client.query<{ pid: number; started: string; target: string }>(
          `
        SELECT a.pid, a.query_start::text AS started, coalesce(l.relation::regclass::text, l.locktype) AS target
          FROM pg_stat_activity AS a JOIN pg_locks AS l ON l.pid = a.pid AND NOT l.granted
         WHERE a.datname = current_database() AND a.wait_event_type = 'Lock' AND a.pid <> $1`,
          [exceptPid],
        )
      ).rows;
      for (const row of rows) {
        const key = `${row.pid}@${row.started}@${row.target}`;
        const first = firstSeen.get(key) ?? now;
        firstSeen.set(key, first);
        const waited = now - first + 2;
        longest = Math.max(longest, waited);
        longestBy.set(row.target, Math.max(longestBy.get(row.target) ?? 0, waited));
      }
      await sleep(2);
    }
  });
  return {
    stop: async () => {
      stopped = true;
      await done;
      return { longest, by: Object.fromEntries([...longestBy].map(([target, ms]) => [target, Math.round(ms * 10) / 10])) };
    },
  };
};

/**
 * task_events as before partitioning: one plain table with the same columns, key and guard, put in
 * the partitioned table's place (the trigger and the claim function find it by name).
 */
export const flattenHistory = (url: string): Promise<void> =>
  withClient(url, async (client) => {
    await client.query(`
      ALTER TABLE task_events RENAME TO task_events_partitioned;
      CREATE TABLE task_events (LIKE task_events_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS, PRIMARY KEY (task_id, seq));
      CREATE TRIGGER task_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON task_events
        FOR EACH STATEMENT EXECUTE FUNCTION task_events_reject_change();`);
  });
