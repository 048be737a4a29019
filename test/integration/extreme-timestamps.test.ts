import { until } from '../support/worker-process.js';
import { useWorkerSuite } from '../support/worker-suite.js';
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
    expect((await runCli(['history', ids.get('infinity')!], { env })).stdout).toMatch(/due \+275760-09-13T00:00:00\.000Z/);

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
});
