import { runCli } from './cli-run.js';
import { startReceiver, type Receiver } from '../support/http-receiver.js';
import { freePort } from '../support/net.js';
import { sample } from '../support/prometheus-text.js';
import { until } from '../support/worker-process.js';
import { useWorkerSuite } from '../support/worker-suite.js';

const CIRCUIT_ENV = {
  CIRCUIT_FAILURE_THRESHOLD: '3',
  CIRCUIT_COOL_OFF: '2',
  CIRCUIT_MAX_COOL_OFF: '20',
  // Backoff long enough that a task's second attempt comes after the circuit has opened.
  RETRY_BASE_DELAY: '1',
  RETRY_MAX_DELAY: '2',
};

/** A receiver that answers 503 until `downForMs` after its first request, then 200. */
const downFor = async (downForMs: number): Promise<Receiver> => {
  let upAt: number | null = null;
  return startReceiver({
    '/hook': (_request, response) => {
      upAt ??= Date.now() + downForMs;
      if (Date.now() < upAt) response.writeHead(503).end('down for maintenance');
      else response.writeHead(200).end('ok');
    },
  });
};

describe('circuit breaking per destination', () => {
  const suite = useWorkerSuite();
  const receivers: Receiver[] = [];
  afterAll(async () => Promise.all(receivers.map((receiver) => receiver.close())));

  const circuitHistory = async (destination: string) =>
    (
      await suite.db.client.query<{ transition: string; cause: string }>(
        `SELECT transition, cause FROM destination_circuit_events WHERE destination = $1 ORDER BY id`,
        [destination],
      )
    ).rows;

  it('a receiver down for 10 s: attempts used stay at most 2 per task, the circuit opens, probes, closes; all complete', async () => {
    const receiver = await downFor(10_000);
    receivers.push(receiver);
    const destination = new URL(receiver.url('/')).origin;
    const ids: string[] = [];
    for (let n = 0; n < 10; n += 1)
      ids.push(await suite.db.insertTask('http_callback', { url: receiver.url('/hook'), data: { n } }, { maxAttempts: 5 }));
    suite.start({ ...CIRCUIT_ENV, WORKER_ID: 'breaker-1', WORKER_CONCURRENCY: '3' });

    await until(async () => (await suite.db.statusCounts())['completed'] === 10, 60_000, 'all 10 tasks completed');
    for (const id of ids) expect((await suite.db.task(id)).attempts).toBeLessThanOrEqual(2);

    const history = await circuitHistory(destination);
    const transitions = history.map((row) => row.transition);
    expect(transitions[0]).toBe('opened');
    expect(history[0]?.cause).toMatch(/^3 consecutive failures, the last: HTTP 503: down for maintenance/);
    expect(transitions).toContain('probing');
    expect(transitions.at(-1)).toBe('closed');
    expect(history.at(-1)?.cause).toBe('the probe succeeded');
    // While open, tasks were postponed without using attempts, and their history says so.
    const { rows } = await suite.db.client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM task_events WHERE event_type = 'postponed' AND data->>'reason' = 'circuit_open'`,
    );
    expect(rows[0]?.n).toBeGreaterThan(0);
    // 10 first attempts, the failed probes, the 10 successes: far fewer calls than 10 tasks x 5 attempts.
    expect(receiver.to('/hook').length).toBeLessThanOrEqual(10 + 10 + 4);
    // Replaying each history, postponements included, gives the row as it is.
    expect(await runCli(['verify'], { env: { DATABASE_URL: suite.database.url } })).toMatchObject({ code: 0, stderr: '' });
  });

  it('one breaker shared by two workers: a worker that saw no failure postpones the tasks of a circuit another one opened', async () => {
    const receiver = await startReceiver({ '/hook': (_request, response) => void response.writeHead(503).end('overloaded') });
    receivers.push(receiver);
    const destination = new URL(receiver.url('/')).origin;
    const insert = async (count: number) => {
      for (let n = 0; n < count; n += 1)
        await suite.db.insertTask('http_callback', { url: receiver.url('/hook'), data: { n } }, { maxAttempts: 10 });
    };
    const env = { ...CIRCUIT_ENV, CIRCUIT_COOL_OFF: '30', CIRCUIT_MAX_COOL_OFF: '60' };
    await insert(5);
    suite.start({ ...env, WORKER_ID: 'shared-a', WORKER_CONCURRENCY: '2' });
    await until(async () => (await circuitHistory(destination)).length > 0, 20_000, 'the circuit opened');
    const callsBefore = receiver.to('/hook').length;

    const httpPort = await freePort();
    const b = suite.start({ ...env, WORKER_ID: 'shared-b', WORKER_CONCURRENCY: '8', HTTP_PORT: String(httpPort) });
    await b.waitForLog(/Started with polling interval/);
    await insert(20);
    const postponedBy = async (workerId: string) =>
      (
        await suite.db.client.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM task_events
          WHERE event_type = 'postponed' AND worker_id = $1 AND data->>'destination' = $2 AND data->>'reason' = 'circuit_open'`,
          [workerId, destination],
        )
      ).rows[0]?.n ?? 0;
    await until(
      async () =>
        (await suite.db.statusCounts())['processing'] === undefined &&
        (await postponedBy('shared-a')) + (await postponedBy('shared-b')) >= 20,
      20_000,
      'the new tasks postponed',
    );

    expect(await postponedBy('shared-b')).toBeGreaterThan(0);
    // Open for 30 s, whichever worker holds the task: no call reaches the receiver any more.
    expect(receiver.to('/hook')).toHaveLength(callsBefore);
    expect((await circuitHistory(destination)).map((row) => row.transition)).toEqual(['opened']);
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    expect(sample(metrics, 'at_worker_circuits_open')).toBe(1);
    expect(sample(metrics, 'at_worker_circuit_open', { destination })).toBe(1);
  });
});
