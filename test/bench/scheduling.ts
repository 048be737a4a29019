import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as E from 'fp-ts/lib/Either.js';
import pg from 'pg';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createScheduler, type ScheduleRequest, type Scheduler } from '../../src/client/index.js';
import { createTestDatabase } from '../support/database.js';

/**
 * Scheduling from a service: the client's scheduleMany, schedule one at a time and from 50
 * concurrent callers, and the SQL function beside the plain INSERT it replaces. Tasks are due in a
 * day, so nothing claims them; no worker runs. One line each, tasks per second of wall time.
 */

const hook = (n: number): ScheduleRequest => ({
  type: 'http_callback',
  payload: { url: 'https://example.com/hook', data: { order: n } },
  in: '1d',
});

const rate = (tasks: number, ms: number) => ({ tasks, ms: Math.round(ms), tasks_per_sec: Math.round((tasks / ms) * 1000) });

const timed = async (run: () => Promise<unknown>): Promise<number> => {
  const start = performance.now();
  await run();
  return performance.now() - start;
};

const scheduled = async (result: Promise<E.Either<{ message: string }, unknown>>): Promise<void> => {
  const outcome = await result;
  if (E.isLeft(outcome)) throw new Error(outcome.left.message);
};

const sequentially = async (count: number, call: (n: number) => Promise<unknown>): Promise<void> => {
  for (let n = 0; n < count; n += 1) await call(n);
};

const concurrently = async (callers: number, count: number, call: (n: number) => Promise<unknown>): Promise<void> => {
  let next = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      for (let n = next++; n < count; n = next++) await call(n);
    }),
  );
};

export const runScheduling = async (print: (line: Record<string, unknown>) => void): Promise<void> => {
  const database = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: database.url, max: 50 });
  pool.on('error', () => undefined);
  try {
    await applySchema(database.url);
    const scheduler: Scheduler = createScheduler(pool);
    await scheduled(scheduler.schedule(hook(-1))); // connections and plans warm

    const many = Array.from({ length: 10_000 }, (_, n) => hook(n));
    print({ scenario: 'schedule-many', ...rate(10_000, await timed(() => scheduled(scheduler.scheduleMany(many)))) });
    const keyed = many.map((request, n) => ({ ...request, key: `many-${n}` }));
    print({ scenario: 'schedule-many', keys: true, ...rate(10_000, await timed(() => scheduled(scheduler.scheduleMany(keyed)))) });
    print({
      scenario: 'schedule-many',
      keys: 'all repeated',
      ...rate(10_000, await timed(() => scheduled(scheduler.scheduleMany(keyed)))),
    });

    print({
      scenario: 'schedule',
      callers: 1,
      ...rate(2_000, await timed(() => sequentially(2_000, (n) => scheduled(scheduler.schedule(hook(n)))))),
    });
    print({
      scenario: 'schedule',
      callers: 50,
      ...rate(5_000, await timed(() => concurrently(50, 5_000, (n) => scheduled(scheduler.schedule(hook(n)))))),
    });
    print({
      scenario: 'schedule',
      callers: 50,
      keys: true,
      ...rate(5_000, await timed(() => concurrently(50, 5_000, (n) => scheduled(scheduler.schedule({ ...hook(n), key: `one-${n}` }))))),
    });

    // The same task through SQL, one statement at a time on one connection, as another language would:
    // each on its own (a commit per task, what a service sees) and 300 in one transaction (the
    // statement's own cost). The kinds alternate over 5 rounds and the median is kept, so a change in
    // the machine's load in between weighs on all of them alike.
    const payload = JSON.stringify({ url: 'https://example.com/hook', data: { order: 1 } });
    const statements: Record<string, (db: pg.ClientBase, n: number) => Promise<unknown>> = {
      'plain INSERT': (db) =>
        db.query(`INSERT INTO scheduled_tasks (task_type, payload, execute_at) VALUES ('http_callback', $1, now() + interval '1 day')`, [
          payload,
        ]),
      at_worker_schedule: (db) => db.query(`SELECT at_worker_schedule('http_callback', $1, NULL, 3, NULL, interval '1 day')`, [payload]),
      'at_worker_schedule with a key': (db, n) =>
        db.query(`SELECT at_worker_schedule('http_callback', $1, NULL, 3, $2, interval '1 day')`, [payload, `sql-${randomUUID()}-${n}`]),
    };
    const client = await pool.connect();
    try {
      for (const transaction of [false, true]) {
        const rates = new Map<string, number[]>(Object.keys(statements).map((name) => [name, []]));
        for (let round = 0; round < 5; round += 1) {
          for (const [name, statement] of Object.entries(statements)) {
            const ms = await timed(async () => {
              if (transaction) await client.query('BEGIN');
              await sequentially(300, (n) => statement(client, n));
              if (transaction) await client.query('COMMIT');
            });
            rates.get(name)?.push(rate(300, ms).tasks_per_sec);
          }
        }
        for (const [name, values] of rates) {
          const median = [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
          print({
            scenario: 'schedule-sql',
            statement: name,
            commit: transaction ? 'one per 300' : 'each',
            rounds: 5,
            tasks_per_sec: median,
          });
        }
      }
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
    await database.drop();
  }
};
