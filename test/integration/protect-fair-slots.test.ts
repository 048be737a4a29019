import { startReceiver, type Receiver } from '../support/http-receiver.js';
import { freePort } from '../support/net.js';
import { sample } from '../support/prometheus-text.js';
import { until } from '../support/worker-process.js';
import { insertHttpBurst, useWorkerSuite } from '../support/worker-suite.js';

/**
 * Fair slots: one destination that hangs must not hold every slot of a worker. The hanging receiver
 * and the healthy one are two origins (two ports), so two destinations.
 */
describe('fair slots between destinations', () => {
  const suite = useWorkerSuite();
  let hanging: Receiver;
  let healthy: Receiver;

  beforeAll(async () => {
    // Never answers: each request holds its slot until HTTP_TIMEOUT, far beyond this test.
    hanging = await startReceiver({ '/hang': () => undefined });
    healthy = await startReceiver();
  });
  afterAll(async () => {
    await hanging.close();
    await healthy.close();
  });

  it("a hanging destination holds at most its share of the slots while the healthy one's tasks complete", async () => {
    // The hanging destination's tasks are older, so they are claimed first. Its waiting tasks are
    // given back once it is slow (a request open 5 s), so the healthy ones get claimed.
    await insertHttpBurst(suite.db, hanging.url('/hang'), 20);
    await suite.db.client.query(`UPDATE scheduled_tasks SET execute_at = now() - interval '1 minute'`);
    await insertHttpBurst(suite.db, healthy.url('/ok'), 30);
    const httpPort = await freePort();
    suite.start({ WORKER_CONCURRENCY: '4', DESTINATION_MAX_SHARE: '0.5', HTTP_TIMEOUT: '120', HTTP_PORT: String(httpPort) });

    await until(
      async () => (await suite.db.statusCounts())['completed'] === 30,
      60_000,
      "all 30 of the healthy destination's tasks completed",
    );
    const counts = await suite.db.statusCounts();
    expect(healthy.requests).toHaveLength(30);
    // Two of the four slots: the hanging receiver has seen two requests and no more.
    expect(hanging.requests).toHaveLength(2);
    // Its other 18 wait in pending (or are being claimed and postponed again right now).
    expect((counts['pending'] ?? 0) + (counts['processing'] ?? 0)).toBe(20);

    // The others were postponed unrun, without using an attempt, and the history says why.
    const { rows } = await suite.db.client.query<{ data: Record<string, unknown>; attempts: number }>(
      `SELECT e.data, t.attempts FROM task_events AS e JOIN scheduled_tasks AS t ON t.id = e.task_id
        WHERE e.event_type = 'postponed' LIMIT 1`,
    );
    expect(rows[0]?.attempts).toBe(0);
    expect(rows[0]?.data).toMatchObject({ reason: 'fair_share', destination: new URL(hanging.url('/')).origin, attempt: 1 });
    expect(String(rows[0]?.data['detail'])).toMatch(/holds 2 of this worker's 4 slots/);
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    expect(sample(metrics, 'at_worker_tasks_postponed_total', { task_type: 'http_callback', reason: 'fair_share' })).toBeGreaterThan(0);
  }, 120_000);
});
