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
 * at_worker_schedule, as a service in another language calls it: logged in as a member of the
 * producer role sql/roles.sql creates (no right on task_events, INSERT of a new task's own columns
 * only), with nothing but SQL. Roles are cluster-wide, so the names are unique per run.
 */
describe('at_worker_schedule under the least-privilege role', () => {
  const suffix = randomBytes(4).toString('hex');
  const worker = `atw_sched_worker_${suffix}`;
  const producer = `atw_sched_producer_${suffix}`;
  const login = `atw_sched_login_${suffix}`;
  const outsider = `atw_sched_outsider_${suffix}`;
  let database: TestDatabase;
  let app: pg.Client;

  const connectAs = async (role: string): Promise<pg.Client> => {
    const url = new URL(database.url);
    url.username = role;
    url.password = 'pw';
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    return client;
  };

  const schedule = async (...args: unknown[]): Promise<string> =>
    (await app.query<{ id: string }>(`SELECT at_worker_schedule(${args.map((_, n) => `$${n + 1}`).join(', ')})::text AS id`, args)).rows[0]!
      .id;
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => ({ code: 'none', message: 'no error' }),
      (error: { code: string; message: string }) => error,
    );

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    await withClient(database.url, async (owner) => {
      await owner.query(
        `SET at_worker.role = '${worker}'; SET at_worker.producer_role = '${producer}'; ${ROLES_SQL};
         RESET at_worker.role; RESET at_worker.producer_role`,
      );
      await owner.query(`CREATE ROLE ${login} LOGIN PASSWORD 'pw' IN ROLE ${producer}`);
      await owner.query(`CREATE ROLE ${outsider} LOGIN PASSWORD 'pw'`);
    });
    app = await connectAs(login);
  });

  afterAll(async () => {
    await app?.end();
    await database.drop();
    await withClient(process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres', async (admin) => {
      for (const role of [login, outsider, producer, worker]) await admin.query(`DROP ROLE IF EXISTS ${role}`);
    });
  });

  it('schedules, returns the same id for the same key, and refuses the key with another payload naming the task', async () => {
    const id = await schedule('http_callback', HOOK, null, 5, 'order-42');
    expect(await schedule('http_callback', HOOK, null, 5, 'order-42', '10 minutes')).toBe(id);
    const conflict = await failure(schedule('http_callback', '{"url": "https://example.com/other", "data": {}}', null, 5, 'order-42'));
    expect(conflict).toEqual(
      expect.objectContaining({
        code: '23505',
        message: `at_worker_schedule: key "order-42" is task ${id}, scheduled with a different payload`,
      }),
    );
    const rows = await app.query('SELECT max_attempts, idempotency_key FROM scheduled_tasks WHERE id = $1', [id]);
    expect(rows.rows).toEqual([{ max_attempts: 5, idempotency_key: 'order-42' }]);
    const events = await withClient(database.url, (owner) =>
      owner.query('SELECT seq, event_type, data FROM task_events WHERE task_id = $1', [id]),
    );
    expect(events.rows).toEqual([{ seq: 1, event_type: 'scheduled', data: expect.objectContaining({ key: 'order-42', max_attempts: 5 }) }]);
  });

  it('is refused to a role sql/roles.sql did not grant it to, and the producer still cannot write history or a key by hand', async () => {
    const stranger = await connectAs(outsider);
    try {
      expect(await failure(stranger.query(`SELECT at_worker_schedule('email', '{}')`))).toEqual(
        expect.objectContaining({ code: '42501', message: 'permission denied for function at_worker_schedule' }),
      );
    } finally {
      await stranger.end();
    }
    expect(
      await failure(app.query(`INSERT INTO scheduled_tasks (task_type, payload, idempotency_key) VALUES ('email', '{}', 'by-hand')`)),
    ).toEqual(expect.objectContaining({ code: '42501' }));
    expect(await failure(app.query('SELECT * FROM task_events'))).toEqual(expect.objectContaining({ code: '42501' }));
  });

  it('checks what SQL can: a known type, an object payload, a positive max_attempts, a key of 1 to 255 characters', async () => {
    expect(await failure(schedule('sms', '{}'))).toEqual(
      expect.objectContaining({
        code: '22023',
        message: 'at_worker_schedule: task_type: expected one of http_callback, rabbitmq, email, got "sms"',
      }),
    );
    expect(await failure(schedule('email', '[1]'))).toEqual(
      expect.objectContaining({ message: 'at_worker_schedule: payload: expected an object, got array' }),
    );
    expect(await failure(schedule('email', null))).toEqual(
      expect.objectContaining({ message: 'at_worker_schedule: payload: expected an object, got null' }),
    );
    expect(await failure(schedule('email', '{}', null, 0))).toEqual(
      expect.objectContaining({ message: 'at_worker_schedule: max_attempts: expected a positive integer, got 0' }),
    );
    expect(await failure(schedule('email', '{}', null, 3, ''))).toEqual(
      expect.objectContaining({ message: expect.stringMatching(/^at_worker_schedule: key: /) }),
    );
    expect(await failure(schedule('email', '{}', null, 3, 'x'.repeat(256)))).toEqual(expect.objectContaining({ code: '22023' }));
    // A value of the wrong JSON type is named, not cast (a cast would fail with a message naming nothing).
    const many = (task: object) => app.query('SELECT * FROM at_worker_schedule_many($1)', [JSON.stringify([task])]);
    expect(await failure(many({ task_type: 'email', payload: {}, delay_ms: 'soon' }))).toEqual(
      expect.objectContaining({
        code: '22023',
        message: 'at_worker_schedule: delay_ms: expected a number of milliseconds, at least 0, got "soon"',
      }),
    );
    expect(await failure(many({ task_type: 'email', payload: {}, max_attempts: '3' }))).toEqual(
      expect.objectContaining({ code: '22023', message: 'at_worker_schedule: max_attempts: expected a positive integer, got "3"' }),
    );
  });

  it('refuses one key twice in a call with different contents, naming neither as an existing task', async () => {
    const tasks = JSON.stringify([
      { task_type: 'email', payload: { n: 1 }, key: 'dup' },
      { task_type: 'email', payload: { n: 2 }, key: 'dup' },
    ]);
    expect(await failure(app.query('SELECT * FROM at_worker_schedule_many($1)', [tasks]))).toEqual(
      expect.objectContaining({
        code: '22023',
        message: `at_worker_schedule: task 2: key "dup" is also an earlier task's in this call, with a different payload`,
      }),
    );
  });

  it('compares an explicit time on a repeated key, and not a delay', async () => {
    const at = '2031-01-01T00:00:00Z';
    const id = await schedule('rabbitmq', '{"queue": "q", "message": 1}', at, 3, 'timed');
    expect(await schedule('rabbitmq', '{"queue": "q", "message": 1}', at, 3, 'timed')).toBe(id);
    expect(await failure(schedule('rabbitmq', '{"queue": "q", "message": 1}', '2031-01-01T00:00:01Z', 3, 'timed'))).toEqual(
      expect.objectContaining({
        code: '23505',
        message: `at_worker_schedule: key "timed" is task ${id}, scheduled with a different execute_at`,
      }),
    );
    const delayed = await schedule('rabbitmq', '{"queue": "q", "message": 2}', null, 3, 'delayed', '5 minutes');
    expect(await schedule('rabbitmq', '{"queue": "q", "message": 2}', null, 3, 'delayed', '7 minutes')).toBe(delayed);
  });

  it('leaves plain INSERTs as they were: no key, and a scheduled event without one', async () => {
    const inserted = await app.query<{ id: string }>(
      `INSERT INTO scheduled_tasks (task_type, payload) VALUES ('email', '{}') RETURNING id`,
    );
    const id = inserted.rows[0]!.id;
    const event = await withClient(database.url, (owner) => owner.query('SELECT data FROM task_events WHERE task_id = $1', [id]));
    expect(Object.keys(event.rows[0].data).sort()).toEqual(['execute_at', 'max_attempts', 'payload_sha256', 'task_type', 'task_uuid']);
  });
});
