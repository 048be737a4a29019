import { createServer, type Socket } from 'node:net';
import { startTaskListener } from '../../src/adapters/postgres/listener.js';
import { freePort } from '../support/net.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { FAST_ENV, spawnWorker, until, type WorkerProcess } from '../support/worker-process.js';
import { useWorkerSuite } from '../support/worker-suite.js';

/**
 * The LISTEN connection is watched: when its backend is killed the worker says so, keeps polling,
 * reports not-ready, and comes back on its own.
 */
describe('LISTEN connection loss', () => {
  const suite = useWorkerSuite();
  let worker: WorkerProcess | undefined;

  afterEach(async () => {
    await worker?.stop('SIGKILL');
    worker = undefined;
  });

  const databaseName = () => new URL(suite.database.url).pathname.slice(1);

  /** Terminates this database's LISTEN session(s); how many it found. */
  const killListener = async (): Promise<number> => {
    const result = await suite.db.client.query<{ pid: number }>(
      `SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = $1 AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
      [databaseName()],
    );
    return result.rowCount ?? 0;
  };

  const listenSessions = async (): Promise<number> => {
    const result = await suite.db.client.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
      [databaseName()],
    );
    return Number(result.rows[0]!.n);
  };
  const listening = async () => (await listenSessions()) > 0;

  const insertDueNow = (path: string) => suite.db.insertTask('http_callback', { url: suite.receiver.url(path), data: {} });

  it('logs the loss, reconnects, and is woken by NOTIFY again afterwards', async () => {
    worker = spawnWorker({ ...FAST_ENV, LOG_LEVEL: 'info', DATABASE_URL: suite.database.url, WORKER_POLLING_INTERVAL: '30' });
    await worker.waitForLog(/Started with polling interval 30s/);
    await until(listening, 10_000, 'the LISTEN session to appear');

    expect(await killListener()).toBe(1);
    await worker.waitForLog(/^LISTEN connection lost: .*terminat/i, 10_000);
    await worker.waitForLog(/^LISTEN connection restored after/, 10_000);
    await until(listening, 10_000, 'a new LISTEN session');

    // With a 30 s poll, a prompt pickup means the new connection delivers notifications.
    const inserted = Date.now();
    await insertDueNow('/after-reconnect');
    await until(() => suite.receiver.to('/after-reconnect').length === 1, 10_000, 'delivery after reconnect');
    expect(suite.receiver.to('/after-reconnect')[0]!.at - inserted).toBeLessThan(1500);
  });

  it('keeps polling and reports not ready while the listener is down, and recovers', async () => {
    const port = await freePort();
    worker = spawnWorker({
      ...FAST_ENV,
      LOG_LEVEL: 'info',
      DATABASE_URL: suite.database.url,
      WORKER_POLLING_INTERVAL: '0.5',
      HTTP_PORT: String(port),
    });
    await worker.waitForLog(/Started with polling interval 0.5s/);
    await until(listening, 10_000, 'the LISTEN session to appear');

    // Keep the listener down: terminate every LISTEN session as soon as it shows up, for ~3 s.
    const deadline = Date.now() + 3000;
    let sawNotReady = '';
    let insertedAt = 0;
    while (Date.now() < deadline) {
      await killListener();
      if (insertedAt === 0 && worker.lines.some((line) => /^LISTEN connection lost/.test(line.msg))) {
        const response = await fetch(`http://127.0.0.1:${port}/readyz`);
        if (response.status === 503) sawNotReady = JSON.stringify(await response.json());
        insertedAt = Date.now();
        await insertDueNow('/while-down');
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(sawNotReady).toMatch(/LISTEN connection down/);
    // Picked up by polling (every 0.5 s) although the listener was down for most of that time.
    await until(() => suite.receiver.to('/while-down').length === 1, 10_000, 'delivery while the listener is down');
    expect(suite.receiver.to('/while-down')[0]!.at - insertedAt).toBeLessThan(1500);

    // Left alone, it comes back and says so; readiness follows.
    await worker.waitForLog(/^LISTEN connection restored after/, 15_000);
    await until(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 10_000, 'ready again');
  });
});

describe('LISTEN connection to a server that never answers', () => {
  it('gives up each try after the connect timeout and keeps trying, not ready meanwhile', async () => {
    // Takes connections and says nothing: a hung server, or a proxy whose backend is gone.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const listener = startTaskListener({
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      logger: new RecordingLogger(),
      clock: { now: () => new Date() },
      onDue: () => undefined,
      pollIntervalMs: 5_000,
      minBackoffMs: 50,
      maxBackoffMs: 100,
      connectTimeoutMs: 200,
    });
    try {
      await until(() => sockets.length >= 3, 5_000, 'a third connection attempt');
      expect(listener.readiness()).toMatchObject({ ok: false, reason: expect.stringMatching(/^LISTEN connection down/) });
    } finally {
      await listener.close();
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});
