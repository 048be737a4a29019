import pg from 'pg';
import { closePool, createPostgresPool } from '../../src/adapters/postgres/pool.js';
import { createScheduler } from '../../src/client/index.js';
import { until } from '../support/worker-process.js';
import { useWorkerSuite } from '../support/worker-suite.js';
import { startPostgresDashboard } from '../support/dashboard-server.js';
import { runCli } from './cli-run.js';

// Every kind of timestamptz PostgreSQL accepts that a JavaScript Date or JSON reader trips over.
const DUE_NOW = ['-infinity', '0044-03-15 12:00:00+00 BC', '4713-01-01 00:00:00+00 BC'];
const NEVER_DUE = ['infinity', '294276-12-31 23:59:59.999999+00', '275760-09-13 00:00:00.001+00', '12345-06-07 08:09:10+00'];

/**
 * Rows scheduled with plain SQL at the edges of timestamptz: each one-row INSERT succeeds (its
 * wake-up used to fail the INSERT for 'infinity'), history, verify and stats read them, the view of
 * completion times survives them, and a worker runs the ones that are due and leaves the others.
 */
describe('extreme execute_at values', () => {
  const suite = useWorkerSuite();

  it('are stored, read, shown, verified and run when due', async () => {
    const ids = new Map<string, string>();
    for (const at of [...DUE_NOW, ...NEVER_DUE]) {
      const inserted = await suite.db.client.query<{ id: string }>(
        `INSERT INTO scheduled_tasks (task_type, payload, execute_at)
         VALUES ('http_callback', jsonb_build_object('url', $1::text, 'data', $2::text), $2::timestamptz) RETURNING id`,
        [suite.receiver.url('/edge'), at],
      );
      ids.set(at, inserted.rows[0]!.id);
    }
    const env = { DATABASE_URL: suite.database.url };
    const readable = async () => {
      for (const [at, id] of ids) {
        const history = await runCli(['history', id], { env });
        expect({ at, code: history.code, stderr: history.stderr }).toEqual({ at, code: 0, stderr: '' });
        expect(history.stdout).not.toMatch(/unreadable/);
      }
      const verify = await runCli(['verify'], { env });
      expect(verify).toMatchObject({ code: 0, stdout: `Verified ${ids.size} tasks: every row agrees with its history.\n` });
      const stats = await runCli(['stats'], { env });
      expect({ code: stats.code, stderr: stats.stderr }).toEqual({ code: 0, stderr: '' });
    };
    await readable();
    expect((await runCli(['history', ids.get('infinity')!], { env })).stdout).toMatch(/due infinity/);

    suite.start({ LOG_LEVEL: 'info' });
    await until(async () => (await suite.db.statusCounts())['completed'] === DUE_NOW.length, 20_000, 'the due ones completed');
    expect(
      suite.receiver
        .to('/edge')
        .map((request) => request.body.toString())
        .sort(),
    ).toEqual([...DUE_NOW].sort());
    for (const at of NEVER_DUE) expect({ at, status: (await suite.db.task(ids.get(at)!)).status }).toEqual({ at, status: 'pending' });
    await readable();
    const times = await suite.db.client.query<{ completed: string }>('SELECT completed FROM task_completion_times');
    // The task due at -infinity has no finite wait and is left out; the BC ones count.
    expect(times.rows).toEqual([{ completed: String(DUE_NOW.length - 1) }]);
  }, 120_000);
  // What PostgreSQL writes for each (the server's TimeZone is UTC): what every reader shows.
  const SHOWN_EXACTLY = [
    'infinity',
    '-infinity',
    '294276-12-31 23:59:59.999999+00',
    '275760-09-13 00:00:00.001+00',
    '4713-01-01 00:00:00+00 BC',
    '0044-03-15 12:00:00+00 BC',
  ];

  it('are shown exactly, not as the nearest instant a JavaScript Date holds', async () => {
    const ids = new Map<string, string>();
    for (const at of SHOWN_EXACTLY) {
      // -infinity and the BC ones are due, but no worker runs during this test.
      const inserted = await suite.db.client.query<{ id: string; shown: string }>(
        `INSERT INTO scheduled_tasks (task_type, payload, execute_at)
         VALUES ('http_callback', jsonb_build_object('url', $1::text, 'data', $2::text), $2::timestamptz)
         RETURNING id, execute_at::text AS shown`,
        [suite.receiver.url('/shown'), at],
      );
      expect(inserted.rows[0]!.shown).toBe(at);
      ids.set(at, inserted.rows[0]!.id);
    }
    const env = { DATABASE_URL: suite.database.url };
    for (const [at, id] of ids) {
      const history = await runCli(['history', id], { env });
      const lines = history.stdout.split('\n');
      expect({ at, header: lines[0] }).toEqual({ at, header: `Task ${id}: http_callback, pending, 0 of 3 attempts used, due ${at}` });
      expect({ at, scheduled: lines.find((line) => line.startsWith('1 ')) }).toEqual({
        at,
        scheduled: expect.stringContaining(`due ${at}, max 3`),
      });
      const json = JSON.parse((await runCli(['history', id, '--json'], { env })).stdout) as unknown;
      expect({ at, json: JSON.stringify(json) }).toEqual({ at, json: expect.stringContaining(JSON.stringify(at)) });
      expect(await runCli(['verify', id], { env })).toMatchObject({
        code: 0,
        stdout: 'Verified 1 task: every row agrees with its history.\n',
      });
    }
    const stats = await runCli(['stats'], { env });
    expect({ code: stats.code, stderr: stats.stderr }).toEqual({ code: 0, stderr: '' });
    expect(stats.stdout).not.toMatch(/275760-09-1[23]T/);

    // verify tells apart what a Date cannot: the last microsecond of 294276 from the one before, and from infinity.
    const last = ids.get('294276-12-31 23:59:59.999999+00')!;
    for (const edited of ['294276-12-31 23:59:59.999998+00', 'infinity']) {
      await suite.db.client.query('UPDATE scheduled_tasks SET execute_at = $2 WHERE id = $1', [last, edited]);
      const verify = await runCli(['verify', last], { env });
      expect({ edited, code: verify.code, stdout: verify.stdout }).toEqual({
        edited,
        code: 1,
        stdout: expect.stringContaining(`execute_at is ${edited} but the history says 294276-12-31 23:59:59.999999+00`),
      });
    }
    await suite.db.client.query(`UPDATE scheduled_tasks SET execute_at = '294276-12-31 23:59:59.999999+00' WHERE id = $1`, [last]);

    // The dashboard's task page.
    const pool = await createPostgresPool(suite.database.url, 2);
    const server = await startPostgresDashboard(pool, { token: 'extreme-timestamps-token-0123456789' });
    // The client's get, on a pool of the caller's (node-postgres' own parsers).
    const callers = new pg.Pool({ connectionString: suite.database.url, max: 2 });
    try {
      for (const [at, id] of ids) {
        const page = await (await fetch(`http://127.0.0.1:${server.port}/tasks/${id}`)).text();
        expect({ at, page }).toEqual({ at, page: expect.stringContaining(`due ${at}`) });
        const got = await createScheduler(callers).get({ id });
        if (got._tag === 'Left' || got.right.task === null) throw new Error(`get ${id}: ${JSON.stringify(got)}`);
        expect({ at, executeAt: got.right.task.executeAt.toISOString() }).toEqual({ at, executeAt: at });
        const scheduled = got.right.history[0];
        expect({
          at,
          executeAt: scheduled?._tag === 'Decoded' && scheduled.event.type === 'scheduled' ? scheduled.event.executeAt.toISOString() : null,
        }).toEqual({ at, executeAt: at });
      }
    } finally {
      await callers.end();
      await server.close();
      await closePool(pool);
    }
  }, 120_000);
});
