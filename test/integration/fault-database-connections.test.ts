import { until } from '../support/worker-process.js';
import { insertHttpBurst, useWorkerSuite } from '../support/worker-suite.js';
import { databaseName, deliveriesByWebhookId, duplicatesOf, isRunning, sleep, terminateBackends } from './fault-helpers.js';

/**
 * Every database session of two busy workers is killed (pg_terminate_backend), twice, a second
 * apart: claims, heartbeats and attempt ends in flight fail with "terminating connection due to
 * administrator command". The workers must not die, must reconnect on their own, and must not turn
 * a lost write into a second delivery.
 *
 * What "no duplicate" can honestly mean here: an attempt end whose statement failed is retried
 * (it is fenced to the claim, so a retry can never apply twice); only if every retry failed would
 * the task stay in processing until the cleaner re-runs it, and that re-run is a second delivery
 * (at-least-once, announced by a 'recovered' event). Two short kills must not get that far, so the
 * test demands zero duplicates and explains any it finds with the task's history.
 */
describe('database connections killed during a burst', () => {
  // 25 ms per callback keeps the burst of 3,000 running for seconds even on a fast machine
  // (2 workers x 10 in flight: at most 800 deliveries/s), so both kills land in the middle of it.
  const suite = useWorkerSuite({ '/burst': (_request, response) => void setTimeout(() => response.writeHead(200).end(), 25) });
  const workers = suite.workers;

  it('workers reconnect by themselves; every task completes, none is delivered twice', async () => {
    const total = 3000;
    await insertHttpBurst(suite.db, suite.receiver.url('/burst'), total);
    for (const id of ['conn-a', 'conn-b']) {
      suite.start({ LOG_LEVEL: 'info', WORKER_ID: id });
    }
    await Promise.all(workers.map((worker) => worker.waitForLog(/Started with polling interval/)));

    await until(() => suite.receiver.to('/burst').length >= total / 10, 30_000, 'burst under way');
    const firstKill = await terminateBackends(suite.db.client, databaseName(suite.database.url));
    await sleep(1000);
    const secondKill = await terminateBackends(suite.db.client, databaseName(suite.database.url));
    const deliveredBySecondKill = suite.receiver.to('/burst').length;
    // Each worker holds at least one pooled connection: both were hit, both times.
    expect(firstKill).toBeGreaterThanOrEqual(2);
    expect(secondKill).toBeGreaterThanOrEqual(2);
    // The kills landed mid-burst, not after it.
    expect(deliveredBySecondKill).toBeLessThan(total);

    await until(async () => (await suite.db.statusCounts())['completed'] === total, 90_000, 'all tasks completed');
    expect(await suite.db.statusCounts()).toEqual({ completed: total });
    for (const worker of workers) expect(isRunning(worker.child)).toBe(true);

    const deliveries = deliveriesByWebhookId(suite.receiver, '/burst');
    expect(deliveries.size).toBe(total);
    const duplicates = duplicatesOf(deliveries);
    if (duplicates.length > 0) {
      // Say why, in the failure message: each duplicate's history shows the recovery that caused it.
      const ids = duplicates.map(([webhookId]) => webhookId.replace(/^task_/, ''));
      const histories = await suite.db.client.query<{ task_id: string; history: string }>(
        `SELECT task_id, string_agg(event_type || ':' || coalesce(worker_id, '-'), ' ' ORDER BY seq) AS history
           FROM task_events WHERE task_id = ANY($1::bigint[]) GROUP BY task_id`,
        [ids],
      );
      // And what the workers said about them, and about the database, next to it.
      for (const worker of workers) {
        const said = worker.raw.filter((line) => /"level":"(warn|error)"/.test(line) || ids.some((id) => line.includes(`Task ${id}`)));
        console.log(said.slice(0, 80).join('\n'));
      }
      expect(histories.rows).toEqual([]);
    }
    expect(duplicates).toEqual([]);

    // An end whose session died while committing reads as what it was (applied), not as a result
    // "discarded" because someone else took the task: nobody else did.
    for (const worker of workers) expect(worker.lines.filter((line) => /result discarded/.test(line.msg))).toEqual([]);

    // Histories have no gaps and end in 'completed': nothing was half-written by a killed statement.
    // (A claim whose reply was lost shows as claimed, recovered, claimed, completed: the cleaner gave
    // it back after the stuck timeout, at the cost of an attempt, and it was delivered once.)
    const broken = await suite.db.client.query(
      `SELECT task_id FROM task_events GROUP BY task_id
       HAVING max(seq) <> count(*) OR (array_agg(event_type ORDER BY seq DESC))[1] <> 'completed'`,
    );
    expect(broken.rows).toEqual([]);

    // Still healthy afterwards: a new task is picked up, and both stop cleanly.
    const after = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/burst'), data: { after: true } });
    await until(async () => (await suite.db.task(after)).status === 'completed', 15_000, 'task after the kills completed');
    expect(await Promise.all(workers.map((worker) => worker.stop('SIGTERM')))).toEqual([0, 0]);
  }, 150_000);
});
