import { FAST_ENV, spawnWorker, until, type WorkerProcess } from '../support/worker-process.js';
import { useWorkerSuite } from '../support/worker-suite.js';

/**
 * A task runs when it is due, not when the next poll happens to come round. The worker polls only
 * every 30 s here, so anything it picks up within a few seconds was found by a wake-up: NOTIFY from
 * the INSERT trigger, the due timer, or the look-ahead when the loop went idle. These check that the
 * wake-ups work, with margins far wider than their real latency; they are not a benchmark.
 */
describe('punctuality with a 30 s polling interval', () => {
  const suite = useWorkerSuite();
  let worker: WorkerProcess | undefined;

  afterEach(async () => {
    await worker?.stop('SIGKILL');
    worker = undefined;
  });

  const startIdleWorker = async () => {
    worker = spawnWorker({ ...FAST_ENV, LOG_LEVEL: 'info', DATABASE_URL: suite.database.url, WORKER_POLLING_INTERVAL: '30' });
    await worker.waitForLog(/Started with polling interval 30s/);
    // Let the first (empty) claim and the LISTEN connection settle: from here on the next poll is ~30 s away.
    await new Promise((resolve) => setTimeout(resolve, 500));
    return worker;
  };

  /** Inserts a task due `inMs` from the database's now; returns its id and execute_at in epoch ms. */
  const insertDueIn = async (path: string, inMs: number) => {
    const result = await suite.db.client.query<{ id: string; due: string }>(
      `INSERT INTO scheduled_tasks (task_type, payload, execute_at)
       VALUES ('http_callback', jsonb_build_object('url', $1::text, 'data', '{}'::jsonb), now() + make_interval(secs => $2))
       RETURNING id, (extract(epoch FROM execute_at) * 1000)::bigint AS due`,
      [suite.receiver.url(path), inMs / 1000],
    );
    return { id: result.rows[0]!.id, due: Number(result.rows[0]!.due) };
  };

  const arrivalAt = async (path: string, timeoutMs: number): Promise<number> => {
    await until(() => suite.receiver.to(path).length > 0, timeoutMs, `a request to ${path}`);
    return suite.receiver.to(path)[0]!.at;
  };

  it('runs a task due in 2 s at its time, long before the next poll', async () => {
    await startIdleWorker();
    const { id, due } = await insertDueIn('/in-2s', 2000);
    const at = await arrivalAt('/in-2s', 10_000);
    // Never early (due by the database's clock, which is this machine's), and within 1.5 s of due.
    expect(at).toBeGreaterThanOrEqual(due - 5);
    expect(at - due).toBeLessThan(1500);
    await until(async () => (await suite.db.task(id)).status === 'completed', 5000, 'task completed');
  });

  it('wakes an idle worker at once for a task inserted due now', async () => {
    await startIdleWorker();
    const inserted = Date.now();
    await insertDueIn('/now', 0);
    const at = await arrivalAt('/now', 10_000);
    expect(at - inserted).toBeLessThan(1500);
  });

  it('finds by look-ahead a task that was scheduled before the worker started', async () => {
    // No notification reaches a worker that was not listening yet: its first idle claim looks ahead.
    const { due } = await insertDueIn('/before-start', 3000);
    await startIdleWorker();
    const at = await arrivalAt('/before-start', 10_000);
    expect(at).toBeGreaterThanOrEqual(due - 5);
    expect(at - due).toBeLessThan(1500);
  });

  it('keeps the right order when later tasks are announced before earlier ones', async () => {
    await startIdleWorker();
    // The timer holds only the earliest time it knows; the look-ahead after each run finds the next.
    const late = await insertDueIn('/order-late', 2500);
    const early = await insertDueIn('/order-early', 1500);
    const earlyAt = await arrivalAt('/order-early', 10_000);
    const lateAt = await arrivalAt('/order-late', 10_000);
    expect(earlyAt - early.due).toBeLessThan(1500);
    expect(lateAt - late.due).toBeLessThan(1500);
    expect(lateAt).toBeGreaterThanOrEqual(late.due - 5);
  });
});
