import { startArrivalClock, startReceiver, type Receiver } from '../support/http-receiver.js';
import { freePort } from '../support/net.js';
import { sample } from '../support/prometheus-text.js';
import { until } from '../support/worker-process.js';
import { insertHttpBurst, useWorkerSuite } from '../support/worker-suite.js';

/** The most requests that arrived within any 1-second window. */
const busiestSecond = (times: readonly number[]): number => {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let first = 0, last = 0; last < sorted.length; last += 1) {
    while (sorted[last]! - sorted[first]! > 1000) first += 1;
    most = Math.max(most, last - first + 1);
  }
  return most;
};

describe('per-destination limits, across workers', () => {
  const suite = useWorkerSuite();
  const receivers: Pick<Receiver, 'close'>[] = [];
  afterAll(async () => Promise.all(receivers.map((receiver) => receiver.close())));

  it('10 starts per second: two workers together never send more than 10 (+1) in any second, and use no extra attempt', async () => {
    const receiver = await startArrivalClock();
    receivers.push(receiver);
    const origin = new URL(receiver.url('/')).origin;
    await insertHttpBurst(suite.db, receiver.url('/rated'), 50);
    const ports = [await freePort(), await freePort()];
    const env = { DESTINATION_LIMITS: `${origin} rate=10`, WORKER_CONCURRENCY: '20', WORKER_BATCH_SIZE: '20' };
    suite.start({ ...env, WORKER_ID: 'rated-a', HTTP_PORT: String(ports[0]) });
    suite.start({ ...env, WORKER_ID: 'rated-b', HTTP_PORT: String(ports[1]) });

    await until(async () => (await suite.db.statusCounts())['completed'] === 50, 30_000, 'all 50 tasks completed');
    const times = receiver.at('/rated');
    expect(times).toHaveLength(50);
    const sorted = [...times].sort((a, b) => a - b);
    // On failure, say when each request arrived (ms after the first), to tell a burst from jitter.
    const arrivals = JSON.stringify(sorted.map((at) => at - sorted[0]!));
    expect({ busiest: busiestSecond(times) <= 11, arrivals }).toEqual({ busiest: true, arrivals });
    // 50 starts at 10 a second take about 5 s: the limit held them back, it did not just happen to be met.
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(4_000);

    const { rows } = await suite.db.client.query<{ attempts: number; waited: number; workers: number }>(
      `SELECT max(t.attempts) AS attempts,
              (SELECT count(*)::int FROM task_events WHERE event_type = 'postponed' AND data->>'reason' = 'destination_limit') AS waited,
              (SELECT count(DISTINCT worker_id)::int FROM task_events WHERE event_type = 'completed') AS workers
         FROM scheduled_tasks AS t`,
    );
    expect(rows[0]).toMatchObject({ attempts: 1, workers: 2 });
    expect(rows[0]?.waited).toBeGreaterThan(0);
    // The wait shows in /metrics: postponements and the time they put tasks off for, of both workers.
    let postponed = 0;
    let seconds = 0;
    for (const port of ports) {
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      postponed += sample(metrics, 'at_worker_tasks_postponed_total', { reason: 'destination_limit' }) ?? 0;
      seconds += sample(metrics, 'at_worker_tasks_postponed_seconds_total', { reason: 'destination_limit' }) ?? 0;
    }
    expect(postponed).toBe(rows[0]?.waited);
    expect(seconds).toBeGreaterThan(1);
  });

  it('1,000 starts a second from spare starts: two workers keep to it, the receiver seeing at most 1,050 in a second', async () => {
    const receiver = await startArrivalClock();
    receivers.push(receiver);
    const origin = new URL(receiver.url('/')).origin;
    await insertHttpBurst(suite.db, receiver.url('/fast'), 3_000);
    const env = {
      DESTINATION_LIMITS: `${origin} rate=1000`,
      WORKER_CONCURRENCY: '50',
      WORKER_BATCH_SIZE: '50',
      DESTINATION_MAX_SHARE: '1',
    };
    suite.start({ ...env, WORKER_ID: 'fast-a' });
    suite.start({ ...env, WORKER_ID: 'fast-b' });

    const fast = async () =>
      (
        await suite.db.client.query<{ completed: number; attempts: number }>(
          `SELECT count(*) FILTER (WHERE status = 'completed')::int AS completed, max(attempts) AS attempts
             FROM scheduled_tasks WHERE payload->>'url' = $1`,
          [receiver.url('/fast')],
        )
      ).rows[0]!;
    await until(async () => (await fast()).completed === 3_000, 60_000, 'all 3,000 tasks completed');
    const times = receiver.at('/fast');
    expect(times).toHaveLength(3_000);
    // The starts keep any second at 1,000 (+1); what reaches the receiver also carries the jitter
    // between a start and its arrival (tens of ms on a loaded machine), times the rate.
    expect(busiestSecond(times)).toBeLessThanOrEqual(1_050);
    // Held back to the rate: 3,000 starts at 1,000 a second take about 3 s.
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(2_000);
    expect((await fast()).attempts).toBe(1);
  }, 90_000);

  it('3 in flight: two workers together never hold more than 3 requests open at the receiver', async () => {
    let open = 0;
    let mostOpen = 0;
    const receiver = await startReceiver({
      '/slow': (_request, response) => {
        open += 1;
        mostOpen = Math.max(mostOpen, open);
        setTimeout(() => {
          open -= 1;
          response.writeHead(200).end();
        }, 300);
      },
    });
    receivers.push(receiver);
    await insertHttpBurst(suite.db, receiver.url('/slow'), 20);
    // The rule matches by host suffix: the receiver's host is 127.0.0.1, so the rule names that.
    const env = { DESTINATION_LIMITS: '.127.0.0.1 in_flight=3; * rate=1000', WORKER_CONCURRENCY: '10', DESTINATION_MAX_SHARE: '1' };
    suite.start({ ...env, WORKER_ID: 'narrow-a' });
    suite.start({ ...env, WORKER_ID: 'narrow-b' });

    const done = async () =>
      (
        await suite.db.client.query<{ n: number; attempts: number }>(
          `SELECT count(*)::int AS n, max(attempts) AS attempts FROM scheduled_tasks WHERE status = 'completed' AND payload->>'url' = $1`,
          [receiver.url('/slow')],
        )
      ).rows[0]!;
    await until(async () => (await done()).n === 20, 40_000, 'all 20 tasks completed');
    expect(receiver.to('/slow')).toHaveLength(20);
    expect(mostOpen).toBe(3);
    expect((await done()).attempts).toBe(1);
  });
});
