import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { connectSql, type SqlClient } from '../support/tasks-sql.js';
import { FAST_ENV, spawnWorker, until, type WorkerProcess } from '../support/worker-process.js';
import { header, startSmtpServer } from './email-smtp-server.js';

const PASSWORD = 'smtp-pa55word-never-logged';

describe('email tasks, through a running worker and a real SMTP server', () => {
  let database: TestDatabase;
  let db: SqlClient;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let worker: WorkerProcess;

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    db = await connectSql(database.url);
    smtp = await startSmtpServer({
      authOptional: false,
      allowInsecureAuth: true,
      onAuth: (auth, _session, callback) =>
        auth.username === 'mailer' && auth.password === PASSWORD ? callback(null, { user: 'mailer' }) : callback(new Error('bad login')),
    });
    worker = spawnWorker({
      ...FAST_ENV,
      DATABASE_URL: database.url,
      WORKER_ID: 'mailer',
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      SMTP_SECURE: 'false',
      SMTP_USER: 'mailer',
      SMTP_PASSWORD: PASSWORD,
      SMTP_TIMEOUT: '5',
      EMAIL_FROM: 'Scheduler <scheduler@example.com>',
    });
    await worker.waitForLog(/Started with polling interval/);
  });

  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await smtp?.close();
    await db?.close();
    await database?.drop();
  });

  const settled = (id: string) =>
    until(async () => ['completed', 'failed'].includes((await db.task(id)).status), 20_000, `task ${id} settled`);

  it('delivers an email inserted with plain SQL, with the Message-ID of its task', async () => {
    const id = await db.insertTask('email', { to: ['ann@example.com', 'Bob <bob@example.org>'], subject: 'Invoice', text: 'Due today' });
    await settled(id);
    expect(await db.task(id)).toMatchObject({ status: 'completed', attempts: 1 });
    const message = smtp.received.find((received) => header(received, 'subject') === 'Invoice');
    expect(message?.rcptTo).toEqual(['ann@example.com', 'bob@example.org']);
    // The task's uuid, unique across databases and id resets, not its id.
    const { task_uuid: uuid } = await db.task(id);
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(header(message, 'message-id')).toBe(`<at-worker.task-${uuid}@example.com>`);
    expect((await db.events(id)).at(-1)).toMatchObject({
      event_type: 'completed',
      data: { details: { message_id: `<at-worker.task-${uuid}@example.com>` } },
    });
  });

  it('fails a task after one attempt on a 550, with the reply as error_message', async () => {
    const id = await db.insertTask('email', { to: 'reject@example.com', subject: 'x', text: 'y' }, { maxAttempts: 5 });
    await settled(id);
    expect(await db.task(id)).toMatchObject({
      status: 'failed',
      attempts: 1,
      error_message: 'SMTP server rejected the message at RCPT TO: 550 5.1.1 <reject@example.com>: mailbox unavailable',
    });
  });

  it('retries a task on a 451 until its attempts run out', async () => {
    const id = await db.insertTask('email', { to: 'defer@example.com', subject: 'x', text: 'y' }, { maxAttempts: 2 });
    await settled(id);
    expect(await db.task(id)).toMatchObject({ status: 'failed', attempts: 2, error_message: expect.stringContaining('451 4.3.0') });
    expect((await db.events(id)).map((event) => event.event_type)).toEqual([
      'scheduled',
      'claimed',
      'retry_scheduled',
      'claimed',
      'failed',
    ]);
  });

  it('never writes the SMTP password to the log, the task or its events', async () => {
    const rows = await db.client.query<{ text: string }>(
      `SELECT coalesce(t.error_message, '')
              || (SELECT coalesce(string_agg(e.data::text, ''), '') FROM task_events e WHERE e.task_id = t.id) AS text
         FROM scheduled_tasks t`,
    );
    expect(rows.rows.length).toBeGreaterThan(0);
    expect(rows.rows.map((row) => row.text).join('\n')).not.toContain(PASSWORD);
    expect(worker.raw.join('\n')).not.toContain(PASSWORD);
    expect(worker.stderr()).not.toContain(PASSWORD);
  });
});
