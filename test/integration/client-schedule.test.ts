import * as E from 'fp-ts/lib/Either.js';
import pg from 'pg';
import { createPool, sql, type DatabasePool } from 'slonik';
import { compareWithHistory } from '../../src/application/operator/compare-history.js';
import { createScheduler, type ScheduleRequest } from '../../src/client/index.js';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { freePort } from '../support/net.js';

const hook = (n: number | string) => ({ type: 'http_callback' as const, payload: { url: `https://example.com/hook/${n}`, data: { n } } });

const right = <A>(result: E.Either<{ message: string }, A>): A => {
  if (E.isLeft(result)) throw new Error(`expected a result, got: ${result.left.message}`);
  return result.right;
};

/**
 * The scheduling client against real PostgreSQL, on each kind of handle a service holds: a pg Pool,
 * a pg transaction client, a slonik pool and transaction (with slonik's own default type parsers),
 * and a connection string.
 */
describe('scheduling client', () => {
  let database: TestDatabase;
  let pool: pg.Pool;

  const count = async (table: 'scheduled_tasks' | 'task_events' | 'orders', where = 'true'): Promise<number> =>
    Number((await pool.query(`SELECT count(*) AS n FROM ${table} WHERE ${where}`)).rows[0].n);

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    pool = new pg.Pool({ connectionString: database.url, max: 25 });
    // An idle connection the server ends (a restart, an administrator) must not end the test process.
    pool.on('error', () => undefined);
    await pool.query('CREATE TABLE orders (id bigint PRIMARY KEY, total numeric NOT NULL)');
  });

  afterAll(async () => {
    await pool.end();
    await database.drop();
  });

  it('commits the task with the business write, and a rollback leaves no task, no event and no order', async () => {
    const [tasksBefore, eventsBefore] = [await count('scheduled_tasks'), await count('task_events')];
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('INSERT INTO orders (id, total) VALUES (1, 10)');
      const scheduled = right(await createScheduler(client).schedule({ ...hook('rolled-back'), key: 'order-1' }));
      expect(scheduled.created).toBe(true);
      await client.query('ROLLBACK');

      await client.query('BEGIN');
      await client.query('INSERT INTO orders (id, total) VALUES (2, 20)');
      const committed = right(await createScheduler(client).schedule({ ...hook('committed'), key: 'order-2' }));
      await client.query('COMMIT');
      expect(await count('scheduled_tasks', `id = ${committed.id}`)).toBe(1);
    } finally {
      client.release();
    }
    expect(await count('orders')).toBe(1);
    expect(await count('scheduled_tasks')).toBe(tasksBefore + 1);
    expect(await count('task_events')).toBe(eventsBefore + 1);
    expect(await count('scheduled_tasks', `idempotency_key = 'order-1'`)).toBe(0);
  });

  it('gives 20 concurrent callers with one key the one task, with no error and no duplicate', async () => {
    const request = { ...hook('race'), key: 'race-key', in: '1h' } as const;
    const results = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          const result = await createScheduler(client).schedule(request);
          // Hold the transaction open a moment, so the others meet an uncommitted key.
          await new Promise((done) => setTimeout(done, 50));
          await client.query('COMMIT');
          return result;
        } finally {
          client.release();
        }
      }),
    );
    const scheduled = results.map(right);
    expect(new Set(scheduled.map((task) => task.id)).size).toBe(1);
    expect(scheduled.filter((task) => task.created)).toHaveLength(1);
    expect(await count('scheduled_tasks', `idempotency_key = 'race-key'`)).toBe(1);
    expect(await count('task_events', `task_id = ${scheduled[0]?.id}`)).toBe(1);
  });

  it('returns the existing task for a repeated key and writes nothing; refuses the key with other contents', async () => {
    const scheduler = createScheduler(pool);
    const at = new Date(Date.now() + 3_600_000);
    const first = right(await scheduler.schedule({ ...hook('k'), key: 'order-7', at }));
    const tasks = await count('scheduled_tasks');
    const events = await count('task_events');

    expect(right(await scheduler.schedule({ ...hook('k'), key: 'order-7', at }))).toEqual({ id: first.id, created: false });
    // The payload's key order does not matter: jsonb compares values.
    expect(
      right(
        await scheduler.schedule({
          type: 'http_callback',
          payload: { data: { n: 'k' }, url: 'https://example.com/hook/k' },
          key: 'order-7',
          at,
        }),
      ).id,
    ).toBe(first.id);

    const otherPayload = await scheduler.schedule({ ...hook('other'), key: 'order-7', at });
    expect(otherPayload).toEqual(
      E.left(
        expect.objectContaining({
          _tag: 'KeyConflict',
          key: 'order-7',
          existingId: first.id,
          differs: ['payload'],
          message: `key "order-7" is task ${first.id}, scheduled with a different payload`,
        }),
      ),
    );
    const otherTime = await scheduler.schedule({ ...hook('k'), key: 'order-7', at: new Date(at.getTime() + 1000) });
    expect(otherTime).toEqual(E.left(expect.objectContaining({ _tag: 'KeyConflict', differs: ['execute_at'] })));
    const otherType = await scheduler.schedule({ type: 'rabbitmq', payload: { queue: 'orders', message: {} }, key: 'order-7', at });
    expect(otherType).toEqual(E.left(expect.objectContaining({ _tag: 'KeyConflict', differs: ['task_type', 'payload'] })));
    expect([await count('scheduled_tasks'), await count('task_events')]).toEqual([tasks, events]);
  });

  it("refuses a payload its executor would refuse, with the CLI's message, before writing anything", async () => {
    const tasks = await count('scheduled_tasks');
    const scheduler = createScheduler(pool);
    const wrong = { type: 'http_callback', payload: { data: {} } } as unknown as ScheduleRequest;
    expect(await scheduler.schedule(wrong)).toEqual(
      E.left({ _tag: 'Refused', index: 0, message: 'invalid payload: payload.url: expected an absolute http(s) URL, got nothing' }),
    );
    const typo = {
      type: 'http_callback',
      payload: { url: 'https://example.com/hook', data: {}, header: {} },
    } as unknown as ScheduleRequest;
    expect(await scheduler.schedule(typo)).toEqual(
      E.left(
        expect.objectContaining({ message: expect.stringContaining('payload has an unknown key "header" (did you mean "headers"?)') }),
      ),
    );
    const batch = await scheduler.scheduleMany([hook(1), { type: 'email', payload: { to: 'nobody', subject: 'x', text: 'y' } }]);
    expect(E.isLeft(batch) && batch.left).toEqual(expect.objectContaining({ _tag: 'Refused', index: 1 }));
    expect(E.isLeft(batch) && batch.left.message).toMatch(/^tasks\[1\]: invalid payload: payload\.to: /);
    expect(await scheduler.schedule({ ...hook(1), maxAttempts: 0 })).toEqual(
      E.left({ _tag: 'Refused', index: 0, message: 'maxAttempts: expected a positive integer, got "0"' }),
    );
    expect(await scheduler.schedule({ ...hook(1), key: '' })).toEqual(
      E.left(expect.objectContaining({ _tag: 'Refused', message: expect.stringMatching(/^key: /) })),
    );
    const twice = await scheduler.scheduleMany([{ ...hook(1), key: 'twice' }, hook(2), { ...hook(3), key: 'twice' }]);
    expect(twice).toEqual(
      E.left({ _tag: 'Refused', index: 2, message: `tasks[2]: key "twice" is also tasks[0]'s, with a different request` }),
    );
    expect(await count('scheduled_tasks')).toBe(tasks);
    const sameTwice = right(
      await scheduler.scheduleMany([
        { ...hook(1), key: 'same-twice' },
        { ...hook(1), key: 'same-twice' },
      ]),
    );
    expect(sameTwice[1]).toEqual({ id: sameTwice[0]?.id, created: false });
  });

  it('schedules thousands in one statement, in order, each with its scheduled event', async () => {
    const requests = Array.from({ length: 2_000 }, (_, n): ScheduleRequest => (n % 2 === 0 ? { ...hook(n), key: `batch-${n}` } : hook(n)));
    const scheduled = right(await createScheduler(pool).scheduleMany(requests));
    expect(scheduled).toHaveLength(2_000);
    expect(scheduled.every((task) => task.created)).toBe(true);
    const rows = await pool.query<{ id: string; n: string }>(
      `SELECT id::text, payload->'data'->>'n' AS n FROM scheduled_tasks WHERE id = ANY($1::bigint[])`,
      [scheduled.map((task) => task.id)],
    );
    expect(new Map(rows.rows.map((row) => [row.id, Number(row.n)]))).toEqual(new Map(scheduled.map((task, n) => [task.id, n])));
    expect(await count('task_events', `task_id = ANY(ARRAY[${scheduled.map((task) => task.id).join(',')}]::bigint[])`)).toBe(2_000);
    // Again: every keyed one is found, every unkeyed one is new.
    const again = right(await createScheduler(pool).scheduleMany(requests));
    expect(again.filter((task, n) => n % 2 === 0).map((task) => task.id)).toEqual(
      scheduled.filter((_, n) => n % 2 === 0).map((task) => task.id),
    );
    expect(again.filter((task) => task.created)).toHaveLength(1_000);
  });

  it("works on a slonik pool and transaction, with slonik's default type parsers", async () => {
    const slonik: DatabasePool = await createPool(database.url);
    try {
      await expect(
        slonik.transaction(async (tx) => {
          await tx.query(sql.unsafe`INSERT INTO orders (id, total) VALUES (30, 1)`);
          right(await createScheduler(tx).schedule({ ...hook(30), key: 'slonik-rolled-back' }));
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await count('scheduled_tasks', `idempotency_key = 'slonik-rolled-back'`)).toBe(0);
      expect(await count('orders', 'id = 30')).toBe(0);

      const id = await slonik.transaction(async (tx) => {
        await tx.query(sql.unsafe`INSERT INTO orders (id, total) VALUES (31, 1)`);
        return right(await createScheduler(tx).schedule({ ...hook(31), key: 'slonik-31' })).id;
      });
      const view = right(await createScheduler(slonik).get({ key: 'slonik-31' }));
      expect(view).toEqual(expect.objectContaining({ id, key: 'slonik-31', task: expect.objectContaining({ status: 'pending', id }) }));
      expect(view.task?.executeAt).toBeInstanceOf(Date);
    } finally {
      await slonik.end();
    }
  });

  it('from a connection string: get and cancel by id or key, recorded as the CLI records a cancel', async () => {
    const scheduler = createScheduler(database.url);
    try {
      const { id } = right(await scheduler.schedule({ ...hook('cancel'), key: 'to-cancel', in: 3_600_000 }));
      const pending = right(await scheduler.get({ id }));
      expect(pending.task?.status).toBe('pending');
      expect(pending.history).toEqual([
        expect.objectContaining({
          _tag: 'Decoded',
          seq: 1,
          event: expect.objectContaining({ type: 'scheduled', key: 'to-cancel', maxAttempts: 3 }),
        }),
      ]);

      const cancelled = right(await scheduler.cancel({ key: 'to-cancel' }));
      expect(cancelled.task?.status).toBe('cancelled');
      expect(cancelled.history.map((entry) => entry._tag === 'Decoded' && entry.event.type)).toEqual(['scheduled', 'cancelled']);
      // The row and its history agree, as `at-worker verify` checks them.
      expect(compareWithHistory(cancelled.task!, cancelled.history)).toEqual([]);

      expect(await scheduler.cancel({ id })).toEqual(E.left(expect.objectContaining({ _tag: 'CancelRefused', id })));
      expect(await scheduler.get({ key: 'nobody-has-this' })).toEqual(E.left(expect.objectContaining({ _tag: 'TaskNotFound' })));
      expect(await scheduler.get({ id: '987654321' })).toEqual(E.left({ _tag: 'TaskNotFound', message: 'task 987654321 not found' }));
    } finally {
      await scheduler.close();
    }
  });

  it('tells an unavailable database from one that refuses the statement, as values', async () => {
    const nothingListens = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
    const down = createScheduler(nothingListens);
    const empty = await createTestDatabase();
    const unmigrated = createScheduler(empty.url);
    try {
      expect(await down.schedule(hook('down'))).toEqual(
        E.left(expect.objectContaining({ _tag: 'DatabaseUnavailable', message: expect.stringMatching(/^database unavailable: /) })),
      );
      // No migrations applied: at_worker_schedule_many does not exist (42883).
      expect(await unmigrated.schedule(hook('no schema'))).toEqual(
        E.left(expect.objectContaining({ _tag: 'DatabaseFailed', code: '42883' })),
      );
    } finally {
      await down.close();
      await unmigrated.close();
      await empty.drop();
    }
  });
});
