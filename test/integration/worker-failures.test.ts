import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startReceiver, type Receiver } from '../support/http-receiver.js';
import { connectSql, type SqlClient } from '../support/tasks-sql.js';
import { FAST_ENV, spawnWorker, until, type WorkerProcess } from '../support/worker-process.js';

describe('retries and failures, through a running worker', () => {
  let database: TestDatabase;
  let db: SqlClient;
  let receiver: Receiver;
  let worker: WorkerProcess;

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    db = await connectSql(database.url);
    receiver = await startReceiver({
      '/flaky': (_request, response, count) => void (count <= 2 ? response.writeHead(503).end('busy, try later') : response.writeHead(200).end()),
      '/down': (_request, response) => void response.writeHead(500).end('internal error'),
      '/gone': (_request, response) => void response.writeHead(410).end('this hook was removed'),
    });
    worker = spawnWorker({ ...FAST_ENV, DATABASE_URL: database.url, WORKER_ID: 'retrier', SMTP_HOST: '' });
    await worker.waitForLog(/Started with polling interval/);
  });

  afterAll(async () => {
    await worker.stop('SIGKILL');
    await receiver.close();
    await db.close();
    await database.drop();
  });

  const settled = (id: string) => until(async () => ['completed', 'failed'].includes((await db.task(id)).status), 20_000, `task ${id} settled`);

  it('retries a failing callback with backoff until it succeeds', async () => {
    const id = await db.insertTask('http_callback', { url: receiver.url('/flaky'), data: {} }, { maxAttempts: 5 });
    await settled(id);
    expect(await db.task(id)).toMatchObject({ status: 'completed', attempts: 3 });
    const events = await db.events(id);
    expect(events.map((event) => event.event_type)).toEqual([
      'scheduled', 'claimed', 'retry_scheduled', 'claimed', 'retry_scheduled', 'claimed', 'completed',
    ]);
    expect(events[2]?.data).toMatchObject({ attempt: 1, error: 'HTTP 503: busy, try later' });
    expect(receiver.to('/flaky')).toHaveLength(3);
  });

  it('marks a task failed when its attempts are exhausted, with the last error', async () => {
    const id = await db.insertTask('http_callback', { url: receiver.url('/down'), data: {} }, { maxAttempts: 2 });
    await settled(id);
    expect(await db.task(id)).toMatchObject({ status: 'failed', attempts: 2, error_message: 'HTTP 500: internal error' });
    expect((await db.events(id)).at(-1)).toMatchObject({ event_type: 'failed', data: expect.objectContaining({ reason: 'attempts_exhausted' }) });
    expect(receiver.to('/down')).toHaveLength(2);
  });

  it('fails a permanent error at once, without retrying', async () => {
    const id = await db.insertTask('http_callback', { url: receiver.url('/gone'), data: {} }, { maxAttempts: 5 });
    await settled(id);
    expect(await db.task(id)).toMatchObject({ status: 'failed', attempts: 1, error_message: 'HTTP 410: this hook was removed' });
    expect(receiver.to('/gone')).toHaveLength(1);
  });

  it('fails bad payloads and unknown types with a message naming the problem, and goes on working', async () => {
    const noUrl = await db.insertTask('http_callback', { data: {} });
    const badUrl = await db.insertTask('http_callback', { url: 42, data: {} });
    const notObject = await db.insertTask('http_callback', 'just a string');
    const unknown = await db.insertTask('fax', { number: '+1 555' });
    const email = await db.insertTask('email', { to: 'a@example.com', subject: 'hi', text: 'x' });
    const healthy = await db.insertTask('http_callback', { url: receiver.url('/after-poison'), data: { ok: true } });
    for (const id of [noUrl, badUrl, notObject, unknown, email, healthy]) await settled(id);

    expect((await db.task(noUrl)).error_message).toMatch(/^payload\.url: /);
    expect((await db.task(badUrl)).error_message).toBe('payload.url: expected an absolute http(s) URL, got 42');
    expect((await db.task(notObject)).error_message).toMatch(/^payload/);
    expect((await db.task(unknown)).error_message).toMatch(/^unknown task_type "fax"/);
    expect(await db.task(email)).toMatchObject({ status: 'failed', attempts: 1 });
    expect((await db.task(email)).error_message).toMatch(/not configured/);
    for (const id of [noUrl, badUrl, notObject, unknown]) expect(await db.task(id)).toMatchObject({ status: 'failed', attempts: 1 });
    expect(await db.task(healthy)).toMatchObject({ status: 'completed' });
    expect(worker.lines.some((line) => line.msg.startsWith(`[Executor] Task ${badUrl} failed: payload.url`))).toBe(true);
  });
});
