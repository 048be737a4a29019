import { useWorkerSuite } from '../support/worker-suite.js';
import { until } from '../support/worker-process.js';
import { runCli } from './cli-run.js';

// Small look-ahead, grace and interval so a test sees passes, misfires and catch-ups within seconds.
const SCHEDULE_ENV = { SCHEDULES_LOOKAHEAD: '2', SCHEDULES_INTERVAL: '1', SCHEDULES_MISFIRE_GRACE: '1', LOG_LEVEL: 'info' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('recurring schedules with several workers', () => {
  const suite = useWorkerSuite();

  const add = async (name: string, path: string, extra: readonly string[]) => {
    const payload = JSON.stringify({ url: suite.receiver.url(path), data: { schedule: name } });
    const args = ['schedules', 'add', '--name', name, '--cron', '* * * * * *', '--type', 'http_callback', '--payload', payload, ...extra];
    // The command runs a first pass itself, with the same settings as the workers.
    const result = await runCli(args, { env: { DATABASE_URL: suite.database.url, ...SCHEDULE_ENV } });
    expect(result).toMatchObject({ code: 0, stderr: '' });
  };

  const tasksOf = async (name: string) =>
    (
      await suite.db.client.query<{ occurrence: number; created_late: boolean; status: string; lateness_ms: number | null }>(
        `SELECT extract(epoch FROM t.occurrence_at)::float8 AS occurrence, t.status,
                t.created_at > t.occurrence_at + interval '1 second' AS created_late,
                (extract(epoch FROM t.locked_at - t.execute_at) * 1000)::float8 AS lateness_ms
           FROM scheduled_tasks AS t
          WHERE t.occurrence_at IS NOT NULL
            AND (SELECT data->>'schedule' FROM task_events WHERE task_id = t.id AND seq = 1) = $1
          ORDER BY t.occurrence_at`,
        [name],
      )
    ).rows;

  it('an every-second schedule for 30 s with 3 workers makes exactly 30 tasks: none twice, none missing', async () => {
    await add('tick', '/tick', ['--misfire', 'skip']);
    const workers = [1, 2, 3].map((n) => suite.start({ ...SCHEDULE_ENV, WORKER_ID: `w${n}` }));
    await Promise.all(workers.map((worker) => worker.waitForLog(/\[Schedules\] Started/)));
    const from = Math.ceil(Date.now() / 1000) + 1;
    const to = from + 30;
    await sleep((to + 1) * 1000 - Date.now());
    const completedInWindow = async () =>
      (await tasksOf('tick')).filter((t) => t.occurrence >= from && t.occurrence < to && t.status === 'completed').length;
    await until(async () => (await completedInWindow()) >= 30, 20_000, '30 completed tasks');
    await Promise.all(workers.map((worker) => worker.stop('SIGTERM')));

    const all = await tasksOf('tick');
    const window = all.filter((task) => task.occurrence >= from && task.occurrence < to).map((task) => task.occurrence);
    expect(window).toEqual(Array.from({ length: 30 }, (_, i) => from + i));
    // Each executed task called the endpoint once: as many requests as completed tasks, all of them.
    const completed = all.filter((task) => task.status === 'completed').length;
    expect(suite.receiver.to('/tick')).toHaveLength(completed);
    // No occurrence was made after its instant: all of them were made ahead, none were missed.
    expect(all.filter((task) => task.created_late)).toEqual([]);
    // Measured over the window: before it, occurrences due while the workers were starting ran late by design.
    const inWindow = all.filter((task) => task.occurrence >= from && task.occurrence < to);
    const lateness = inWindow.flatMap((task) => (task.lateness_ms === null ? [] : [task.lateness_ms])).sort((a, b) => a - b);
    const at = (share: number) => lateness[Math.min(lateness.length - 1, Math.floor(lateness.length * share))]?.toFixed(1);
    process.stdout.write(`claim lateness over ${lateness.length} tasks: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms\n`);
  }, 90_000);

  it('a worker stopped for 10 s: skip runs none of the missed, latest-once the latest, all the latest `limit`', async () => {
    await add('skip', '/skip', ['--misfire', 'skip']);
    await add('latest', '/latest', ['--misfire', 'latest-once']);
    await add('all', '/all', ['--misfire', 'all', '--misfire-limit', '3']);
    const first = suite.start({ ...SCHEDULE_ENV, WORKER_ID: 'before' });
    await first.waitForLog(/\[Schedules\] Started/);
    await sleep(3000);
    await first.stop('SIGTERM');
    const stoppedAt = Date.now() / 1000;
    await sleep(10_000);
    const second = suite.start({ ...SCHEDULE_ENV, WORKER_ID: 'after' });
    await second.waitForLog(/\[Schedules\] Started/);
    await sleep(3000);
    await second.stop('SIGTERM');

    const skippedOf = async (name: string) =>
      (
        await suite.db.client.query<{ data: { reason: string; occurrences: string[]; count: number } }>(
          `SELECT data FROM schedule_events WHERE schedule_name = $1 AND event_type = 'occurrences_skipped'`,
          [name],
        )
      ).rows.flatMap((row) => row.data.occurrences.map((at) => Date.parse(at) / 1000));
    for (const [name, lateRuns] of [
      ['skip', 0],
      ['latest', 1],
      ['all', 3],
    ] as const) {
      const tasks = await tasksOf(name);
      // Occurrences due before the first worker's first pass are missed too; this test is about the stop.
      const skipped = (await skippedOf(name)).filter((at) => at > stoppedAt);
      const skippedAtStart = (await skippedOf(name)).filter((at) => at <= stoppedAt);
      const made = tasks.map((task) => task.occurrence);
      // Every occurrence from the first to the last is accounted for exactly once: a task, or a
      // recorded skip with its reason.
      const first = Math.min(...made, ...skipped, ...skippedAtStart);
      const last = Math.max(...made, ...skipped);
      const accounted = [...made, ...skipped, ...skippedAtStart].sort((a, b) => a - b);
      expect(accounted).toEqual(Array.from({ length: last - first + 1 }, (_, i) => first + i));
      // About 10 s missed, less the look-ahead made before the stop and the grace after the start: at
      // least 5 missed occurrences, so `all` with a limit of 3 both runs and skips some.
      expect(skipped.length + lateRuns).toBeGreaterThanOrEqual(5);
      expect(tasks.filter((task) => task.created_late && task.occurrence > stoppedAt).map((task) => task.occurrence)).toEqual(
        lateRuns === 0 ? [] : Array.from({ length: lateRuns }, (_, i) => Math.max(...skipped) + 1 + i),
      );
    }
    const reasons = await suite.db.client.query(
      `SELECT DISTINCT data->>'reason' AS reason FROM schedule_events WHERE event_type = 'occurrences_skipped'`,
    );
    expect(reasons.rows).toEqual([{ reason: 'misfire' }]);
  }, 90_000);
});
