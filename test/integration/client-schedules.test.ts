import * as E from 'fp-ts/lib/Either.js';
import pg from 'pg';
import { createPool, type DatabasePool } from 'slonik';
import { createScheduler, type Scheduler } from '../../src/client/index.js';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const right = <A>(result: E.Either<{ message: string }, A>): A => {
  if (E.isLeft(result)) throw new Error(`expected a result, got: ${result.left.message}`);
  return result.right;
};

const hook = { type: 'http_callback' as const, payload: { url: 'https://example.com/report', data: {} } };

/**
 * The client's recurring schedules against real PostgreSQL, on a pg Pool and on a slonik pool: the
 * same rows and schedule events as `at-worker schedules`, with the actor 'client'.
 */
describe('scheduling client: recurring schedules', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let slonik: DatabasePool;

  const rows = async (text: string, values: unknown[] = []): Promise<Record<string, unknown>[]> => (await pool.query(text, values)).rows;

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    pool = new pg.Pool({ connectionString: database.url, max: 5 });
    pool.on('error', () => undefined);
    slonik = await createPool(database.url, { maximumPoolSize: 3 });
  });

  afterAll(async () => {
    await slonik.end();
    await pool.end();
    await database.drop();
  });

  const lifecycle = async (scheduler: Scheduler, name: string): Promise<void> => {
    const added = right(await scheduler.schedules.add({ name, cron: '0 9 * * 1-5', tz: 'Europe/Berlin', ...hook, misfire: 'skip' }));
    expect(added).toMatchObject({ name, timeZone: 'Europe/Berlin', paused: false, misfire: { _tag: 'Skip' }, origin: 'cli' });
    expect(added.nextAt).toBeInstanceOf(Date);
    const again = await scheduler.schedules.add({ name, cron: '* * * * *', ...hook });
    expect(E.isLeft(again) && again.left._tag).toBe('ScheduleExists');
    expect(right(await scheduler.schedules.list()).map((s) => s.name)).toContain(name);

    // A task made ahead of time, as a pass would: pausing cancels it and counts it.
    const [ahead] = await rows(
      `INSERT INTO scheduled_tasks (task_type, payload, execute_at, max_attempts, schedule_id, schedule_name)
       SELECT task_type, payload, now() + interval '1 hour', max_attempts, id, name FROM schedules WHERE name = $1 RETURNING id`,
      [name],
    );
    expect(right(await scheduler.schedules.pause(name))).toEqual({ changed: true });
    expect(right(await scheduler.schedules.pause(name))).toEqual({ changed: false });
    expect((await rows('SELECT status FROM scheduled_tasks WHERE id = $1', [ahead?.['id']]))[0]?.['status']).toBe('cancelled');
    const paused = right(await scheduler.schedules.get(name));
    expect(paused.schedule?.paused).toBe(true);
    expect(paused.next).toEqual([]);

    expect(right(await scheduler.schedules.resume(name))).toEqual({ changed: true });
    const { taskId } = right(await scheduler.schedules.runNow(name));
    const view = right(await scheduler.schedules.get(name));
    expect(view.next).toHaveLength(5);
    // Weekdays at 09:00 in Berlin: 07:00 or 08:00 UTC, never a weekend.
    for (const at of view.next) {
      expect([7, 8]).toContain(at.getUTCHours());
      expect([0, 6]).not.toContain(at.getUTCDay());
    }
    expect(view.last).toEqual([
      expect.objectContaining({ taskId, occurrenceAt: null, status: 'pending' }),
      expect.objectContaining({ taskId: ahead?.['id'], status: 'cancelled' }),
    ]);

    right(await scheduler.schedules.remove(name));
    const removed = right(await scheduler.schedules.get(name));
    expect(removed.schedule).toBeNull();
    expect(E.isLeft(await scheduler.schedules.remove(name))).toBe(true);
    expect(await rows('SELECT id FROM scheduled_tasks WHERE id = $1', [taskId])).toHaveLength(1);

    const events = await rows('SELECT event_type, actor, data FROM schedule_events WHERE schedule_name = $1 ORDER BY id', [name]);
    expect(events.map((e) => `${String(e['event_type'])}/${String(e['actor'])}`)).toEqual([
      'created/client',
      'paused/client',
      'resumed/client',
      'run_now/client',
      'removed/client',
    ]);
    // The real number of tasks the pause cancelled, on either kind of pool.
    expect(events[1]?.['data']).toEqual({ cancelled_tasks: 1 });
    expect(removed.events.map((e) => e.eventType)).toEqual(['created', 'paused', 'resumed', 'run_now', 'removed']);
  };

  it('adds, lists, shows, pauses, resumes, runs now and removes on a pg Pool', async () => {
    await lifecycle(createScheduler(pool), 'report-pg');
  });

  it('does the same on a slonik pool', async () => {
    await lifecycle(createScheduler(slonik), 'report-slonik');
  });

  it('refuses a bad expression, zone, payload or policy with one line naming the field, and stores nothing', async () => {
    const scheduler = createScheduler(pool);
    const refusals = [
      await scheduler.schedules.add({ name: 'bad-cron', cron: '61 * * * *', ...hook }),
      await scheduler.schedules.add({ name: 'bad-zone', cron: '* * * * *', tz: 'Mars/Olympus', ...hook }),
      await scheduler.schedules.add({
        name: 'bad-payload',
        cron: '* * * * *',
        type: 'http_callback',
        payload: { url: 'not a url', data: {} },
      }),
      await scheduler.schedules.add({ name: 'bad-limit', cron: '* * * * *', ...hook, misfire: 'skip', misfireLimit: 3 }),
      await scheduler.schedules.add({ name: 'bad name', cron: '* * * * *', ...hook }),
    ].map((result) => (E.isLeft(result) ? result.left : null));
    expect(refusals.map((r) => r?._tag)).toEqual(Array(5).fill('ScheduleRefused'));
    const messages = refusals.map((r) => r?.message ?? '');
    expect(messages[0]).toMatch(/^cron: "61 \* \* \* \*" is not a valid cron expression/);
    expect(messages[1]).toMatch(/^tz: "Mars\/Olympus" is not an IANA time zone/);
    expect(messages[2]).toMatch(/^payload: /);
    expect(messages[3]).toBe('misfireLimit: only for misfire "all"');
    expect(messages[4]).toMatch(/^name: /);
    for (const message of messages) expect(message).not.toContain('\n');
    expect(await rows("SELECT name FROM schedules WHERE name LIKE 'bad%'")).toEqual([]);
    expect(await rows("SELECT id FROM schedule_events WHERE schedule_name LIKE 'bad%'")).toEqual([]);
  });

  it('on a pg transaction client, a schedule added commits or rolls back with the caller', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      right(await createScheduler(client).schedules.add({ name: 'rolled-back', cron: '* * * * *', ...hook }));
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      right(await createScheduler(client).schedules.add({ name: 'committed', cron: '* * * * *', ...hook }));
      await client.query('COMMIT');
      // Outside a transaction the client opens its own.
      right(await createScheduler(client).schedules.add({ name: 'own-transaction', cron: '* * * * *', ...hook }));
    } finally {
      client.release();
    }
    const names = (await rows("SELECT schedule_name FROM schedule_events WHERE event_type = 'created' ORDER BY id")).map(
      (r) => r['schedule_name'],
    );
    expect(names).toEqual(expect.arrayContaining(['committed', 'own-transaction']));
    expect(names).not.toContain('rolled-back');
    expect(await rows("SELECT name FROM schedules WHERE name = 'rolled-back'")).toEqual([]);
  });

  it('in a slonik transaction, a schedule added rolls back with the caller (a savepoint, not a commit of its own)', async () => {
    await expect(
      slonik.transaction(async (tx) => {
        right(await createScheduler(tx).schedules.add({ name: 'slonik-rolled-back', cron: '* * * * *', ...hook }));
        throw new Error('the caller fails after adding');
      }),
    ).rejects.toThrow('the caller fails after adding');
    expect(await rows("SELECT name FROM schedules WHERE name = 'slonik-rolled-back'")).toEqual([]);
    expect(await rows("SELECT id FROM schedule_events WHERE schedule_name = 'slonik-rolled-back'")).toEqual([]);
  });
});
