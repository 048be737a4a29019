import { sql } from 'slonik';
import { createPostgresOperatorStore } from '../../src/adapters/postgres/operator-store.js';
import { createPostgresTaskQueue } from '../../src/adapters/postgres/task-queue.js';
import { startReceiver, type Receiver } from '../support/http-receiver.js';
import { FAST_ENV, spawnWorker, until, type WorkerProcess } from '../support/worker-process.js';
import { oneStderrLine, runCli } from './cli-run.js';
import { attemptEnd, insertTasks, openFixture, taskRow, type Fixture } from './postgres-fixtures.js';

describe('at-worker history', () => {
  let fixture: Fixture;
  let receiver: Receiver;
  let env: Record<string, string>;

  beforeAll(async () => {
    fixture = await openFixture();
    env = { DATABASE_URL: fixture.database.url };
    receiver = await startReceiver({
      '/flaky': (_request, response, count) =>
        void (count === 1 ? response.writeHead(503).end('busy, try later') : response.writeHead(200).end('ok')),
    });
  });
  afterAll(async () => {
    await receiver.close();
    await fixture.close();
  });

  describe('of a task a real worker retried and completed', () => {
    let worker: WorkerProcess;
    let id: string;

    beforeAll(async () => {
      const scheduled = await runCli(
        ['schedule', '--type', 'http_callback', '--payload', JSON.stringify({ url: receiver.url('/flaky'), data: { order: 42 } })],
        { env },
      );
      expect(scheduled.code).toBe(0);
      id = scheduled.stdout.trim();
      worker = spawnWorker({ ...FAST_ENV, DATABASE_URL: fixture.database.url, WORKER_ID: 'worker-7' });
      await until(async () => (await taskRow(fixture.pool, id))['status'] === 'completed', 20_000, `task ${id} completed`);
    });
    afterAll(async () => {
      await worker.stop();
    });

    it('prints the timeline as a table: seq, time, event, worker, attempt, details', async () => {
      const result = await runCli(['history', id], { env });
      expect(result).toMatchObject({ code: 0, stderr: '' });
      const lines = result.stdout.split('\n');
      expect(lines[0]).toBe(`Task ${id}: http_callback, completed, 2 of 3 attempts used`);
      const table = lines.slice(lines.indexOf('') + 1).filter((line) => line !== '');
      expect(table[0]).toMatch(/^SEQ\s+TIME\s+EVENT\s+WORKER\s+ATTEMPT\s+DETAILS$/);
      const rows = table.slice(1).map((line) => line.split(/\s{2,}/));
      expect(rows.map((row) => row.slice(0, 1).concat(row.slice(2, 5)))).toEqual([
        ['1', 'scheduled', '-', '-'],
        ['2', 'claimed', 'worker-7', '1'],
        ['3', 'retry_scheduled', 'worker-7', '1'],
        ['4', 'claimed', 'worker-7', '2'],
        ['5', 'completed', 'worker-7', '2'],
      ]);
      for (const row of rows) expect(row[1]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(rows[2]?.[5]).toMatch(/^HTTP 503: busy, try later; retry at \S+Z \(HTTP 503, \d+ ms\)$/);
      expect(rows[4]?.[5]).toMatch(/^HTTP 200, \d+ ms$/);
    });

    it('prints the same timeline as a JSON array with --json', async () => {
      const result = await runCli(['history', id, '--json'], { env });
      expect(result).toMatchObject({ code: 0, stderr: '' });
      const events = JSON.parse(result.stdout) as Record<string, unknown>[];
      expect(events.map((event) => [event['seq'], event['event'], event['worker'], event['attempt']])).toEqual([
        [1, 'scheduled', null, null],
        [2, 'claimed', 'worker-7', 1],
        [3, 'retry_scheduled', 'worker-7', 1],
        [4, 'claimed', 'worker-7', 2],
        [5, 'completed', 'worker-7', 2],
      ]);
      expect(events[2]).toMatchObject({ error: 'HTTP 503: busy, try later', details: { http_status: 503 } });
      expect(new Date(events[2]?.['retryAt'] as string).getTime()).toBeGreaterThan(new Date(events[2]?.['time'] as string).getTime());
      expect(events[4]).toMatchObject({ details: { http_status: 200, duration_ms: expect.any(Number) } });
    });
  });

  it('exits 1 with one line for an unknown id, and 2 for something that is not an id', async () => {
    const unknown = await runCli(['history', '987654'], { env });
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe('');
    expect(oneStderrLine(unknown)).toBe('at-worker history: task 987654 not found');
    const notAnId = await runCli(['history', '12abc'], { env });
    expect(notAnId.code).toBe(2);
    expect(oneStderrLine(notAnId)).toMatch(/^at-worker history: expected a task id \(a positive integer\), got "12abc"/);
    const missing = await runCli(['history'], { env });
    expect(missing.code).toBe(2);
    expect(oneStderrLine(missing)).toMatch(/^at-worker history: missing the task id/);
  });

  it('still shows the history of a task whose row was deleted (histories outlive rows by design)', async () => {
    const [id] = await insertTasks(fixture.pool, [{ dueInSeconds: 3600 }]);
    await fixture.pool.query(sql.unsafe`DELETE FROM scheduled_tasks WHERE id = ${id!}::bigint`);
    const result = await runCli(['history', id!], { env });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(new RegExp(`^Task ${id}: no row in scheduled_tasks \\(deleted or archived\\); its history:\n`));
    expect(result.stdout).toMatch(/^1\s+\S+\s+scheduled\s+-\s+-\s+http_callback, due /m);
  });

  it('returns a 1,000-event history well under a second, by the (task_id, seq) primary key', async () => {
    const [id] = await insertTasks(fixture.pool, [{ maxAttempts: 1000 }]);
    const queue = createPostgresTaskQueue(fixture.pool, { endAttemptWindowMs: 0 });
    // 1 scheduled + 499 claim/retry cycles + 1 claim = 1,000 events, written by the real queue.
    for (let cycle = 1; cycle <= 500; cycle += 1) {
      const [task] = await queue.claimDueTasks('looper', 1);
      if (task === undefined) throw new Error(`cycle ${cycle}: nothing to claim`);
      if (cycle === 500) break;
      const fail = {
        type: 'Fail',
        now: new Date(Date.now() - 1000),
        workerId: task.owner,
        claimToken: task.claimToken,
        error: 'HTTP 503: busy',
        retryable: true,
        details: { http_status: 503 },
        policy: { baseDelayMs: 0, maxDelayMs: 0 },
        jitter: 0,
      } as const;
      expect(await queue.endAttempt(attemptEnd(task, fail, 'HTTP 503: busy'))).toBe('applied');
    }
    const plan = await fixture.pool.query(sql.unsafe`
      EXPLAIN SELECT seq, event_type, worker_id, occurred_at, data FROM task_events WHERE task_id = ${id!}::bigint ORDER BY seq`);
    // A plain or bitmap scan of the primary key of the task's one partition, depending on the
    // statistics; never a scan of the table.
    expect(JSON.stringify(plan.rows)).toMatch(/Index Scan (using|on) task_events_\w*pkey/);
    expect(JSON.stringify(plan.rows)).not.toMatch(/Seq Scan/);

    const store = createPostgresOperatorStore(fixture.pool);
    await store.taskHistory(id!);
    const started = performance.now();
    const events = await store.taskHistory(id!);
    const elapsedMs = performance.now() - started;
    expect(events).toHaveLength(1000);
    expect(elapsedMs).toBeLessThan(250);

    const result = await runCli(['history', id!], { env });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^Task \d+: http_callback, processing on looper, 499 of 1000 attempts used/);
    expect(result.stdout.trimEnd().split('\n').at(-1)).toMatch(/^1000\s+\S+\s+claimed\s+looper\s+500\s+claim /);
    const verified = await runCli(['verify', id!], { env });
    expect(verified).toMatchObject({ code: 0, stdout: 'Verified 1 task: every row agrees with its history.\n' });
  });
});
