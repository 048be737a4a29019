import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createTestDatabase, DEFAULT_TEST_DATABASE_URL, type TestDatabase } from '../support/database.js';
import { startReceiver, type Receiver } from '../support/http-receiver.js';
import { connectSql, type SqlClient } from '../support/tasks-sql.js';
import { FAST_ENV, spawnWorker, until, type WorkerProcess } from '../support/worker-process.js';

const ROLES_SQL = readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), '../../sql/roles.sql'), 'utf8');

/**
 * sql/roles.sql, applied as the DBA would: the worker runs as a login role in the at_worker group and
 * does its whole job (claim, deliver, retry, fail, recover a stuck task, append history), while the
 * server itself refuses that role anything that rewrites history, deletes tasks, or changes the schema.
 * Roles are cluster-wide, so this suite names its own (unique per run) and drops them afterwards.
 */
describe('least privilege: the worker as a member of the role sql/roles.sql creates', () => {
  const suffix = randomBytes(4).toString('hex');
  const group = `atw_group_${suffix}`;
  const login = `atw_login_${suffix}`;
  const producerGroup = `atw_producers_${suffix}`;
  const producer = `atw_producer_${suffix}`;
  const password = `pw-${suffix}`;
  let database: TestDatabase;
  let owner: SqlClient;
  let asWorker: pg.Client;
  let asProducer: pg.Client;
  let receiver: Receiver;
  let worker: WorkerProcess | undefined;

  const adminQuery = async (text: string) => {
    const admin = new pg.Client({ connectionString: process.env['TEST_DATABASE_URL'] ?? DEFAULT_TEST_DATABASE_URL });
    await admin.connect();
    try {
      await admin.query(text);
    } finally {
      await admin.end();
    }
  };
  const applyRoles = () =>
    owner.client.query(
      `SET at_worker.role = '${group}'; SET at_worker.producer_role = '${producerGroup}'; ${ROLES_SQL}; ` +
        'RESET at_worker.role; RESET at_worker.producer_role',
    );
  const connectAs = async (role: string) => {
    const url = new URL(database.url);
    url.username = role;
    url.password = password;
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    return client;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    owner = await connectSql(database.url);
    await applyRoles();
    // Idempotent: a second run changes nothing and does not fail.
    await applyRoles();
    await owner.client.query(`CREATE ROLE ${login} LOGIN PASSWORD '${password}' IN ROLE ${group}`);
    await owner.client.query(`CREATE ROLE ${producer} LOGIN PASSWORD '${password}' IN ROLE ${producerGroup}`);
    asWorker = await connectAs(login);
    asProducer = await connectAs(producer);
    receiver = await startReceiver({
      '/flaky': (_request, response, count) => void response.writeHead(count === 1 ? 503 : 200).end(),
      '/gone': (_request, response) => void response.writeHead(410).end('gone'),
    });
  });

  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await asWorker.end();
    await asProducer.end();
    await owner.close();
    await receiver.close();
    await database.drop();
    // The database (and every grant in it) is gone, so the roles have nothing left that holds them.
    for (const role of [login, group, producer, producerGroup]) await adminQuery(`DROP ROLE IF EXISTS ${role}`);
  });

  it('runs the whole task life cycle as that role, with DB_MIGRATE=false', async () => {
    const url = new URL(database.url);
    url.username = login;
    url.password = password;
    // A limit on every destination that never binds: its tables are written as this role too.
    worker = spawnWorker({
      ...FAST_ENV,
      LOG_LEVEL: 'info',
      DATABASE_URL: url.toString(),
      DB_MIGRATE: 'false',
      WORKER_ID: 'least',
      DESTINATION_LIMITS: '* in_flight=100 rate=1000',
    });
    await worker.waitForLog(/Started with polling interval/);

    // Scheduled by the same role with plain SQL: INSERT, the id sequence and the history trigger.
    const insert = async (path: string) =>
      (
        await asWorker.query<{ id: string }>(
          `INSERT INTO scheduled_tasks (task_type, payload) VALUES ('http_callback', $1::jsonb) RETURNING id`,
          [JSON.stringify({ url: receiver.url(path), data: { path } })],
        )
      ).rows[0]!.id;
    const ok = await insert('/ok');
    const flaky = await insert('/flaky');
    const gone = await insert('/gone');
    // Left in processing by a worker that died an hour ago: the cleaner (running as this role) takes it back.
    const orphan = (
      await owner.client.query<{ id: string }>(
        `INSERT INTO scheduled_tasks (task_type, payload, status, locked_by, claim_token, locked_at, heartbeat_at)
         VALUES ('http_callback', $1::jsonb, 'processing', 'dead-worker', gen_random_uuid(),
                 now() - interval '1 hour', now() - interval '1 hour')
         RETURNING id`,
        [JSON.stringify({ url: receiver.url('/orphan'), data: {} })],
      )
    ).rows[0]!.id;

    const settled = async () =>
      (await owner.client.query(`SELECT 1 FROM scheduled_tasks WHERE status IN ('pending', 'processing')`)).rowCount === 0;
    await until(settled, 20_000, 'every task settled');
    const rows = await owner.client.query<{ id: string; status: string; attempts: number }>(
      'SELECT id, status, attempts FROM scheduled_tasks ORDER BY id',
    );
    expect(rows.rows).toEqual([
      { id: ok, status: 'completed', attempts: 1 },
      { id: flaky, status: 'completed', attempts: 2 },
      { id: gone, status: 'failed', attempts: 1 },
      // The dead worker's attempt counts: recovery consumed one.
      { id: orphan, status: 'completed', attempts: 2 },
    ]);
    expect((await owner.events(orphan)).map((event) => event.event_type)).toEqual(['scheduled', 'recovered', 'claimed', 'completed']);
    // The limits were checked, not let through for want of a privilege.
    expect(worker.lines.filter((line) => line.msg.includes('[Limits]')).map((line) => line.msg)).toEqual([]);
    expect((await owner.client.query('SELECT 1 FROM destination_limit_state')).rowCount).toBeGreaterThan(0);
    // The history is readable by the role too (CLI history/verify), and so are the operator views.
    expect((await asWorker.query('SELECT * FROM task_events WHERE task_id = $1', [flaky])).rowCount).toBe(5);
    expect((await asWorker.query(`SELECT count FROM task_status_counts WHERE status = 'completed'`)).rows).toEqual([{ count: '3' }]);

    // Not one statement of the worker's was refused, the last ones at its stop included (its
    // activity for the dashboard, written then).
    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(worker.lines.filter((line) => /permission denied|must be owner/i.test(JSON.stringify(line)))).toEqual([]);
    expect((await owner.client.query('SELECT 1 FROM at_worker_activity')).rowCount).toBeGreaterThan(0);
  }, 60_000);

  it.each([
    ['UPDATE task_events SET worker_id = $$forged$$', /^permission denied for table task_events$/],
    ['DELETE FROM task_events', /^permission denied for table task_events$/],
    ['TRUNCATE task_events', /^permission denied for table task_events$/],
    ['ALTER TABLE task_events DISABLE TRIGGER task_events_append_only', /^must be owner of table task_events$/],
    ['DROP TABLE task_events', /^must be owner of table task_events$/],
    ['DELETE FROM scheduled_tasks', /^permission denied for table scheduled_tasks$/],
    ['TRUNCATE scheduled_tasks', /^permission denied for table scheduled_tasks$/],
    ['CREATE TABLE sneaky (id int)', /^permission denied for schema public$/],
    ['CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql AS $$SELECT 1$$', /^permission denied for schema public$/],
    [
      'CREATE TRIGGER sneaky BEFORE INSERT ON task_events FOR EACH ROW EXECUTE FUNCTION task_events_reject_change()',
      /^permission denied for table task_events$|^must be owner of (table|relation) task_events$/,
    ],
    ['ALTER TABLE scheduled_tasks ADD COLUMN sneaky int', /^must be owner of table scheduled_tasks$/],
  ])('the server refuses the role: %s', async (statement, message) => {
    const error = await asWorker.query(statement).then(
      () => null,
      (cause: { code?: string; message?: string }) => cause,
    );
    // 42501 insufficient_privilege, raised by the privilege check itself: the append-only trigger
    // (same code, different message) never gets to run.
    expect(error).toMatchObject({ code: '42501', message: expect.stringMatching(message) });
  });

  it('grants exactly the privileges it documents', async () => {
    const privileges = await owner.client.query<{ object: string; privilege: string; granted: boolean }>(
      `SELECT o.object, p.privilege, has_table_privilege($1, o.object, p.privilege) AS granted
         FROM unnest(ARRAY['scheduled_tasks', 'task_events']) AS o(object)
        CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p(privilege)
        WHERE has_table_privilege($1, o.object, p.privilege)
        ORDER BY 1, 2`,
      [login],
    );
    expect(privileges.rows.map((row) => `${row.object}:${row.privilege}`)).toEqual([
      'scheduled_tasks:INSERT',
      'scheduled_tasks:SELECT',
      'scheduled_tasks:UPDATE',
      'task_events:INSERT',
      'task_events:SELECT',
    ]);
    const schema = await owner.client.query<{ create: boolean; usage: boolean }>(
      `SELECT has_schema_privilege($1, 'public', 'CREATE') AS create, has_schema_privilege($1, 'public', 'USAGE') AS usage`,
      [login],
    );
    expect(schema.rows[0]).toEqual({ create: false, usage: true });
  });

  it('lets a producer schedule tasks (the history trigger runs as the owner) but never write history', async () => {
    const inserted = await asProducer.query<{ id: string }>(
      `INSERT INTO scheduled_tasks (task_type, payload, execute_at) VALUES ('http_callback', '{"url": "https://example.com", "data": 1}', now() + interval '1 day')
       RETURNING id`,
    );
    const id = inserted.rows[0]!.id;
    expect((await owner.events(id)).map((event) => event.event_type)).toEqual(['scheduled']);
    expect((await asProducer.query('SELECT status, attempts FROM scheduled_tasks WHERE id = $1', [id])).rows).toEqual([
      { status: 'pending', attempts: 0 },
    ]);

    // The trace context of its own request goes with the task (docs/tracing.md).
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const traced = await asProducer.query<{ traceparent: string }>(
      `INSERT INTO scheduled_tasks (task_type, payload, traceparent) VALUES ('email', '{}', $1) RETURNING traceparent`,
      [traceparent],
    );
    expect(traced.rows).toEqual([{ traceparent }]);

    // A table of its own named task_events, found first on the search_path, does not catch the event.
    await asProducer.query('CREATE TEMP TABLE task_events (LIKE pg_class)');
    const second = (
      await asProducer.query<{ id: string }>(`INSERT INTO scheduled_tasks (task_type, payload) VALUES ('x', '{}') RETURNING id`)
    ).rows[0]!.id;
    expect((await owner.events(second)).map((event) => event.event_type)).toEqual(['scheduled']);
    await asProducer.query('DROP TABLE pg_temp.task_events');

    const refused = async (statement: string) =>
      asProducer.query(statement).then(
        () => null,
        (cause: { code?: string; message?: string }) => ({ code: cause.code, message: cause.message }),
      );
    for (const statement of [
      `INSERT INTO task_events (task_id, seq, event_type) VALUES (${id}, 2, 'completed')`,
      'SELECT * FROM task_events',
      `UPDATE scheduled_tasks SET status = 'cancelled' WHERE id = ${id}`,
      `DELETE FROM scheduled_tasks WHERE id = ${id}`,
      `SELECT payload FROM scheduled_tasks WHERE id = ${id}`,
      // A task born running, finished, or with its counters set is not a new task.
      `INSERT INTO scheduled_tasks (task_type, payload, status) VALUES ('x', '{}', 'completed')`,
      `INSERT INTO scheduled_tasks (task_type, payload, attempts, event_seq) VALUES ('x', '{}', 2147483647, 2147483647)`,
      `SELECT at_worker_claim_due_tasks('producer', 10)`,
    ]) {
      expect({ statement, error: await refused(statement) }).toEqual({
        statement,
        error: { code: '42501', message: expect.stringMatching(/^permission denied/) },
      });
    }
    const trigger = await owner.client.query<{ prosecdef: boolean; proconfig: string[] }>(
      `SELECT prosecdef, proconfig FROM pg_proc WHERE proname = 'scheduled_tasks_record_scheduled'`,
    );
    expect(trigger.rows).toEqual([{ prosecdef: true, proconfig: ['search_path=public, pg_temp'] }]);
  });

  it('refuses to run for a role that owns the tables', async () => {
    const error = await owner.client.query(`SET at_worker.role = 'postgres'; ${ROLES_SQL}`).then(
      () => null,
      (cause: Error) => cause.message,
    );
    await owner.client.query('RESET at_worker.role');
    expect(error).toMatch(/role postgres is a superuser or owns the tables/);
  });
});
