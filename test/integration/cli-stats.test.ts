import { sql } from 'slonik';
import { runCli } from './cli-run.js';
import { useCliDatabase } from './cli-operator-scenario.js';

/** The parts of `stats --json` these tests read into. */
interface StatsJson {
  readonly [key: string]: unknown;
  readonly stuck: { readonly oldest: readonly { readonly silentForSeconds: number }[] };
  readonly completionTimes: readonly { readonly taskType: string; readonly completed: number; readonly avgSeconds: number }[];
  readonly lastAttempt: { readonly count: number; readonly latest: readonly Record<string, unknown>[] };
}

describe('at-worker stats', () => {
  const db = useCliDatabase();
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    ids['completed'] = await db.make.completed();
    ids['completedEmail'] = await db.make.completed({ taskType: 'email', payload: { to: 'a@example.com', subject: 's', text: 't' } });
    ids['failed'] = await db.make.failed();
    ids['exhausted'] = await db.make.failed({ maxAttempts: 1 }, 'exhausted');
    ids['retrying'] = await db.make.retrying({ maxAttempts: 2 });
    ids['running'] = await db.make.running();
    ids['stuck'] = await db.make.running({}, 10);
    ids['due'] = await db.make.pending();
    ids['future'] = await db.make.pending({ dueInSeconds: 3600 });
    ids['cancelled'] = await db.make.pending({ dueInSeconds: 3600 });
    expect((await runCli(['cancel', ids['cancelled']], { env: db.env })).code).toBe(0);
  });

  it('--json gives the numbers that were put in', async () => {
    const result = await runCli(['stats', '--json'], { env: db.env });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const stats = JSON.parse(result.stdout) as StatsJson;
    expect(stats['countsByStatus']).toEqual({ pending: 3, processing: 2, completed: 2, failed: 2, cancelled: 1 });
    expect(stats['total']).toBe(10);
    // WORKER_STUCK_TIMEOUT defaults to 5 minutes: the task silent for 10 is stuck, the live one is not.
    expect(stats['stuck']).toMatchObject({ count: 1, timeoutMs: 300_000 });
    expect(stats['stuck'].oldest).toEqual([
      expect.objectContaining({ id: ids['stuck'], owner: 'worker-dead', taskType: 'http_callback', attempts: 0, maxAttempts: 3 }),
    ]);
    expect(stats['stuck'].oldest[0]?.silentForSeconds).toBeGreaterThanOrEqual(600);
    expect(stats['success']).toEqual({ completed: 2, failed: 2, ratePercent: 50 });
    expect(stats['completionTimes'].map((row: Record<string, unknown>) => [row['taskType'], row['completed']])).toEqual([
      ['email', 1],
      ['http_callback', 1],
    ]);
    for (const row of stats['completionTimes']) expect(row.avgSeconds).toBeGreaterThanOrEqual(0);
    // attempts >= max_attempts - 1 and not completed or cancelled: the exhausted one (1 of 1) and the
    // one waiting for its second and last attempt (1 of 2).
    expect(stats['lastAttempt'].count).toBe(2);
    expect(stats['lastAttempt'].latest.map((task: Record<string, unknown>) => task['id']).sort()).toEqual(
      [ids['exhausted'], ids['retrying']].sort(),
    );
  });

  it('follows WORKER_STUCK_TIMEOUT from the configuration', async () => {
    const result = await runCli(['stats', '--json'], { env: { ...db.env, WORKER_STUCK_TIMEOUT: '20' } });
    expect(JSON.parse(result.stdout)['stuck']).toMatchObject({ count: 0, timeoutMs: 1_200_000 });
  });

  it('prints the same numbers for people', async () => {
    const result = await runCli(['stats'], { env: db.env });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^ {2}pending\s+3$/m);
    expect(result.stdout).toMatch(/^ {2}cancelled\s+1$/m);
    expect(result.stdout).toMatch(/^ {2}total\s+10$/m);
    expect(result.stdout).toMatch(/^Stuck: processing with no heartbeat for more than 5m \(WORKER_STUCK_TIMEOUT\): 1$/m);
    expect(result.stdout).toMatch(new RegExp(`^  ${ids['stuck']}\\s+http_callback\\s+worker-dead\\s+1 of 3\\s`, 'm'));
    expect(result.stdout).toMatch(/^Success rate \(completed \/ finished\): 50\.00% \(2 completed, 2 failed\)$/m);
    expect(result.stdout).toMatch(/^At their last attempt .*: 2$/m);
  });

  it('answers the same through the views, for people with only psql', async () => {
    const counts = await db.fixture.pool.query(sql.unsafe`SELECT status, count::int AS count FROM task_status_counts`);
    expect(counts.rows).toEqual([
      { status: 'pending', count: 3 },
      { status: 'processing', count: 2 },
      { status: 'completed', count: 2 },
      { status: 'failed', count: 2 },
      { status: 'cancelled', count: 1 },
    ]);
    // stuck_tasks uses WORKER_STUCK_TIMEOUT's default unless the session sets at_worker.stuck_timeout.
    const stuck = await db.fixture.pool.query(sql.unsafe`SELECT id FROM stuck_tasks`);
    expect(stuck.rows).toEqual([{ id: ids['stuck'] }]);
    const longer = await db.fixture.pool.transaction(async (tx) => {
      await tx.query(sql.unsafe`SET LOCAL at_worker.stuck_timeout = '15 minutes'`);
      return tx.query(sql.unsafe`SELECT id FROM stuck_tasks`);
    });
    expect(longer.rows).toEqual([]);
    const history = await db.fixture.pool.query(sql.unsafe`
      SELECT seq, event_type, worker_id, attempt, error FROM task_history WHERE task_id = ${ids['exhausted']!}::bigint`);
    expect(history.rows).toEqual([
      { seq: 1, event_type: 'scheduled', worker_id: null, attempt: null, error: null },
      { seq: 2, event_type: 'claimed', worker_id: 'worker-a', attempt: 1, error: null },
      { seq: 3, event_type: 'failed', worker_id: 'worker-a', attempt: 1, error: 'HTTP 503: busy' },
    ]);
  });
});
