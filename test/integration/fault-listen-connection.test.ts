import { until, type WorkerProcess } from '../support/worker-process.js';
import { useWorkerSuite } from '../support/worker-suite.js';
import { databaseName, isRunning, sleep, terminateBackends } from './fault-helpers.js';

// Polling so slow that only a NOTIFY can explain a task picked up within a couple of seconds.
const POLL_SECONDS = 60;

/**
 * The LISTEN connection is a single long-lived session outside the pool; killing it must not kill
 * the worker, and the worker must LISTEN again by itself — otherwise every new task waits a whole
 * polling interval from then on, silently.
 */
describe('LISTEN connection killed', () => {
  const suite = useWorkerSuite();
  let worker: WorkerProcess;

  beforeAll(async () => {
    worker = suite.start({ LOG_LEVEL: 'debug', WORKER_ID: 'listener', WORKER_POLLING_INTERVAL: String(POLL_SECONDS) });
    await worker.waitForLog(/Started with polling interval/);
  });

  const pickedUpPromptly = async (path: string) => {
    const id = await suite.db.insertTask('http_callback', { url: suite.receiver.url(path), data: {} });
    await until(
      async () => (await suite.db.task(id)).status === 'completed',
      3000,
      `task for ${path} completed without waiting for a poll`,
    );
  };

  it('reconnects by itself, twice, and new tasks are picked up at once again', async () => {
    await worker.waitForLog(/Listening on channel at_worker_tasks/, 10_000);
    await pickedUpPromptly('/before');

    for (const round of [1, 2]) {
      const killed = await terminateBackends(suite.db.client, databaseName(suite.database.url));
      expect(killed).toBeGreaterThanOrEqual(1);
      await until(
        () => worker.lines.filter((line) => /^LISTEN connection restored/.test(line.msg)).length >= round,
        10_000,
        `LISTEN restored after kill ${round}`,
      );
      // The wake-up on reconnect is spent; what follows must come through the new LISTEN.
      await sleep(300);
      await pickedUpPromptly(`/after-kill-${round}`);
    }

    expect(worker.lines.filter((line) => /^LISTEN connection lost/.test(line.msg))).toHaveLength(2);
    expect(isRunning(worker.child)).toBe(true);
    expect(await worker.stop('SIGTERM')).toBe(0);
  }, 60_000);
});
