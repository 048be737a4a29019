import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import pg from 'pg';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { WORKER_HEAP_FLAGS } from '../../src/infrastructure/heap-flags.js';
import { fetchOrNull, freePort } from '../support/net.js';
import { FAST_ENV, MAIN, spawnWorker, until } from '../support/worker-process.js';
import { insertHttpBurst, useWorkerSuite } from '../support/worker-suite.js';

describe('worker process lifecycle', () => {
  const suite = useWorkerSuite(
    {
      '/one-second': (_request, response) => void setTimeout(() => response.writeHead(200).end(), 1000),
      '/forever': () => undefined,
    },
    { applySchema: false },
  );

  it("applies the schema itself and logs the seed's start-up messages", async () => {
    const worker = suite.start({ WORKER_ID: 'worker-1' });
    await worker.waitForLog(/^Successfully connected to database$/);
    await worker.waitForLog(/^\[Worker worker-1\] Started with polling interval 0.1s/);
    await worker.waitForLog(/^\[Cleaner\] Started with interval/);
    expect(await suite.db.statusCounts()).toEqual({});
    expect(worker.lines.every((line) => line['worker_id'] === 'worker-1')).toBe(true);
    expect(await worker.stop('SIGINT')).toBe(0);
    expect(worker.lines.some((line) => line.msg === 'Received signal interrupt, initiating graceful shutdown...')).toBe(true);
  });

  it('runs in the same process with the heap flags it is sized for, keeping a flag the operator set', async () => {
    const cmdline = (pid: number | undefined) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const sized = suite.start({ WORKER_ID: 'sized' });
    const operators = suite.start({ WORKER_ID: 'operators', NODE_OPTIONS: '--max-semi-space-size=32' });
    await sized.waitForLog(/Started with polling interval/);
    await operators.waitForLog(/Started with polling interval/);
    // The spawned process id runs node with the flags: the worker re-executed itself, it did not fork.
    expect(cmdline(sized.child.pid)).toEqual(expect.arrayContaining([...WORKER_HEAP_FLAGS, MAIN, 'start']));
    expect(cmdline(operators.child.pid)).toContain('--heap-growing-percent=50');
    expect(cmdline(operators.child.pid)).not.toContain('--max-semi-space-size=16');
    expect(await sized.stop('SIGTERM')).toBe(0);
    expect(await operators.stop('SIGTERM')).toBe(0);
  });

  it('on SIGTERM lets an in-flight task finish, then exits 0', async () => {
    await applySchema(suite.database.url);
    const worker = suite.start({ SHUTDOWN_TIMEOUT: '10' });
    await worker.waitForLog(/Started with polling interval/);
    const id = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/one-second'), data: {} });
    await until(() => suite.receiver.to('/one-second').length === 1, 10_000, 'delivery started');
    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(worker.lines.some((line) => line.msg === 'Received signal terminated, initiating graceful shutdown...')).toBe(true);
    expect(await suite.db.task(id)).toMatchObject({ status: 'completed', attempts: 1 });
  });

  it('on SIGHUP (its terminal went away) shuts down as on SIGTERM, letting the in-flight task finish', async () => {
    const worker = suite.start({ SHUTDOWN_TIMEOUT: '10' });
    await worker.waitForLog(/Started with polling interval/);
    const before = suite.receiver.to('/one-second').length;
    const id = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/one-second'), data: {} });
    await until(() => suite.receiver.to('/one-second').length === before + 1, 10_000, 'delivery started');
    expect(await worker.stop('SIGHUP')).toBe(0);
    expect(worker.child.signalCode).toBeNull();
    expect(worker.lines.map((line) => line.msg)).toContain('Received signal hangup, initiating graceful shutdown...');
    expect(worker.lines.at(-1)?.msg).toBe('Shutdown complete');
    expect(await suite.db.task(id)).toMatchObject({ status: 'completed', attempts: 1 });
  });

  it('shuts down gracefully on a SIGTERM sent the moment it says it started', async () => {
    // The signal races the start-up: it must find a handler however early it comes (three tries;
    // a worker that added its handlers only after starting died of the signal in 37 of 40).
    for (const id of ['early-1', 'early-2', 'early-3']) {
      const worker = suite.start({ WORKER_ID: id });
      worker.child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString('utf8').includes('Started with polling interval')) worker.child.kill('SIGTERM');
      });
      expect({ id, exit: await worker.exited, signal: worker.child.signalCode }).toEqual({ id, exit: 0, signal: null });
      expect(worker.lines.at(-1)?.msg).toBe('Shutdown complete');
    }
  });

  it('on SIGTERM while still retrying the database connection, stops at once with exit 0 and claims nothing', async () => {
    const worker = spawnWorker({ ...FAST_ENV, DB_HOST: '127.0.0.1', DB_PORT: '1', DB_CONNECT_TIMEOUT: '60' });
    await worker.waitForLog(/^Failed to connect to database/);
    const stopped = Date.now();
    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(Date.now() - stopped).toBeLessThan(3000);
    expect(worker.lines.map((line) => line.msg).filter((msg) => !msg.startsWith('Failed to connect'))).toEqual([
      'Received signal terminated, initiating graceful shutdown...',
      'Shutdown complete',
    ]);
  });

  it('on SIGTERM while waiting for the migration lock another process holds, stops at once; no health listener yet', async () => {
    const holder = new pg.Client({ connectionString: suite.database.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT pg_advisory_xact_lock(hashtext('at-worker:migrate'))`);
      const port = await freePort();
      const worker = suite.start({ HTTP_PORT: String(port) });
      await worker.waitForLog(/^Successfully connected to database$/);
      // Blocked on the lock: nothing answers health checks, which would call a worker that cannot work alive.
      await until(
        async () =>
          (
            await holder.query<{ waiting: number }>(
              `SELECT count(*)::int AS waiting FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`,
            )
          ).rows[0]!.waiting === 1,
        10_000,
        'the worker waits for the lock',
      );
      expect(await fetchOrNull(`http://127.0.0.1:${port}/healthz`)).toBeNull();
      const stopped = Date.now();
      expect(await worker.stop('SIGTERM')).toBe(0);
      expect(Date.now() - stopped).toBeLessThan(3000);
      expect(worker.lines.map((line) => line.msg).slice(-2)).toEqual([
        'Received signal terminated, initiating graceful shutdown...',
        'Shutdown complete',
      ]);
      expect(worker.lines.some((line) => line.msg.startsWith('[Health]'))).toBe(false);
    } finally {
      await holder.end();
    }
  });

  it('counts a task still running at SHUTDOWN_TIMEOUT as an attempt, so restarts cannot re-deliver it for ever', async () => {
    const worker = suite.start({ SHUTDOWN_TIMEOUT: '0.5' });
    await worker.waitForLog(/Started with polling interval/);
    const id = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/forever'), data: {} });
    await until(() => suite.receiver.to('/forever').length === 1, 10_000, 'delivery started');
    const stopped = Date.now();
    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(Date.now() - stopped).toBeLessThan(5000);
    expect(await suite.db.task(id)).toMatchObject({ status: 'pending', attempts: 1, locked_by: null });
    expect((await suite.db.events(id)).map((event) => event.event_type)).toEqual(['scheduled', 'claimed', 'retry_scheduled']);
  });

  it('refuses bad configuration with one line naming the variable, exit code 2', async () => {
    const worker = spawnWorker({ DATABASE_URL: suite.database.url, WORKER_BATCH_SIZE: 'lots', DB_PASSWORD: 'canary-pw-123' });
    expect(await worker.exited).toBe(2);
    expect(worker.stderr()).toBe('Invalid configuration: WORKER_BATCH_SIZE must be a positive integer (got "lots")\n');
    expect(worker.raw).toEqual([]);
  });

  it('refuses an unknown argument to start, exit code 2', async () => {
    const worker = spawnWorker({ DATABASE_URL: suite.database.url }, ['start', '--bogus']);
    expect(await worker.exited).toBe(2);
    expect(worker.stderr()).toBe('at-worker start: unknown argument --bogus (see at-worker start --help)\n');
  });

  it('names HTTP_PORT when the health port is taken, as by a second worker on the same host', async () => {
    const holder = createServer();
    await new Promise<void>((done) => holder.listen(0, done));
    try {
      const worker = suite.start({ HTTP_PORT: String((holder.address() as AddressInfo).port) });
      expect(await worker.exited).toBe(1);
      expect(worker.lines.map((line) => line.msg)).toContainEqual(
        expect.stringMatching(/^Health server could not listen on port \d+: .*EADDRINUSE.*; set HTTP_PORT to a free port/),
      );
    } finally {
      holder.close();
    }
  });

  it('warns at start-up when autovacuum is off, and starts its maintenance pass with the retention in force', async () => {
    await applySchema(suite.database.url);
    await suite.db.client.query('ALTER TABLE scheduled_tasks SET (autovacuum_enabled = false)');
    try {
      const worker = suite.start({ TASK_RETENTION: '7d', TASK_RETENTION_FAILED: 'forever' });
      // The server's own setting is named first when it is off (as on the test server); otherwise the table.
      const warning = await worker.waitForLog(/^Autovacuum is off (on the PostgreSQL server|for scheduled_tasks)/);
      expect(warning).toMatchObject({ level: 'warn' });
      await worker.waitForLog(/^\[Maintenance\] Started with interval 60 s, retention completed and cancelled kept 7d, failed forever$/);
      expect(await worker.stop()).toBe(0);
    } finally {
      await suite.db.client.query('ALTER TABLE scheduled_tasks RESET (autovacuum_enabled)');
    }
  });

  it('says at start-up that SMTP_HOST without EMAIL_FROM fails every email that names no sender', async () => {
    const worker = suite.start({ SMTP_HOST: '127.0.0.1', SMTP_PORT: '1' });
    const warning = await worker.waitForLog(/^SMTP_HOST is set but EMAIL_FROM is not/);
    expect(warning).toMatchObject({ level: 'warn', msg: expect.stringContaining('set EMAIL_FROM to a default sender') });
    expect(await worker.stop()).toBe(0);
  });

  it('says it cannot reach the database, without the password, and exits 1', async () => {
    const worker = spawnWorker({ DB_HOST: '127.0.0.1', DB_PORT: '1', DB_PASSWORD: 'canary-pw-123', DB_CONNECT_TIMEOUT: '0.5' });
    expect(await worker.exited).toBe(1);
    const all = worker.raw.join('\n') + worker.stderr();
    expect(all).toContain('Failed to connect to database');
    expect(all).not.toContain('canary-pw-123');
  }, 60_000);
});

describe('worker process shutdown with tasks claimed ahead', () => {
  const suite = useWorkerSuite({
    '/one-second': (_request, response) => void setTimeout(() => response.writeHead(200).end(), 1000),
  });

  it('on SIGTERM releases tasks claimed ahead (WORKER_PREFETCH) without sending them', async () => {
    // All four are due before the worker starts, so its first claim takes them: one runs, three wait.
    await insertHttpBurst(suite.db, suite.receiver.url('/one-second'), 4);
    const worker = suite.start({ SHUTDOWN_TIMEOUT: '10', WORKER_CONCURRENCY: '1', WORKER_BATCH_SIZE: '4', WORKER_PREFETCH: '3' });
    await until(() => suite.receiver.to('/one-second').length === 1, 10_000, 'first delivery started');
    expect(await suite.db.statusCounts()).toEqual({ processing: 4 });
    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(suite.receiver.to('/one-second')).toHaveLength(1);
    const rows = await suite.db.client.query<{ id: string; status: string; attempts: number; locked_by: string | null }>(
      'SELECT id, status, attempts, locked_by FROM scheduled_tasks ORDER BY id',
    );
    expect(rows.rows.map((row) => row.status).sort()).toEqual(['completed', 'pending', 'pending', 'pending']);
    for (const row of rows.rows.filter((candidate) => candidate.status === 'pending')) {
      expect(row).toMatchObject({ attempts: 0, locked_by: null });
      expect((await suite.db.events(row.id)).map((event) => event.event_type)).toEqual(['scheduled', 'claimed', 'released']);
    }
  });
});
