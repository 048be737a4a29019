import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { errorMessage } from '../../src/shared/error-message.js';
import { createTestDatabase } from '../support/database.js';
import { adminUrl, percentile, sleep, startWorker, withClient, type Sink, type WorkerSettings } from './harness.js';

/** One task due `inMs` from the database's now, whose body carries its execute_at in epoch ms. */
const INSERT_ONE = `
  INSERT INTO scheduled_tasks (task_type, payload, execute_at)
  SELECT 'http_callback',
         jsonb_build_object('url', $1::text,
                            'data', jsonb_build_object('id', $2::int, 'due', floor(extract(epoch FROM at) * 1000)::bigint)),
         at
    FROM (SELECT now() + make_interval(secs => $3::float8 / 1000) AS at) AS due`;

/** A worker started on an empty fresh database and given time to go idle; `use` then feeds it. */
const withIdleWorker = async <T>(settings: WorkerSettings, use: (databaseUrl: string) => Promise<T>): Promise<T> => {
  const database = await createTestDatabase();
  let worker: ReturnType<typeof startWorker> | undefined;
  try {
    await applySchema(database.url);
    worker = startWorker(database.url, settings);
    await worker.started;
    // The first (empty) claim, the LISTEN connection and the JIT settle; from here on it is idle.
    await sleep(1500);
    return await use(database.url);
  } catch (error) {
    throw new Error(`${errorMessage(error)}\nworker log tail:\n${worker?.tail() ?? ''}`, { cause: error });
  } finally {
    await worker?.stop();
    await database.drop();
  }
};

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so every run schedules the same times. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

/**
 * `punctual`: tasks scheduled 1–6 s ahead, inserted one per statement at `perSecond` into an idle
 * worker; lateness = sink arrival − execute_at (ms), as the sink measures it.
 */
export const runPunctual = async (sink: Sink, settings: WorkerSettings, tasks = 1000, perSecond = 200) =>
  withIdleWorker(settings, async (url) => {
    await sink.reset();
    const next = random(42);
    const insertSeconds = await withClient(url, async (client) => {
      const start = Date.now();
      for (let n = 0; n < tasks; n += 1) {
        const slot = start + (n * 1000) / perSecond;
        if (slot > Date.now()) await sleep(slot - Date.now());
        await client.query(INSERT_ONE, [`${sink.url}/`, n + 1, 1000 + next() * 5000]);
      }
      return (Date.now() - start) / 1000;
    });
    const stats = await sink.waitForUnique(tasks, 30_000);
    return { tasks, inserted_per_sec: Math.round(tasks / insertSeconds), lateness_ms: stats.lateness, dupes: stats.dupes };
  });

/**
 * `immediate`: tasks inserted due now, one at a time with `gapMs` between them, into an idle worker.
 * pickup_ms is claim time − execute_at, from the database (locked_at, both by its clock); arrival_ms
 * adds the HTTP POST: sink arrival − execute_at.
 */
export const runImmediate = async (sink: Sink, settings: WorkerSettings, tasks = 200, gapMs = 25) =>
  withIdleWorker(settings, async (url) => {
    await sink.reset();
    await withClient(url, async (client) => {
      for (let n = 0; n < tasks; n += 1) {
        await client.query(INSERT_ONE, [`${sink.url}/`, n + 1, 0]);
        await sleep(gapMs);
      }
    });
    const stats = await sink.waitForUnique(tasks, 30_000);
    const pickups = await withClient(url, async (client) => {
      const result = await client.query<{ ms: number }>(
        `SELECT extract(epoch FROM locked_at - execute_at)::float8 * 1000 AS ms FROM scheduled_tasks WHERE locked_at IS NOT NULL`,
      );
      return result.rows.map((row) => row.ms);
    });
    const round = (value: number | null) => (value === null ? null : Math.round(value * 10) / 10);
    return {
      tasks,
      pickup_ms: { p50: round(percentile(pickups, 0.5)), p99: round(percentile(pickups, 0.99)), max: round(percentile(pickups, 1)) },
      arrival_ms: { p50: stats.lateness.p50, p99: stats.lateness.p99, max: stats.lateness.max },
      dupes: stats.dupes,
    };
  });

/**
 * `idle`: what an idle worker asks of the database, as transactions committed in its database
 * (pg_stat_database, read from the admin database so the reading itself is not counted), over
 * `seconds`. A poll is two statements: the claim (one function call) and the look-ahead for the
 * next due time.
 */
export const runIdle = async (settings: WorkerSettings, seconds = 20) =>
  withIdleWorker(settings, async (url) => {
    const name = new URL(url).pathname.slice(1);
    // A backend reports its counts at most once a second, and an idle one only after up to 10 s
    // (PGSTAT_IDLE_INTERVAL): wait that out, or start-up's migration lands inside the window.
    await sleep(11_000);
    const transactions = () =>
      withClient(adminUrl(), async (client) => {
        const result = await client.query<{ n: string }>(
          'SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1',
          [name],
        );
        return Number(result.rows[0]?.n ?? 0);
      });
    const before = await transactions();
    await sleep(seconds * 1000);
    const after = await transactions();
    return { seconds, transactions: after - before, queries_per_sec: Math.round(((after - before) / seconds) * 100) / 100 };
  });
