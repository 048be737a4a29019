import { startTcpProxy } from '../support/tcp-proxy.js';
import { until } from '../support/worker-process.js';
import { useWorkerSuite } from '../support/worker-suite.js';
import { sleep } from './fault-helpers.js';

/**
 * The database goes away for longer than a killed session or a reconnect (a restart, a failover)
 * while a task's answer is on its way. The worker's connections go through a proxy the test cuts:
 * open connections drop, new ones are refused. WORKER_STUCK_TIMEOUT is 30 s here.
 */
describe('database unreachable for seconds while outcomes are recorded', () => {
  // Answers after 1.5 s: the request goes out before the cut, the answer comes during it.
  const suite = useWorkerSuite({ '/slow': (_request, response) => void setTimeout(() => response.writeHead(200).end(), 1500) });
  let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
  let proxiedUrl: string;

  beforeEach(async () => {
    const direct = new URL(suite.database.url);
    proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    direct.hostname = '127.0.0.1';
    direct.port = String(proxy.port);
    proxiedUrl = direct.toString();
  });
  afterEach(async () => {
    await proxy.close();
  });

  /** A worker on the proxied connection, and a task whose request to /slow has just gone out. */
  const workerWithAnswerDue = async (env: Record<string, string>) => {
    const worker = suite.start({ DATABASE_URL: proxiedUrl, WORKER_STUCK_TIMEOUT: '0.5', ...env });
    await worker.waitForLog(/Started with polling interval/);
    const before = suite.receiver.to('/slow').length;
    const id = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/slow'), data: {} });
    await until(() => suite.receiver.to('/slow').length === before + 1, 10_000, 'delivery started');
    return { worker, id, deliveries: before + 1 };
  };

  it('records the outcome once the database is back, without a second delivery', async () => {
    const { worker, id, deliveries } = await workerWithAnswerDue({ WORKER_ID: 'outage' });

    await proxy.cut();
    // Twice as long as the 5 tries in about 1.5 s that used to be all an end got.
    await sleep(6000);
    expect((await suite.db.task(id)).status).toBe('processing');
    await proxy.restore();

    // Well inside the stuck timeout: only the worker's own end can have completed it.
    await until(async () => (await suite.db.task(id)).status === 'completed', 10_000, 'the outcome recorded');
    expect(await suite.db.task(id)).toMatchObject({ attempts: 1 });
    expect((await suite.db.events(id)).map((event) => event.event_type)).toEqual(['scheduled', 'claimed', 'completed']);
    expect(suite.receiver.to('/slow')).toHaveLength(deliveries);
    expect(worker.lines.filter((line) => line.msg.includes('could not record the outcome'))).toEqual([]);
    expect(await worker.stop('SIGTERM')).toBe(0);
  }, 60_000);

  it('still stops within SHUTDOWN_TIMEOUT while the database is gone, leaving the task to a cleaner', async () => {
    const { worker, id } = await workerWithAnswerDue({ WORKER_ID: 'outage-stop', SHUTDOWN_TIMEOUT: '1' });

    await proxy.cut();
    await sleep(2500);
    const stopping = Date.now();
    expect(await worker.stop('SIGTERM')).toBe(0);
    // SHUTDOWN_TIMEOUT is 1 s; the rest is the last try's pause and closing.
    expect(Date.now() - stopping).toBeLessThan(6000);
    expect(worker.lines.some((line) => line.msg.includes(`Task ${id}: could not record the outcome`))).toBe(true);
    expect(await suite.db.task(id)).toMatchObject({ status: 'processing', attempts: 0 });
  }, 60_000);
});
