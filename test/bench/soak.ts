import * as E from 'fp-ts/lib/Either.js';
import { sql } from 'slonik';
import { verifyTasks } from '../../src/application/operator/verify-tasks.js';
import { createPostgresOperatorStore } from '../../src/adapters/postgres/operator-store.js';
import { createHistoryMaintenanceStore } from '../../src/adapters/postgres/history-maintenance.js';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { closePool, createPostgresPool } from '../../src/adapters/postgres/pool.js';
import { createPostgresTaskQueue } from '../../src/adapters/postgres/task-queue.js';
import { complete } from '../integration/postgres-fixtures.js';
import { createTestDatabase } from '../support/database.js';
import { percentile, sleep, withClient } from './harness.js';

export interface SoakOptions {
  readonly seconds: number;
  readonly rate: number;
}

/**
 * Steady load with retention and partitions shrunk to minutes: `rate` tasks/s scheduled due now,
 * claimed (batches of up to 50) and completed through the worker's own queue adapter, while a
 * maintenance pass (retention 60 s for every status, partitions of 30 s worth of ids) runs every
 * 5 s, as the worker's would. Every 10 s: rows and bytes of both tables. At the end: the claim and
 * end latencies per third, whether any task was lost or claimed twice, and verify's check of every row.
 * This server runs with autovacuum off, so the soak runs `VACUUM ANALYZE` every 30 s in its place.
 */
export const runSoak = async ({ seconds, rate }: SoakOptions, progress: (text: string) => void) => {
  const database = await createTestDatabase();
  await applySchema(database.url);
  const pool = await createPostgresPool(database.url, 8);
  const queue = createPostgresTaskQueue(pool, { endAttemptWindowMs: 0 });
  const partitionSize = Math.max(1000, rate * 30);
  const maintenance = createHistoryMaintenanceStore(pool, { partitionSize, batchSize: 2000 });
  // Past the two ranges of 1,000,000 ids the migration made, so the soak's tasks fill small ones.
  await pool.query(sql.unsafe`SELECT setval(pg_get_serial_sequence('scheduled_tasks', 'id'), 2000000)`);
  await pool.query(sql.unsafe`SELECT at_worker_history_prepare(${partitionSize}, 2)`);
  const started = Date.now();
  const until = started + seconds * 1000;
  const claims: { at: number; ms: number }[] = [];
  const ends: { at: number; ms: number }[] = [];
  const claimedIds = new Set<string>();
  let claimedTwice = 0;
  let scheduled = 0;
  const samples: { at: number; task_rows: number; event_rows: number; task_bytes: number; event_bytes: number }[] = [];
  const loops: Promise<void>[] = [];
  let removed = 0;

  // Producer: one INSERT of rate/10 tasks every 100 ms.
  loops.push(
    (async () => {
      for (let tick = 0; Date.now() < until; tick += 1) {
        const batch = Math.round(rate / 10);
        await pool.query(sql.unsafe`INSERT INTO scheduled_tasks (task_type, payload)
        SELECT 'http_callback', jsonb_build_object('url', 'http://127.0.0.1:9/hook', 'data', jsonb_build_object('n', n)) FROM generate_series(1, ${batch}) AS n`);
        scheduled += batch;
        await sleep(Math.max(0, started + (tick + 1) * 100 - Date.now()));
      }
    })(),
  );
  // Two consumers: claim, then end each claimed task completed, timing each call.
  for (let n = 0; n < 2; n += 1) {
    loops.push(
      (async () => {
        while (Date.now() < until + 5_000) {
          const claimStart = performance.now();
          const tasks = await queue.claimDueTasks(`soak-${n}`, 50);
          claims.push({ at: Date.now(), ms: performance.now() - claimStart });
          if (tasks.length === 0) {
            if (Date.now() > until) return;
            await sleep(20);
            continue;
          }
          for (const task of tasks) {
            if (claimedIds.has(task.id)) claimedTwice += 1;
            claimedIds.add(task.id);
          }
          await Promise.all(
            tasks.map(async (task) => {
              const endStart = performance.now();
              await queue.endAttempt(complete(task));
              ends.push({ at: Date.now(), ms: performance.now() - endStart });
            }),
          );
        }
      })(),
    );
  }
  loops.push(
    (async () => {
      while (Date.now() < until) {
        const report = await maintenance.runPass('soak-maintenance', { finishedMs: 60_000, failedMs: 60_000 });
        removed += report.tasksRemoved;
        await sleep(5_000);
      }
    })(),
  );
  loops.push(
    (async () => {
      for (let tick = 1; Date.now() < until; tick += 1) {
        await sleep(10_000);
        const row = await withClient(database.url, async (client) => {
          if (tick % 3 === 0) {
            await client.query('VACUUM ANALYZE scheduled_tasks');
            await client.query('VACUUM ANALYZE task_events');
          }
          return (
            await client.query(`
          SELECT (SELECT count(*) FROM scheduled_tasks)::float8 AS task_rows, (SELECT count(*) FROM task_events)::float8 AS event_rows,
                 pg_total_relation_size('scheduled_tasks')::float8 AS task_bytes,
                 (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('task_events') WHERE isleaf)::float8 AS event_bytes`)
          ).rows[0];
        });
        samples.push({ at: Math.round((Date.now() - started) / 1000), ...row });
        const megabytes = Math.round((row.task_bytes + row.event_bytes) / 2 ** 20);
        progress(`soak: ${samples.at(-1)!.at} s, ${row.task_rows} tasks, ${row.event_rows} events, ${megabytes} MB`);
      }
    })(),
  );
  await Promise.all(loops);

  const third = (seconds * 1000) / 3;
  const inThird = (items: { at: number; ms: number }[], k: number) =>
    items.filter((item) => item.at - started >= k * third && item.at - started < (k + 1) * third).map((item) => item.ms);
  const p99 = (values: number[]) => (values.length === 0 ? null : Math.round(percentile(values, 0.99)! * 10) / 10);
  const peak = (k: number, key: 'task_rows' | 'event_rows' | 'task_bytes' | 'event_bytes') =>
    Math.max(...samples.filter((s) => s.at * 1000 >= k * third && s.at * 1000 < (k + 1) * third).map((s) => s[key]));
  const plateau = Object.fromEntries(
    (['task_rows', 'event_rows', 'task_bytes', 'event_bytes'] as const).map((key) => [
      key,
      { middle_peak: peak(1, key), last_peak: peak(2, key), ratio: Math.round((peak(2, key) / peak(1, key)) * 100) / 100 },
    ]),
  );
  const pending = await pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM scheduled_tasks WHERE status <> 'completed'`);
  // `at-worker verify`'s own use case: every remaining row replayed against its history.
  const verified = await verifyTasks(createPostgresOperatorStore(pool))({ pageSize: 1000, onMismatch: () => undefined });
  const verify = E.isRight(verified) ? verified.right : null;
  await closePool(pool);
  await database.drop();
  return {
    seconds,
    rate,
    partition_size: partitionSize,
    retention_s: 60,
    scheduled,
    claimed: claimedIds.size,
    claimed_twice: claimedTwice,
    not_completed: pending,
    removed_by_retention: removed,
    claim_p99_ms: [0, 1, 2].map((k) => p99(inThird(claims, k))),
    end_p99_ms: [0, 1, 2].map((k) => p99(inThird(ends, k))),
    plateau,
    verify,
    samples,
  };
};
