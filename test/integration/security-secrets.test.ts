import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import pg from 'pg';
import { createTestDatabase, DEFAULT_TEST_DATABASE_URL, type TestDatabase } from '../support/database.js';
import { startReceiver, type Receiver } from '../support/http-receiver.js';
import { connectSql, type SqlClient } from '../support/tasks-sql.js';
import { FAST_ENV, spawnWorker, until, type WorkerProcess } from '../support/worker-process.js';
import { startSmtpServer } from './email-smtp-server.js';
import { databaseName, sleep, terminateBackends } from './fault-helpers.js';

const tag = randomBytes(4).toString('hex');
/** Distinctive values that must never be written anywhere but where they are used. */
const CANARY = {
  dbPassword: `canary-db-${tag}`,
  smtpPassword: `canary-smtp-${tag}`,
  urlPassword: `canary-url-${tag}`,
  bearer: `canary-bearer-${tag}`,
};
// The forms in which they travel: base64 in Basic auth and in SMTP AUTH.
const FORBIDDEN = [
  ...Object.values(CANARY),
  Buffer.from(`hookuser:${CANARY.urlPassword}`).toString('base64'),
  Buffer.from(CANARY.smtpPassword).toString('base64'),
];

/**
 * Credentials in the configuration (DB_PASSWORD, SMTP_PASSWORD) and in payloads (URL user-info, an
 * Authorization header) are used, never written down: not in the worker's output (at debug level,
 * through failures, a killed database session and a shutdown), not in task_events, not in
 * error_message — even when the remote end echoes them back in its error.
 */
describe('secrets stay out of logs, history and error messages', () => {
  const dbRole = `atw_canary_${tag}`;
  let database: TestDatabase;
  let db: SqlClient;
  let receiver: Receiver;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  const smtpPasswordsSeen: string[] = [];
  let worker: WorkerProcess | undefined;

  const echo = (status: number) => (request: { path: string; headers: IncomingHttpHeaders }, response: ServerResponse) =>
    void response
      .writeHead(status, { 'content-type': 'application/json' })
      .end(JSON.stringify({ you_sent: request.headers, path: request.path }));

  const admin = async (text: string) => {
    const client = new pg.Client({ connectionString: process.env['TEST_DATABASE_URL'] ?? DEFAULT_TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    // The worker logs in as a role whose password is the canary, and owns (so migrates) its database.
    // With trust authentication the server ignores the password; the worker must still never print it.
    await admin(`CREATE ROLE ${dbRole} LOGIN PASSWORD '${CANARY.dbPassword}'`);
    await admin(`ALTER DATABASE ${databaseName(database.url)} OWNER TO ${dbRole}`);
    db = await connectSql(database.url);
    receiver = await startReceiver({
      '/echo-401': echo(401),
      '/echo-500': echo(500),
      '/redirect-with-credentials': (_request, response) =>
        void response.writeHead(302, { location: `http://hookuser:${CANARY.urlPassword}@127.0.0.1:1/elsewhere` }).end(),
    });
    smtp = await startSmtpServer({
      authOptional: false,
      allowInsecureAuth: true,
      // A server that quotes the credentials it refuses.
      onAuth: (auth, _session, callback) => {
        smtpPasswordsSeen.push(String(auth.password));
        callback(Object.assign(new Error(`Invalid credentials for ${auth.username}: ${String(auth.password)}`), { responseCode: 535 }));
      },
    });
  });

  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await receiver.close();
    await smtp.close();
    await db.close();
    await database.drop();
    await admin(`DROP ROLE IF EXISTS ${dbRole}`);
  });

  it('never writes a canary, whatever the endpoints and the database do', async () => {
    const target = new URL(database.url);
    worker = spawnWorker({
      ...FAST_ENV,
      LOG_LEVEL: 'debug',
      WORKER_ID: 'keeper',
      DB_HOST: target.hostname,
      DB_PORT: target.port || '5432',
      DB_NAME: databaseName(database.url),
      DB_USER: dbRole,
      DB_PASSWORD: CANARY.dbPassword,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      SMTP_USER: 'worker',
      SMTP_PASSWORD: CANARY.smtpPassword,
      EMAIL_FROM: 'worker@example.com',
    });
    await worker.waitForLog(/Started with polling interval/);
    await worker.waitForLog(/^\[Cleaner\] Started/);
    await until(
      async () => (await db.client.query(`SELECT to_regclass('scheduled_tasks') IS NOT NULL AS ready`)).rows[0].ready === true,
      10_000,
      'schema applied by the worker',
    );

    // First every session of the worker is killed, again and again (20 x 50 ms, while it polls every
    // 100 ms), so database errors get logged too, with whatever they carry. Before the tasks exist:
    // what kills do to tasks is fault-database-connections' subject, not this suite's.
    for (let kill = 0; kill < 20; kill += 1) {
      await terminateBackends(db.client, databaseName(database.url));
      await sleep(50);
    }

    const withUserInfo = (path: string) => receiver.url(path).replace('http://', `http://hookuser:${CANARY.urlPassword}@`);
    const bearer = { Authorization: `Bearer ${CANARY.bearer}` };
    const tasks = {
      basicOk: await db.insertTask('http_callback', { url: withUserInfo('/ok-basic'), data: { a: 1 } }),
      bearerOk: await db.insertTask('http_callback', { url: receiver.url('/ok-bearer'), data: 'raw', headers: bearer }),
      basicEchoed: await db.insertTask('http_callback', { url: withUserInfo('/echo-401'), data: {} }),
      bearerEchoed: await db.insertTask('http_callback', { url: receiver.url('/echo-401'), data: {}, headers: bearer }),
      echoedAndRetried: await db.insertTask(
        'http_callback',
        { url: withUserInfo('/echo-500'), data: {}, headers: { 'X-Api-Key': CANARY.bearer } },
        { maxAttempts: 2 },
      ),
      redirected: await db.insertTask('http_callback', { url: receiver.url('/redirect-with-credentials'), data: {}, headers: bearer }),
      badScheme: await db.insertTask('http_callback', { url: `ftp://hookuser:${CANARY.urlPassword}@files.example/x`, data: {} }),
      badHeader: await db.insertTask('http_callback', {
        url: receiver.url('/never'),
        data: {},
        headers: { Authorization: `Bearer ${CANARY.bearer}\r\nX: y` },
      }),
      refused: await db.insertTask(
        'http_callback',
        { url: withUserInfo('/closed').replace(/:\d+\//, ':1/'), data: {}, headers: bearer },
        { maxAttempts: 1 },
      ),
      email: await db.insertTask('email', { to: 'someone@example.com', subject: 'hello', text: 'hi' }, { maxAttempts: 1 }),
    };

    await until(
      async () => (await db.client.query(`SELECT 1 FROM scheduled_tasks WHERE status IN ('pending', 'processing')`)).rowCount === 0,
      30_000,
      'every task settled',
    );
    expect(await worker.stop('SIGTERM')).toBe(0);

    // The credentials were really used, so the test is not passing for want of trying.
    expect(receiver.to('/ok-basic')[0]?.headers.authorization).toBe(
      `Basic ${Buffer.from(`hookuser:${CANARY.urlPassword}`).toString('base64')}`,
    );
    expect(receiver.to('/ok-bearer')[0]?.headers.authorization).toBe(`Bearer ${CANARY.bearer}`);
    expect(receiver.to('/echo-500')).toHaveLength(2);
    expect(smtpPasswordsSeen).toContain(CANARY.smtpPassword);
    const connectedAs = await db.client.query(`SELECT count(*)::int AS n FROM task_events WHERE worker_id = 'keeper'`);
    expect(connectedAs.rows[0].n).toBeGreaterThan(0);

    const rows = await db.client.query<{ id: string; status: string; error_message: string | null }>(
      'SELECT id, status, error_message FROM scheduled_tasks',
    );
    const byId = new Map(rows.rows.map((row) => [row.id, row]));
    expect(byId.get(tasks.basicOk)?.status).toBe('completed');
    expect(byId.get(tasks.bearerOk)?.status).toBe('completed');
    // What the remote end echoed is kept (it is what an operator needs), with the secret blanked out.
    for (const id of [tasks.basicEchoed, tasks.bearerEchoed, tasks.echoedAndRetried]) {
      expect(byId.get(id)).toMatchObject({ status: 'failed', error_message: expect.stringMatching(/^HTTP (401|500): .*you_sent.*\*\*\*/) });
    }
    expect(byId.get(tasks.redirected)?.error_message).toMatch(
      /^HTTP 302: redirect to http:\/\/\*\*\*@127\.0\.0\.1:1\/elsewhere not followed$/,
    );
    expect(byId.get(tasks.badScheme)?.error_message).toMatch(
      /^payload\.url: expected an http or https URL, not ftp:, got "ftp:\/\/\*\*\*@files/,
    );
    expect(byId.get(tasks.badHeader)?.error_message).toMatch(/^payload\.headers\.Authorization: must not contain line breaks/);
    expect(byId.get(tasks.refused)?.error_message).toMatch(/^network error: /);
    expect(byId.get(tasks.email)?.error_message).toMatch(/^SMTP authentication failed: .*\*\*\*/);

    // And now the point: no canary anywhere.
    const events = await db.client.query<{ data: string }>('SELECT data::text AS data FROM task_events');
    const places = {
      stdout: worker.raw.join('\n'),
      stderr: worker.stderr(),
      task_events: events.rows.map((row) => row.data).join('\n'),
      error_message: rows.rows.map((row) => row.error_message ?? '').join('\n'),
    };
    const leaks = Object.entries(places).flatMap(([place, text]) =>
      FORBIDDEN.filter((secret) => text.includes(secret)).map((secret) => `${place} contains ${secret}`),
    );
    expect(leaks).toEqual([]);
    // Controls: the same search finds the canaries where they do belong (the payloads), and the
    // output is not empty for some silly reason (the checks above would pass on nothing).
    const payloads = (await db.client.query<{ text: string }>('SELECT string_agg(payload::text, $$ $$) AS text FROM scheduled_tasks'))
      .rows[0]!.text;
    expect([CANARY.urlPassword, CANARY.bearer].filter((secret) => payloads.includes(secret))).toHaveLength(2);
    expect(places.stdout).toMatch(/Successfully connected to database/);
    expect(places.stdout).toMatch(/\[Executor\] Task \d+ failed: SMTP authentication failed/);
  }, 60_000);
});
