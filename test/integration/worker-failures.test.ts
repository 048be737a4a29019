import { until, type WorkerProcess } from '../support/worker-process.js';
import { useWorkerSuite } from '../support/worker-suite.js';

describe('retries and failures, through a running worker', () => {
  const suite = useWorkerSuite({
    '/flaky': (_request, response, count) =>
      void (count <= 2 ? response.writeHead(503).end('busy, try later') : response.writeHead(200).end()),
    '/down': (_request, response) => void response.writeHead(500).end('internal error'),
    '/gone': (_request, response) => void response.writeHead(410).end('this hook was removed'),
  });
  let worker: WorkerProcess;

  beforeAll(async () => {
    worker = suite.start({ WORKER_ID: 'retrier', SMTP_HOST: '' });
    await worker.waitForLog(/Started with polling interval/);
  });

  const settled = (id: string) =>
    until(async () => ['completed', 'failed'].includes((await suite.db.task(id)).status), 20_000, `task ${id} settled`);

  it('retries a failing callback with backoff until it succeeds', async () => {
    const id = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/flaky'), data: {} }, { maxAttempts: 5 });
    await settled(id);
    expect(await suite.db.task(id)).toMatchObject({ status: 'completed', attempts: 3 });
    const events = await suite.db.events(id);
    expect(events.map((event) => event.event_type)).toEqual([
      'scheduled',
      'claimed',
      'retry_scheduled',
      'claimed',
      'retry_scheduled',
      'claimed',
      'completed',
    ]);
    expect(events[2]?.data).toMatchObject({ attempt: 1, error: 'HTTP 503: busy, try later' });
    expect(suite.receiver.to('/flaky')).toHaveLength(3);
  });

  it('marks a task failed when its attempts are exhausted, with the last error', async () => {
    const id = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/down'), data: {} }, { maxAttempts: 2 });
    await settled(id);
    expect(await suite.db.task(id)).toMatchObject({ status: 'failed', attempts: 2, error_message: 'HTTP 500: internal error' });
    expect((await suite.db.events(id)).at(-1)).toMatchObject({
      event_type: 'failed',
      data: expect.objectContaining({ reason: 'attempts_exhausted' }),
    });
    expect(suite.receiver.to('/down')).toHaveLength(2);
  });

  it('fails a permanent error at once, without retrying', async () => {
    const id = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/gone'), data: {} }, { maxAttempts: 5 });
    await settled(id);
    expect(await suite.db.task(id)).toMatchObject({ status: 'failed', attempts: 1, error_message: 'HTTP 410: this hook was removed' });
    expect(suite.receiver.to('/gone')).toHaveLength(1);
  });

  it('fails bad payloads and unknown types with a message naming the problem, and goes on working', async () => {
    const noUrl = await suite.db.insertTask('http_callback', { data: {} });
    const badUrl = await suite.db.insertTask('http_callback', { url: 42, data: {} });
    const notObject = await suite.db.insertTask('http_callback', 'just a string');
    const unknown = await suite.db.insertTask('fax', { number: '+1 555' });
    const email = await suite.db.insertTask('email', { to: 'a@example.com', subject: 'hi', text: 'x' });
    const healthy = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/after-poison'), data: { ok: true } });
    for (const id of [noUrl, badUrl, notObject, unknown, healthy]) await settled(id);

    expect((await suite.db.task(noUrl)).error_message).toMatch(/^payload\.url: /);
    expect((await suite.db.task(badUrl)).error_message).toBe('payload.url: expected an absolute http(s) URL, got 42');
    expect((await suite.db.task(notObject)).error_message).toMatch(/^payload/);
    expect((await suite.db.task(unknown)).error_message).toMatch(/^unknown task_type "fax"/);
    // This worker has no SMTP settings: it leaves email to a worker that has them (none here).
    expect(await suite.db.task(email)).toMatchObject({ status: 'pending', attempts: 0 });
    expect((await suite.db.events(email)).map((event) => event.event_type)).toEqual(['scheduled']);
    for (const id of [noUrl, badUrl, notObject, unknown]) expect(await suite.db.task(id)).toMatchObject({ status: 'failed', attempts: 1 });
    expect(await suite.db.task(healthy)).toMatchObject({ status: 'completed' });
    expect(worker.lines.some((line) => line.msg.startsWith(`[Executor] Task ${badUrl} failed: payload.url`))).toBe(true);
  });
});
