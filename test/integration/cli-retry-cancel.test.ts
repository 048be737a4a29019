import pg from 'pg';
import { sql } from 'slonik';
import { createPostgresOperatorStore } from '../../src/adapters/postgres/operator-store.js';
import { oneStderrLine, runCli } from './cli-run.js';
import { useCliDatabase } from './cli-operator-scenario.js';
import { eventRows, taskRow } from './postgres-fixtures.js';

describe('at-worker retry and cancel', () => {
  const db = useCliDatabase();

  const eventTypes = async (id: string) => (await eventRows(db.fixture.pool, id)).map((row) => row['event_type']);

  it('retry sends a failed task back to pending, due now, with fresh attempts, and wakes the workers', async () => {
    const id = await db.make.failed();
    const listener = new pg.Client({ connectionString: db.fixture.database.url });
    await listener.connect();
    const notifications: string[] = [];
    listener.on('notification', (message) => notifications.push(message.payload ?? ''));
    await listener.query('LISTEN at_worker_tasks');
    try {
      const result = await runCli(['retry', id], { env: db.env });
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toMatch(new RegExp(`^Task ${id}: failed -> pending, due \\S+Z, 0 of 3 attempts used\\n$`));
      const row = await taskRow(db.fixture.pool, id);
      expect(row).toMatchObject({ status: 'pending', attempts: 0, max_attempts: 3, error_message: null, event_seq: 4 });
      expect(Math.abs((row['execute_at'] as Date).getTime() - Date.now())).toBeLessThan(10_000);
      const events = await eventRows(db.fixture.pool, id);
      expect(events.map((event) => [event['seq'], event['event_type'], event['worker_id']])).toEqual([
        [1, 'scheduled', null],
        [2, 'claimed', 'worker-a'],
        [3, 'failed', 'worker-a'],
        [4, 'rescheduled', null],
      ]);
      expect(events[3]?.['data']).toEqual({ execute_at: (row['execute_at'] as Date).toISOString(), max_attempts: 3 });
      await listener.query('SELECT 1');
      expect(notifications).toEqual([String((row['execute_at'] as Date).getTime())]);
    } finally {
      await listener.end();
    }
    // The worker can claim it again at once.
    const [claimed] = await db.make.queue.claimDueTasks('worker-b', 10);
    expect(claimed).toMatchObject({ id, attempts: 0 });
  });

  it('retry --max-attempts gives an exhausted task a new maximum', async () => {
    const id = await db.make.failed({ maxAttempts: 1 }, 'exhausted');
    const result = await runCli(['retry', id, '--max-attempts', '5'], { env: db.env });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(await taskRow(db.fixture.pool, id)).toMatchObject({ status: 'pending', attempts: 0, max_attempts: 5 });
    expect((await eventRows(db.fixture.pool, id)).at(-1)).toMatchObject({
      event_type: 'rescheduled',
      data: expect.objectContaining({ max_attempts: 5 }),
    });
  });

  it('cancel stops a pending task from running', async () => {
    const id = await db.make.pending({ dueInSeconds: 600 });
    const result = await runCli(['cancel', id], { env: db.env });
    expect(result).toMatchObject({ code: 0, stdout: `Task ${id}: pending -> cancelled\n`, stderr: '' });
    expect(await taskRow(db.fixture.pool, id)).toMatchObject({ status: 'cancelled', attempts: 0, event_seq: 2 });
    expect(await eventTypes(id)).toEqual(['scheduled', 'cancelled']);
    // Even once it is overdue, no worker claims it.
    const { execute_at: due } = await taskRow(db.fixture.pool, id);
    await db.fixture.pool.query(sql.unsafe`UPDATE scheduled_tasks SET execute_at = now() - interval '1 minute' WHERE id = ${id}::bigint`);
    expect((await db.make.queue.claimDueTasks('worker-b', 10)).map((task) => task.id)).not.toContain(id);
    // Put back: verify (below) reports a finished task whose execute_at was changed by hand.
    await db.fixture.pool.query(
      sql.unsafe`UPDATE scheduled_tasks SET execute_at = ${(due as Date).toISOString()}::timestamptz WHERE id = ${id}::bigint`,
    );
  });

  it('refuses, with exit 1 and one line, from any other state, and changes nothing', async () => {
    const completed = await db.make.completed();
    const running = await db.make.running();
    const pending = await db.make.pending({ dueInSeconds: 600 });
    const cancelled = await db.make.pending({ dueInSeconds: 600 });
    expect((await runCli(['cancel', cancelled], { env: db.env })).code).toBe(0);
    const failed = await db.make.failed();
    const cases: readonly [readonly string[], string][] = [
      [['retry', completed], `at-worker retry: task ${completed}: cannot retry a task that is completed`],
      [['retry', running], `at-worker retry: task ${running}: cannot retry a task that is processing`],
      [['retry', pending], `at-worker retry: task ${pending}: cannot retry a task that is pending`],
      [['retry', cancelled], `at-worker retry: task ${cancelled}: cannot retry a task that is cancelled`],
      [['cancel', running], `at-worker cancel: task ${running}: cannot cancel a task that is processing`],
      [['cancel', completed], `at-worker cancel: task ${completed}: cannot cancel a task that is completed`],
      [['cancel', failed], `at-worker cancel: task ${failed}: cannot cancel a task that is failed`],
      [['cancel', cancelled], `at-worker cancel: task ${cancelled}: cannot cancel a task that is cancelled`],
      [['retry', '99999'], 'at-worker retry: task 99999 not found'],
      [['cancel', '99999'], 'at-worker cancel: task 99999 not found'],
    ];
    const ids = [completed, running, pending, cancelled, failed];
    const before = await Promise.all(ids.map((id) => taskRow(db.fixture.pool, id)));
    const results = await Promise.all(cases.map(([args]) => runCli(args, { env: db.env })));
    results.forEach((result, index) => {
      expect({ args: cases[index]?.[0], code: result.code, stdout: result.stdout, line: oneStderrLine(result) }).toEqual({
        args: cases[index]?.[0],
        code: 1,
        stdout: '',
        line: cases[index]?.[1],
      });
    });
    expect(await Promise.all(ids.map((id) => taskRow(db.fixture.pool, id)))).toEqual(before);
  });

  it('refuses a malformed id or option with exit 2', async () => {
    const results = await Promise.all([
      runCli(['retry'], { env: db.env }),
      runCli(['retry', 'abc'], { env: db.env }),
      runCli(['cancel', '1', '2'], { env: db.env }),
      runCli(['retry', '1', '--max-attempts', 'many'], { env: db.env }),
    ]);
    expect(results.map((result) => result.code)).toEqual([2, 2, 2, 2]);
    expect(results.map(oneStderrLine)).toEqual([
      'at-worker retry: missing the task id (see `at-worker retry --help`)',
      'at-worker retry: expected a task id (a positive integer), got "abc"',
      'at-worker cancel: unexpected argument "2" (see `at-worker cancel --help`)',
      'at-worker retry: --max-attempts: expected a positive integer, got "many"',
    ]);
  });

  it('writes a decision only while the row is as it was read (a claim in between wins)', async () => {
    const id = await db.make.pending();
    const store = createPostgresOperatorStore(db.fixture.pool);
    const snapshot = await store.findTask(id);
    // A worker claims the task between the operator's read and write.
    const [claimed] = await db.make.queue.claimDueTasks('worker-c', 1);
    expect(claimed?.id).toBe(id);
    const now = snapshot!.now;
    const result = await store.applyChange({
      id,
      expected: { status: 'pending', eventSeq: snapshot!.task.eventSeq },
      events: [{ type: 'cancelled', at: now, workerId: null }],
      next: { status: 'cancelled', taskType: 'http_callback', attempts: 0, maxAttempts: 3, executeAt: snapshot!.task.executeAt },
      clearError: false,
    });
    expect(result).toBe('conflict');
    expect(await taskRow(db.fixture.pool, id)).toMatchObject({ status: 'processing', locked_by: 'worker-c', event_seq: 2 });
    expect(await eventTypes(id)).toEqual(['scheduled', 'claimed']);
    // Deciding again on the fresh state refuses the cancel.
    const again = await runCli(['cancel', id], { env: db.env });
    expect(again.code).toBe(1);
    expect(oneStderrLine(again)).toBe(`at-worker cancel: task ${id}: cannot cancel a task that is processing`);
  });

  it('leaves a history that verify agrees with', async () => {
    const result = await runCli(['verify'], { env: db.env });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Verified \d+ tasks: every row agrees with its history\.\n$/);
  });
});
