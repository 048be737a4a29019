import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createTestDatabase, withClient, type TestDatabase } from '../support/database.js';

const ROLES_SQL = readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), '../../sql/roles.sql'), 'utf8');

const HOOK = '{"url": "https://example.com/hook", "data": {"order": 42}}';

/**
 * at_worker_schedule, as a service in another language calls it: logged in as a member of the role
 * sql/roles.sql grants, with nothing but SQL. Roles are cluster-wide, so the names are unique per run.
 */
describe('at_worker_schedule under the least-privilege role', () => {
  const suffix = randomBytes(4).toString('hex');
  const group = `atw_sched_group_${suffix}`;
  const login = `atw_sched_login_${suffix}`;
  let database: TestDatabase;
  let app: pg.Client;

  const schedule = async (...args: unknown[]): Promise<string> =>
    (await app.query<{ id: string }>(`SELECT at_worker_schedule(${args.map((_, n) => `$${n + 1}`).join(', ')})::text AS id`, args)).rows[0]!.id;
  const failure = (promise: Promise<unknown>) => promise.then(() => ({ code: 'none', message: 'no error' }), (error: { code: string; message: string }) => error);

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    await withClient(database.url, async (owner) => {
      await owner.query(`SET at_worker.role = '${group}'; ${ROLES_SQL}; RESET at_worker.role`);
      await owner.query(`CREATE ROLE ${login} LOGIN PASSWORD 'pw' IN ROLE ${group}`);
      // As a hardened deployment would: only the grants of roles.sql let the role call the functions.
      await owner.query('REVOKE EXECUTE ON FUNCTION at_worker_schedule_many(jsonb) FROM PUBLIC');
      await owner.query('REVOKE EXECUTE ON FUNCTION at_worker_schedule(text, jsonb, timestamptz, integer, text, interval) FROM PUBLIC');
    });
    const url = new URL(database.url);
    url.username = login;
    url.password = 'pw';
    app = new pg.Client({ connectionString: url.toString() });
    await app.connect();
  });

  afterAll(async () => {
    await app?.end();
    await database.drop();
    await withClient(process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres', async (admin) => {
      await admin.query(`DROP ROLE IF EXISTS ${login}`);
      await admin.query(`DROP ROLE IF EXISTS ${group}`);
    });
  });

  it('schedules, returns the same id for the same key, and refuses the key with another payload naming the task', async () => {
    const id = await schedule('http_callback', HOOK, null, 5, 'order-42');
    expect(await schedule('http_callback', HOOK, null, 5, 'order-42', '10 minutes')).toBe(id);
    const conflict = await failure(schedule('http_callback', '{"url": "https://example.com/other", "data": {}}', null, 5, 'order-42'));
    expect(conflict).toEqual(expect.objectContaining({
      code: '23505', message: `at_worker_schedule: key "order-42" is task ${id}, scheduled with a different payload`,
    }));
    const rows = await app.query('SELECT max_attempts, idempotency_key FROM scheduled_tasks WHERE id = $1', [id]);
    expect(rows.rows).toEqual([{ max_attempts: 5, idempotency_key: 'order-42' }]);
    const events = await app.query('SELECT seq, event_type, data FROM task_events WHERE task_id = $1', [id]);
    expect(events.rows).toEqual([{ seq: 1, event_type: 'scheduled', data: expect.objectContaining({ key: 'order-42', max_attempts: 5 }) }]);
  });

  it('checks what SQL can: a known type, an object payload, a positive max_attempts, a key of 1 to 255 characters', async () => {
    expect(await failure(schedule('sms', '{}'))).toEqual(expect.objectContaining({
      code: '22023', message: 'at_worker_schedule: task_type: expected one of http_callback, rabbitmq, email, got "sms"',
    }));
    expect(await failure(schedule('email', '[1]'))).toEqual(expect.objectContaining({ message: 'at_worker_schedule: payload: expected an object, got array' }));
    expect(await failure(schedule('email', null))).toEqual(expect.objectContaining({ message: 'at_worker_schedule: payload: expected an object, got null' }));
    expect(await failure(schedule('email', '{}', null, 0))).toEqual(expect.objectContaining({ message: 'at_worker_schedule: max_attempts: expected a positive integer, got 0' }));
    expect(await failure(schedule('email', '{}', null, 3, ''))).toEqual(expect.objectContaining({ message: expect.stringMatching(/^at_worker_schedule: key: /) }));
    expect(await failure(schedule('email', '{}', null, 3, 'x'.repeat(256)))).toEqual(expect.objectContaining({ code: '22023' }));
  });

  it('compares an explicit time on a repeated key, and not a delay', async () => {
    const at = '2031-01-01T00:00:00Z';
    const id = await schedule('rabbitmq', '{"queue": "q", "message": 1}', at, 3, 'timed');
    expect(await schedule('rabbitmq', '{"queue": "q", "message": 1}', at, 3, 'timed')).toBe(id);
    expect(await failure(schedule('rabbitmq', '{"queue": "q", "message": 1}', '2031-01-01T00:00:01Z', 3, 'timed'))).toEqual(
      expect.objectContaining({ code: '23505', message: `at_worker_schedule: key "timed" is task ${id}, scheduled with a different execute_at` }),
    );
    const delayed = await schedule('rabbitmq', '{"queue": "q", "message": 2}', null, 3, 'delayed', '5 minutes');
    expect(await schedule('rabbitmq', '{"queue": "q", "message": 2}', null, 3, 'delayed', '7 minutes')).toBe(delayed);
  });

  it('leaves plain INSERTs as they were: no key, and a scheduled event without one', async () => {
    const inserted = await app.query<{ id: string }>(`INSERT INTO scheduled_tasks (task_type, payload) VALUES ('email', '{}') RETURNING id`);
    const id = inserted.rows[0]!.id;
    const event = await app.query('SELECT data FROM task_events WHERE task_id = $1', [id]);
    expect(Object.keys(event.rows[0].data).sort()).toEqual(['execute_at', 'max_attempts', 'task_type']);
  });
});
