import { once } from 'node:events';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import type { ServerResponse } from 'node:http';
import { until, type WorkerProcess } from '../support/worker-process.js';
import { useWorkerSuite } from '../support/worker-suite.js';
import { isRunning, residentMiB, sleep, watchMemory } from './fault-helpers.js';

const MB = 1024 * 1024;
const HTTP_TIMEOUT_MS = 1000;

/**
 * The executor-level tests (http-hostile-endpoints) prove each defence in isolation; this suite
 * points a running worker process at the same endpoints, all at once, with healthy tasks queued
 * among them: the process must survive, keep its memory bounded, record the right outcome for each
 * task, and keep serving the healthy ones.
 */
describe('hostile endpoints through a running worker', () => {
  let statusDrip: TcpServer;
  let worker: WorkerProcess;
  const floods = { written: new Map<string, number>() };

  /** 100 MB answer, written as fast as the client reads it (so `written` is what it let through). */
  const flood = (status: number) => (request: { path: string }, response: ServerResponse) => {
    response.writeHead(status, { 'content-type': 'text/plain', 'content-length': String(100 * MB) });
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let written = 0;
    const pump = () => {
      while (written < 100 * MB && !response.destroyed) {
        written += chunk.length;
        floods.written.set(request.path, written);
        if (!response.write(chunk)) return void response.once('drain', pump);
      }
      response.end();
    };
    pump();
  };
  /** The status at once, then one byte of body every 20 ms, forever. */
  const drip = (status: number) => (_request: unknown, response: ServerResponse) => {
    response.writeHead(status, { 'content-type': 'text/plain' });
    const timer = setInterval(() => response.write('x'), 20);
    response.on('close', () => clearInterval(timer));
  };

  const suite = useWorkerSuite({
    '/hang': () => undefined,
    '/flood-ok': flood(200),
    '/flood-error': flood(500),
    '/found': (_request, response) => void response.writeHead(302, { location: suite.receiver.url('/target') }).end(),
    '/moved': (_request, response) => void response.writeHead(308, { location: suite.receiver.url('/target') }).end(),
    '/gone': (_request, response) => void response.writeHead(410).end('this hook was removed'),
    '/drip-ok': drip(200),
    '/drip-error': drip(503),
  });

  beforeAll(async () => {
    // The status line and then one header, one byte every 20 ms, the header never ending: the
    // headers never complete, yet every byte is valid HTTP (so only the timeout can end it).
    statusDrip = createTcpServer((socket) => {
      const start = Buffer.from('HTTP/1.1 200 OK\r\nX-Drip: ');
      let index = 0;
      const timer = setInterval(() => socket.write(index < start.length ? start.subarray(index, ++index) : 'a'), 20);
      socket.on('close', () => clearInterval(timer));
      socket.on('error', () => clearInterval(timer));
    });
    statusDrip.listen(0, '127.0.0.1');
    await once(statusDrip, 'listening');
    worker = suite.start({
      LOG_LEVEL: 'info',
      WORKER_ID: 'hostile',
      HTTP_TIMEOUT: String(HTTP_TIMEOUT_MS / 1000),
      TASK_TIMEOUT: '20',
    });
    await worker.waitForLog(/Started with polling interval/);
  });

  afterAll(async () => {
    await worker.stop('SIGKILL');
    await new Promise((resolve) => statusDrip.close(resolve));
  });

  it('records the right outcome for each, stays up with bounded memory, and keeps serving healthy tasks', async () => {
    // Baseline: the idle process, after start-up has settled.
    await sleep(500);
    const baseline = residentMiB(worker.child.pid!)!;
    const memory = watchMemory(worker.child.pid!);

    const statusDripUrl = `http://127.0.0.1:${(statusDrip.address() as AddressInfo).port}/status-drip`;
    const hostile = {
      hang: await suite.db.insertTask('http_callback', { url: suite.receiver.url('/hang'), data: {} }, { maxAttempts: 2 }),
      floodOk: await suite.db.insertTask('http_callback', { url: suite.receiver.url('/flood-ok'), data: {} }),
      floodError: await suite.db.insertTask('http_callback', { url: suite.receiver.url('/flood-error'), data: {} }, { maxAttempts: 1 }),
      found: await suite.db.insertTask('http_callback', { url: suite.receiver.url('/found'), data: {} }),
      moved: await suite.db.insertTask('http_callback', { url: suite.receiver.url('/moved'), data: {} }),
      gone: await suite.db.insertTask('http_callback', { url: suite.receiver.url('/gone'), data: {} }),
      dripOk: await suite.db.insertTask('http_callback', { url: suite.receiver.url('/drip-ok'), data: {} }),
      dripError: await suite.db.insertTask('http_callback', { url: suite.receiver.url('/drip-error'), data: {} }, { maxAttempts: 1 }),
      statusDrip: await suite.db.insertTask('http_callback', { url: statusDripUrl, data: {} }, { maxAttempts: 1 }),
    };
    const healthyQueued = Date.now();
    const healthy: string[] = [];
    for (let n = 0; n < 20; n += 1)
      healthy.push(await suite.db.insertTask('http_callback', { url: suite.receiver.url('/healthy'), data: { n } }));

    // Healthy tasks are not held up behind the hostile ones for longer than one HTTP_TIMEOUT or so.
    const unsettled = async (ids: string[], settled: string[]) =>
      (
        await suite.db.client.query('SELECT 1 FROM scheduled_tasks WHERE id = ANY($1::bigint[]) AND status <> ALL($2::text[])', [
          ids,
          settled,
        ])
      ).rowCount;
    await until(async () => (await unsettled(healthy, ['completed'])) === 0, 5000, 'healthy tasks completed');
    const healthyMs = Date.now() - healthyQueued;
    await until(async () => (await unsettled(Object.values(hostile), ['completed', 'failed'])) === 0, 20_000, 'hostile tasks settled');
    memory.stop();

    const outcome = async (id: string) => {
      const row = await suite.db.task(id);
      const events = await suite.db.events(id);
      const last = events.at(-1)!;
      return {
        status: row.status,
        attempts: row.attempts,
        error: row.error_message,
        history: events.map((event) => event.event_type).join(','),
        durationMs: (last.data['details'] as { duration_ms?: number } | undefined)?.duration_ms ?? -1,
      };
    };
    const target = (path: string) => new RegExp(`^HTTP (302|308): redirect to http://127\\.0\\.0\\.1:\\d+${path} not followed$`);

    expect(await outcome(hostile.hang)).toMatchObject({
      status: 'failed',
      attempts: 2,
      error: `timed out after ${HTTP_TIMEOUT_MS} ms`,
      history: 'scheduled,claimed,retry_scheduled,claimed,failed',
    });
    expect((await outcome(hostile.hang)).durationMs).toBeGreaterThanOrEqual(HTTP_TIMEOUT_MS - 50);
    expect((await outcome(hostile.hang)).durationMs).toBeLessThan(HTTP_TIMEOUT_MS + 1500);

    // A 2xx is a delivery however much body follows; the body is read up to its cap, then dropped.
    expect(await outcome(hostile.floodOk)).toMatchObject({ status: 'completed', attempts: 1, history: 'scheduled,claimed,completed' });
    expect(await outcome(hostile.floodError)).toMatchObject({ status: 'failed', attempts: 1, error: `HTTP 500: ${'a'.repeat(200)}…` });
    for (const path of ['/flood-ok', '/flood-error']) expect(floods.written.get(path) ?? 0).toBeLessThan(16 * MB);

    expect(await outcome(hostile.found)).toMatchObject({ status: 'failed', attempts: 1, error: expect.stringMatching(target('/target')) });
    expect(await outcome(hostile.moved)).toMatchObject({ status: 'failed', attempts: 1, error: expect.stringMatching(target('/target')) });
    expect(suite.receiver.to('/target')).toHaveLength(0);

    expect(await outcome(hostile.gone)).toMatchObject({ status: 'failed', attempts: 1, error: 'HTTP 410: this hook was removed' });
    expect(suite.receiver.to('/gone')).toHaveLength(1);

    const dripOk = await outcome(hostile.dripOk);
    expect(dripOk).toMatchObject({ status: 'completed', attempts: 1 });
    expect(dripOk.durationMs).toBeLessThan(HTTP_TIMEOUT_MS + 1500);
    const dripError = await outcome(hostile.dripError);
    expect(dripError).toMatchObject({ status: 'failed', attempts: 1 });
    expect(dripError.error).toMatch(new RegExp(`^HTTP 503: x+ \\(body cut short: timed out after ${HTTP_TIMEOUT_MS} ms\\)$`));
    expect(dripError.durationMs).toBeLessThan(HTTP_TIMEOUT_MS + 1500);
    const statusDripped = await outcome(hostile.statusDrip);
    expect(statusDripped).toMatchObject({ status: 'failed', attempts: 1, error: `timed out after ${HTTP_TIMEOUT_MS} ms` });
    expect(statusDripped.durationMs).toBeLessThan(HTTP_TIMEOUT_MS + 1500);

    for (const id of healthy) expect(await suite.db.task(id)).toMatchObject({ status: 'completed', attempts: 1 });
    // Two 100 MB answers went by; buffering either would add 100 MB. 64 KiB caps and socket buffers
    // are what should show (a few MB); 48 MiB leaves room for GC timing on a busy machine.
    const growth = memory.peak() - baseline;
    console.log(
      `[fault-hostile-endpoints] RSS baseline ${baseline.toFixed(1)} MiB, peak ${memory.peak().toFixed(1)} MiB ` +
        `over ${memory.samples.length} samples; healthy tasks done in ${healthyMs} ms; ` +
        `flood bytes written ${[...floods.written.values()].join(', ')}`,
    );
    expect(memory.samples.length).toBeGreaterThan(10);
    expect(growth).toBeLessThan(48);

    expect(isRunning(worker.child)).toBe(true);
    expect(await worker.stop('SIGTERM')).toBe(0);
  }, 60_000);
});
