import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useWorkerSuite } from '../support/worker-suite.js';
import { until } from '../support/worker-process.js';
import { runCli } from './cli-run.js';

const SCHEDULE_ENV = { SCHEDULES_LOOKAHEAD: '2', SCHEDULES_INTERVAL: '0.5', SCHEDULES_MISFIRE_GRACE: '1', LOG_LEVEL: 'info' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a schedule’s life: pause, resume, remove, run-now, overlap, SCHEDULES_FILE', () => {
  const suite = useWorkerSuite({
    // Answers after 2.5 s: an every-second schedule's task is still running at the next occurrences.
    '/slow': (_request, response) => void setTimeout(() => response.writeHead(200).end('ok'), 2500),
  });
  const cli = (args: readonly string[]) => runCli(args, { env: { DATABASE_URL: suite.database.url, ...SCHEDULE_ENV } });
  const payload = (path: string) => JSON.stringify({ url: suite.receiver.url(path), data: {} });
  const add = async (name: string, path: string, extra: readonly string[] = []) =>
    expect(
      await cli([
        'schedules',
        'add',
        '--name',
        name,
        '--cron',
        '* * * * * *',
        '--type',
        'http_callback',
        '--payload',
        payload(path),
        ...extra,
      ]),
    ).toMatchObject({ code: 0 });
  const query = async <R extends object>(text: string, values: unknown[] = []) => (await suite.db.client.query<R>(text, values)).rows;
  const tasksOf = (name: string) =>
    query<{ id: string; status: string; occurrence: Date | null; locked_at: Date | null; completed_at: Date | null }>(
      `SELECT t.id, t.status, t.occurrence_at AS occurrence, t.locked_at, t.completed_at
         FROM scheduled_tasks AS t JOIN task_events AS e ON e.task_id = t.id AND e.seq = 1
        WHERE e.data->>'schedule' = $1 ORDER BY t.id`,
      [name],
    );
  const eventsOf = async (name: string) =>
    (
      await query<{ event_type: string; actor: string }>(
        'SELECT event_type, actor FROM schedule_events WHERE schedule_name = $1 ORDER BY id',
        [name],
      )
    )
      .filter((event) => event.event_type !== 'occurrences_skipped')
      .map((event) => `${event.event_type} by ${event.actor}`);

  it('refuses a bad expression or zone with exit 2 and stores nothing', async () => {
    for (const extra of [
      ['--cron', '61 * * * *'],
      ['--cron', '* * * * *', '--tz', 'Europe/Atlantis'],
      ['--cron', '0 0 0 1 1 * 2030'],
    ]) {
      const result = await cli(['schedules', 'add', '--name', 'bad', '--type', 'http_callback', '--payload', payload('/x'), ...extra]);
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(await query('SELECT name FROM schedules')).toEqual([]);
    expect(await query('SELECT id FROM schedule_events')).toEqual([]);
  });

  it('pause cancels the tasks made ahead and stops occurrences; resume starts again from now', async () => {
    await add('pulse', '/pulse');
    suite.start({ ...SCHEDULE_ENV });
    await until(async () => (await tasksOf('pulse')).filter((task) => task.status === 'completed').length >= 2, 20_000, 'two runs');
    expect(await cli(['schedules', 'pause', 'pulse'])).toMatchObject({ code: 0, stdout: 'Schedule pulse paused\n' });
    const pausedAt = new Date();
    await sleep(3000);
    const duringPause = (await tasksOf('pulse')).filter((task) => task.occurrence !== null && task.occurrence > pausedAt);
    // Made ahead before the pause, then cancelled with it; none runs.
    expect(duringPause.length).toBeGreaterThan(0);
    expect(duringPause.every((task) => task.status === 'cancelled')).toBe(true);
    const cancelledEvents = await query<{ data: unknown }>(
      `SELECT data FROM task_events WHERE event_type = 'cancelled' AND task_id = ANY($1::bigint[])`,
      [duringPause.map((task) => task.id)],
    );
    expect(cancelledEvents).toEqual(duringPause.map(() => ({ data: { reason: 'schedule paused' } })));
    expect((await cli(['schedules', 'show', 'pulse'])).stdout).toContain('none while paused');

    expect(await cli(['schedules', 'resume', 'pulse'])).toMatchObject({ code: 0, stdout: 'Schedule pulse resumed\n' });
    const resumedAt = new Date();
    await until(
      async () =>
        (await tasksOf('pulse')).some((task) => (task.occurrence?.getTime() ?? 0) > resumedAt.getTime() && task.status === 'completed'),
      20_000,
      'a run after resume',
    );
    expect(await eventsOf('pulse')).toEqual(['created by cli', 'paused by cli', 'resumed by cli']);
    const show = await cli(['schedules', 'show', 'pulse']);
    expect(show.stdout).toMatch(/Next occurrences:\n( {2}\d{4}-\S+Z\n){5}/);
    expect(show.stdout).toMatch(/Last occurrences:\n {2}OCCURRENCE +TASK +STATUS\n/);
  }, 60_000);

  it('remove keeps the tasks, their history and the schedule’s events; run-now makes a task outside the calendar', async () => {
    await add('gone', '/gone');
    const now = await cli(['schedules', 'run-now', 'gone']);
    expect(now).toMatchObject({ code: 0 });
    const ranNow = await query<{ data: Record<string, unknown> }>(`SELECT data FROM task_events WHERE task_id = $1 AND seq = 1`, [
      now.stdout.trim(),
    ]);
    expect(ranNow[0]?.data).toMatchObject({ schedule: 'gone' });
    expect(ranNow[0]?.data).not.toHaveProperty('occurrence_at');
    suite.start({ ...SCHEDULE_ENV });
    await until(async () => (await tasksOf('gone')).filter((task) => task.status === 'completed').length >= 3, 20_000, 'three runs');
    expect(await cli(['schedules', 'remove', 'gone'])).toMatchObject({ code: 0 });
    const removedAt = new Date();
    const before = await tasksOf('gone');
    await sleep(2000);
    const after = await tasksOf('gone');
    expect(after.map((task) => task.id)).toEqual(before.map((task) => task.id));
    expect(after.filter((task) => task.occurrence !== null && task.occurrence > removedAt && task.status !== 'cancelled')).toEqual([]);
    expect(after.filter((task) => task.status === 'completed').length).toBeGreaterThanOrEqual(3);
    expect(await eventsOf('gone')).toEqual(['created by cli', 'run_now by cli', 'removed by cli']);
    expect((await cli(['schedules', 'list'])).stdout).not.toContain('gone');
    const show = await cli(['schedules', 'show', 'gone']);
    expect(show).toMatchObject({ code: 0 });
    expect(show.stdout).toContain('Schedule gone: removed');
    // Every history, the look-ahead tasks the pause and the removal cancelled included, replays to its row.
    expect(await cli(['verify'])).toMatchObject({ code: 0 });
    expect(await cli(['schedules', 'pause', 'gone'])).toMatchObject({
      code: 1,
      stderr: 'at-worker schedules pause: no schedule named gone\n',
    });
  }, 60_000);

  it('overlap skip: an occurrence is skipped while the previous task runs, and each skip is recorded', async () => {
    await add('slow', '/slow', ['--overlap', 'skip', '--misfire', 'skip']);
    suite.start({ ...SCHEDULE_ENV });
    await until(async () => (await tasksOf('slow')).filter((task) => task.status === 'completed').length >= 2, 30_000, 'two slow runs');
    const runs = (await tasksOf('slow')).filter((task) => task.status === 'completed');
    for (let i = 1; i < runs.length; i += 1) {
      expect((runs[i]?.locked_at as Date).getTime()).toBeGreaterThanOrEqual((runs[i - 1]?.completed_at as Date).getTime());
    }
    const skips = await query<{ reason: string; count: number }>(
      `SELECT data->>'reason' AS reason, (data->>'count')::int AS count
         FROM schedule_events WHERE schedule_name = 'slow' AND event_type = 'occurrences_skipped'`,
    );
    expect(skips.filter((skip) => skip.reason === 'overlap').length).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('SCHEDULES_FILE: applied at start-up, the file wins for its names, what it drops is removed, CLI schedules stay', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'atw-schedules-'));
    const file = join(folder, 'schedules.yaml');
    try {
      await add('by-hand', '/by-hand');
      await add('taken-over', '/by-hand');
      writeFileSync(
        file,
        `schedules:
  - name: report
    cron: "0 9 * * 1-5"
    time_zone: Europe/Berlin
    task_type: http_callback
    payload: { url: "${suite.receiver.url('/report')}", data: {} }
  - name: cleanup
    cron: "0 3 * * *"
    task_type: http_callback
    payload: { url: "${suite.receiver.url('/cleanup')}", data: {} }
    misfire: skip
  - name: taken-over
    cron: "0 4 * * *"
    task_type: http_callback
    payload: { url: "${suite.receiver.url('/cleanup')}", data: {} }
`,
      );
      const first = suite.start({ ...SCHEDULE_ENV, SCHEDULES_FILE: file });
      await first.waitForLog(/Applied .*: 2 created, 1 changed, 0 unchanged, 0 removed/);
      await first.stop('SIGTERM');
      const stored = async () =>
        query<{ name: string; cron: string; time_zone: string; origin: string; misfire: string }>(
          `SELECT name, cron, time_zone, origin, misfire FROM schedules
            WHERE name IN ('report', 'cleanup', 'taken-over', 'by-hand', 'weekly') ORDER BY name`,
        );
      expect(await stored()).toEqual([
        { name: 'by-hand', cron: '* * * * * *', time_zone: 'UTC', origin: 'cli', misfire: 'latest-once' },
        { name: 'cleanup', cron: '0 3 * * *', time_zone: 'UTC', origin: 'file', misfire: 'skip' },
        { name: 'report', cron: '0 9 * * 1-5', time_zone: 'Europe/Berlin', origin: 'file', misfire: 'latest-once' },
        { name: 'taken-over', cron: '0 4 * * *', time_zone: 'UTC', origin: 'file', misfire: 'latest-once' },
      ]);
      expect(await cli(['schedules', 'remove', 'cleanup'])).toMatchObject({ code: 1 });

      // The file changes: report moves to 10:00, cleanup is dropped, weekly is new (JSON this time).
      writeFileSync(
        file,
        JSON.stringify([
          {
            name: 'report',
            cron: '0 10 * * 1-5',
            time_zone: 'Europe/Berlin',
            task_type: 'http_callback',
            payload: { url: suite.receiver.url('/report'), data: {} },
          },
          { name: 'taken-over', cron: '0 4 * * *', task_type: 'http_callback', payload: { url: suite.receiver.url('/cleanup'), data: {} } },
          {
            name: 'weekly',
            cron: '0 0 * * 0',
            task_type: 'http_callback',
            payload: { url: suite.receiver.url('/weekly'), data: {} },
            overlap: 'skip',
          },
        ]),
      );
      const second = suite.start({ ...SCHEDULE_ENV, SCHEDULES_FILE: file });
      await second.waitForLog(/Applied .*: 1 created, 1 changed, 1 unchanged, 1 removed/);
      await second.stop('SIGTERM');
      expect((await stored()).map((row) => `${row.name} ${row.cron} ${row.origin}`)).toEqual([
        'by-hand * * * * * * cli',
        'report 0 10 * * 1-5 file',
        'taken-over 0 4 * * * file',
        'weekly 0 0 * * 0 file',
      ]);
      expect(await eventsOf('report')).toEqual(['created by file', 'changed by file']);
      expect(await eventsOf('cleanup')).toEqual(['created by file', 'removed by file']);
      expect(await eventsOf('taken-over')).toEqual(['created by cli', 'changed by file']);

      // The same file again: the database already agrees, nothing is written.
      const third = suite.start({ ...SCHEDULE_ENV, SCHEDULES_FILE: file });
      await third.waitForLog(/Applied .*: 0 created, 0 changed, 3 unchanged, 0 removed/);
      await third.stop('SIGTERM');

      // A bad entry stops start-up with one line naming it, and changes nothing.
      writeFileSync(file, JSON.stringify([{ name: 'report', cron: '0 25 * * *', task_type: 'http_callback', payload: {} }]));
      const bad = suite.start({ ...SCHEDULE_ENV, SCHEDULES_FILE: file });
      expect(await bad.exited).toBe(1);
      expect(bad.raw.join('\n')).toMatch(/SCHEDULES_FILE .*schedule report: payload: /);
      expect((await stored()).length).toBe(4);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }, 90_000);
});
