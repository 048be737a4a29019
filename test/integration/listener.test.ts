import { createServer, type Socket } from 'node:net';
import { startTaskListener } from '../../src/adapters/postgres/listener.js';
import { freePort } from '../support/net.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
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

describe('LISTEN connection that stops answering without closing', () => {
  const suite = useWorkerSuite();

  /** A listener whose connections go through a proxy the test can freeze. */
  const listenViaProxy = async (checkIntervalMs: number) => {
    const target = new URL(suite.database.url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = new URL(suite.database.url);
    viaProxy.port = String(proxy.port);
    const logger = new RecordingLogger();
    const dues: Date[] = [];
    const listener = startTaskListener({
      url: viaProxy.toString(),
      logger,
      clock: { now: () => new Date() },
      onDue: (at) => void dues.push(at),
      pollIntervalMs: 5_000,
      minBackoffMs: 50,
      maxBackoffMs: 200,
      connectTimeoutMs: 1_000,
      checkIntervalMs,
    });
    return { proxy, logger, dues, listener };
  };

  it('is found out by its liveness check, replaced, and woken by NOTIFY again', async () => {
    const { proxy, logger, dues, listener } = await listenViaProxy(200);
    try {
      await until(() => listener.readiness().ok, 5_000, 'listening');
      // The session stays open at the server and at the client: only the path between them is gone.
      proxy.freeze();
      await until(() => !listener.readiness().ok, 5_000, 'the silent connection found out');
      expect(logger.messages()).toContainEqual(expect.stringMatching(/^LISTEN connection lost: liveness check failed: .*timeout/i));
      await until(() => listener.readiness().ok, 10_000, 'listening on a new connection');

      const before = dues.length;
      await suite.db.insertTask('http_callback', { url: 'http://127.0.0.1:9/unused', data: {} });
      await until(() => dues.length > before, 3_000, 'the insert announced on the new connection');
    } finally {
      await listener.close();
      await proxy.close();
    }
  });

  it('closes within a second or two, though the server can no longer say goodbye', async () => {
    const { proxy, listener } = await listenViaProxy(60_000);
    try {
      await until(() => listener.readiness().ok, 5_000, 'listening');
      proxy.freeze();
      const closing = Date.now();
      await listener.close();
      expect(Date.now() - closing).toBeLessThan(2_500);
    } finally {
      await proxy.close();
    }
  });
});
