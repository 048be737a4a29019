import { sql } from 'slonik';
import { taskHistory } from '../../src/adapters/postgres/operator-history.js';
import { endAttempts } from '../../src/adapters/postgres/end-attempts.js';
import { refreshHeartbeats } from '../../src/adapters/postgres/refresh-heartbeats.js';
import { createPostgresTaskQueue } from '../../src/adapters/postgres/task-queue.js';
import type { ClaimedTask, TaskQueue } from '../../src/application/ports.js';
import { replay } from '../../src/domain/index.js';
import { attemptEnd, complete, eventRows, insertTasks, openFixture, taskRow, type Fixture } from './postgres-fixtures.js';

const policy = { baseDelayMs: 1_000, maxDelayMs: 60_000 };

describe('PostgresTaskQueue attempt ends, heartbeats and stuck tasks', () => {
  let fixture: Fixture;
  let queue: TaskQueue;
  const claimOne = async (workerId = 'worker-a'): Promise<ClaimedTask> => {
    await insertTasks(fixture.pool, [{}]);
    const [task] = await queue.claimDueTasks(workerId, 1);
    if (task === undefined) throw new Error('nothing claimed');
    return task;
  };
  beforeEach(async () => {
    fixture = await openFixture();
    queue = createPostgresTaskQueue(fixture.pool);
  });
  afterEach(async () => {
    await fixture.close();
  });

  it('completes a claimed task with its event, and the history replays to the row', async () => {
    const task = await claimOne();
    const now = new Date();

    expect(await queue.endAttempt(complete(task, now))).toBe('applied');

    const row = await taskRow(fixture.pool, task.id);
    expect(row).toMatchObject({
      status: 'completed',
      attempts: 1,
      completed_at: now,
      error_message: null,
      locked_by: null,
      claim_token: null,
      heartbeat_at: null,
      event_seq: 3,
    });
    const history = (await taskHistory(fixture.pool, task.id)).map((recorded) => {
      if (recorded._tag !== 'Decoded') throw new Error(`event ${recorded.seq} does not decode`);
      return recorded;
    });
    expect(history.map((stored) => [stored.seq, stored.event.type])).toEqual([
      [1, 'scheduled'],
      [2, 'claimed'],
      [3, 'completed'],
    ]);
    expect(replay(history.map((stored) => stored.event))).toEqual({
      status: 'completed',
      taskType: 'http_callback',
      attempts: 1,
      maxAttempts: 3,
      executeAt: task.executeAt,
      completedAt: now,
    });
  });

  it('schedules a retry: back to pending, later, with the error', async () => {
    const task = await claimOne();
    const now = new Date();
    const end = attemptEnd(
      task,
      {
        type: 'Fail',
        now,
        workerId: task.owner,
        claimToken: task.claimToken,
        error: 'HTTP 503',
        retryable: true,
        details: {},
        policy,
        jitter: 0.5,
      },
      'HTTP 503',
    );

    expect(await queue.endAttempt(end)).toBe('applied');

    const row = await taskRow(fixture.pool, task.id);
    expect(row).toMatchObject({ status: 'pending', attempts: 1, error_message: 'HTTP 503', claim_token: null, completed_at: null });
    expect((row['execute_at'] as Date).getTime()).toBe(now.getTime() + 750);
    expect(await queue.claimDueTasks('worker-a', 1)).toEqual([]);
    expect((await eventRows(fixture.pool, task.id)).map((event) => event['event_type'])).toEqual([
      'scheduled',
      'claimed',
      'retry_scheduled',
    ]);
  });

  it('fences an end whose claim is no longer held: nothing is written', async () => {
    const task = await claimOne();
    const stale = { ...task, claimToken: '00000000-0000-4000-8000-000000000000' };

    expect(await queue.endAttempt(complete(stale))).toBe('fenced');

    expect(await taskRow(fixture.pool, task.id)).toMatchObject({ status: 'processing', claim_token: task.claimToken, event_seq: 2 });
    expect(await eventRows(fixture.pool, task.id)).toHaveLength(2);
    // And a second end of an attempt that already ended is fenced too.
    expect(await queue.endAttempt(complete(task))).toBe('applied');
    expect(await queue.endAttempt(complete(task))).toBe('fenced');
    expect(await eventRows(fixture.pool, task.id)).toHaveLength(3);
  });

  it('ends many attempts at once, each caller getting its own answer', async () => {
    await insertTasks(
      fixture.pool,
      Array.from({ length: 400 }, () => ({})),
    );
    const tasks = await queue.claimDueTasks('worker-a', 400);
    const forged = new Set(tasks.filter((_, index) => index % 10 === 0).map((task) => task.id));

    const results = await Promise.all(
      tasks.map((task) =>
        queue.endAttempt(complete(forged.has(task.id) ? { ...task, claimToken: '00000000-0000-4000-8000-000000000000' } : task)),
      ),
    );

    expect(results.filter((result) => result === 'fenced')).toHaveLength(forged.size);
    tasks.forEach((task, index) => expect(results[index]).toBe(forged.has(task.id) ? 'fenced' : 'applied'));
    const counts = await fixture.pool.any(
      sql.unsafe`SELECT status, count(*)::integer AS n FROM scheduled_tasks GROUP BY status ORDER BY status`,
    );
    expect(counts).toEqual([
      { status: 'completed', n: 360 },
      { status: 'processing', n: 40 },
    ]);
    expect(await fixture.pool.oneFirst(sql.unsafe`SELECT count(*)::integer FROM task_events WHERE event_type = 'completed'`)).toBe(360);
  });

  it('records an end whose text jsonb would refuse (half an emoji, a NUL), with those characters replaced', async () => {
    const task = await claimOne();
    // What a cut through an emoji leaves (its first half), and a NUL from a response body.
    const halfEmoji = '😀'.slice(0, 1);
    const error = `HTTP 400: oops ${halfEmoji} and\u0000 more`;
    const end = attemptEnd(
      task,
      {
        type: 'Fail',
        now: new Date(),
        workerId: task.owner,
        claimToken: task.claimToken,
        error,
        retryable: false,
        details: { body: `x${halfEmoji}` },
        policy,
        jitter: 0,
      },
      error,
    );

    expect(await queue.endAttempt(end)).toBe('applied');

    const row = await taskRow(fixture.pool, task.id);
    expect(row).toMatchObject({ status: 'failed', attempts: 1, error_message: 'HTTP 400: oops \ufffd and\ufffd more' });
    const failed = (await eventRows(fixture.pool, task.id)).at(-1);
    expect(failed).toMatchObject({
      event_type: 'failed',
      data: { error: 'HTTP 400: oops \ufffd and\ufffd more', details: { body: 'x\ufffd' } },
    });
  });

  it('applies only one of two ends of the same claim sent together', async () => {
    const task = await claimOne();
    const results = await Promise.all([queue.endAttempt(complete(task)), queue.endAttempt(complete(task))]);
    expect([...results].sort()).toEqual(['applied', 'fenced']);
    expect((await eventRows(fixture.pool, task.id)).map((event) => event['event_type'])).toEqual(['scheduled', 'claimed', 'completed']);
  });

  it('fails alone a processing row edited to the integer limits, and ends the rest of its batch', async () => {
    const INT_MAX = 2147483647;
    const failedOnEnd: Array<{ id: string; reason: string }> = [];
    const withLog = createPostgresTaskQueue(fixture.pool, { onFailedOnEnd: (failed) => failedOnEnd.push(failed) });
    await insertTasks(
      fixture.pool,
      Array.from({ length: 6 }, () => ({})),
    );
    const tasks = await withLog.claimDueTasks('worker-a', 6);
    const [fullHistory, fullAttempts, lastSeq, ...healthy] = tasks;
    if (fullHistory === undefined || fullAttempts === undefined || lastSeq === undefined) throw new Error('claimed too few');
    // Edited while processing: a history at the limit, attempts at the limit (the cleaner's end would
    // count one more), and a history with room for exactly the one event the end writes.
    await fixture.pool.query(sql.unsafe`UPDATE scheduled_tasks SET event_seq = ${INT_MAX} WHERE id = ${fullHistory.id}::bigint`);
    await fixture.pool.query(sql.unsafe`UPDATE scheduled_tasks SET attempts = ${INT_MAX}, max_attempts = ${INT_MAX}
                                          WHERE id = ${fullAttempts.id}::bigint`);
    await fixture.pool.query(sql.unsafe`UPDATE scheduled_tasks SET event_seq = ${INT_MAX - 1} WHERE id = ${lastSeq.id}::bigint`);
    await fixture.pool.query(sql.unsafe`UPDATE scheduled_tasks SET heartbeat_at = now() - interval '10 minutes'
                                          WHERE id = ${fullAttempts.id}::bigint`);
    const silentForMs = 5 * 60_000;
    const [stuck] = await withLog.findStuckTasks(silentForMs, 10);
    if (stuck === undefined) throw new Error('the edited row is not stuck');
    const recovery = attemptEnd(
      { ...fullAttempts, attempts: stuck.attempts, maxAttempts: stuck.maxAttempts },
      { type: 'RecoverStuck', now: new Date(), workerId: 'cleaner', claimToken: stuck.claimToken, stuckFor: '10m' },
      'stuck',
      silentForMs,
    );

    // All in one statement: the worker's completions and the cleaner's recovery.
    const results = await endAttempts(
      fixture.pool,
      [complete(fullHistory), recovery, complete(lastSeq), ...healthy.map((task) => complete(task))],
      (failed) => failedOnEnd.push(failed),
    );

    expect(results).toEqual(['fenced', 'fenced', 'applied', 'applied', 'applied', 'applied']);
    expect(failedOnEnd).toEqual([
      { id: fullHistory.id, reason: 'failed on end: its history is full (event_seq 2147483647 is the integer limit)' },
      { id: fullAttempts.id, reason: 'failed on end: its attempts would pass the integer limit (2147483647 used)' },
    ]);
    for (const task of healthy) expect(await taskRow(fixture.pool, task.id)).toMatchObject({ status: 'completed', attempts: 1 });
    expect(await taskRow(fixture.pool, lastSeq.id)).toMatchObject({ status: 'completed', event_seq: INT_MAX });
    expect(await taskRow(fixture.pool, fullHistory.id)).toMatchObject({
      status: 'failed',
      error_message: 'failed on end: its history is full (event_seq 2147483647 is the integer limit)',
      event_seq: INT_MAX,
      claim_token: null,
      locked_by: null,
    });
    // No room for an event: the history ends at the claim.
    expect((await eventRows(fixture.pool, fullHistory.id)).map((event) => event['event_type'])).toEqual(['scheduled', 'claimed']);
    expect(await taskRow(fixture.pool, fullAttempts.id)).toMatchObject({
      status: 'failed',
      attempts: INT_MAX,
      event_seq: 3,
      claim_token: null,
    });
    const failed = (await eventRows(fixture.pool, fullAttempts.id)).at(-1);
    expect(failed).toMatchObject({
      seq: 3,
      event_type: 'failed',
      worker_id: 'cleaner',
      data: {
        attempt: INT_MAX + 1,
        reason: 'permanent',
        error: 'failed on end: its attempts would pass the integer limit (2147483647 used)',
      },
    });
    // The history reads: the failed event decodes like any other.
    const history = await taskHistory(fixture.pool, fullAttempts.id);
    expect(history.map((recorded) => recorded._tag)).toEqual(['Decoded', 'Decoded', 'Decoded']);
  });

  it('keeps a heart-beating task out of the stuck list, and lets the cleaner take only silent ones', async () => {
    const live = await claimOne('worker-a');
    const silent = await claimOne('worker-a');
    // Both last proved they were alive ten minutes ago.
    await fixture.pool.query(sql.unsafe`
      UPDATE scheduled_tasks SET heartbeat_at = now() - interval '10 minutes', updated_at = now() - interval '10 minutes'`);

    expect(await queue.refreshHeartbeats('worker-b', [live])).toBe(0);
    expect(await queue.refreshHeartbeats('worker-a', [live, { id: silent.id, claimToken: live.claimToken }])).toBe(1);

    const silentForMs = 5 * 60_000;
    const stuck = await queue.findStuckTasks(silentForMs, 10);
    expect(stuck.map((task) => task.id)).toEqual([silent.id]);
    expect(stuck[0]).toMatchObject({ owner: 'worker-a', claimToken: silent.claimToken, attempts: 0, maxAttempts: 3 });
    // The seed's own stuck query agrees, because a heartbeat moves updated_at too.
    const seedStuck = await fixture.pool.anyFirst(sql.unsafe`
      SELECT id FROM scheduled_tasks WHERE status = 'processing' AND updated_at < NOW() - INTERVAL '5 minutes'`);
    expect(seedStuck).toEqual([silent.id]);

    const recover = (task: ClaimedTask) =>
      attemptEnd(
        task,
        { type: 'RecoverStuck', now: new Date(), workerId: 'cleaner', claimToken: task.claimToken, stuckFor: '10m' },
        'stuck',
        silentForMs,
      );
    // The live task's token is right, but it has just proven it is alive: the cleaner is fenced.
    expect(await queue.endAttempt(recover(live))).toBe('fenced');
    expect(await queue.endAttempt(recover(silent))).toBe('applied');
    expect(await taskRow(fixture.pool, live.id)).toMatchObject({ status: 'processing', claim_token: live.claimToken });
    expect(await taskRow(fixture.pool, silent.id)).toMatchObject({ status: 'pending', attempts: 1, claim_token: null });

    // The silent owner's late result, after the recovery and a new claim by someone else, changes nothing.
    const [reclaimed] = await queue.claimDueTasks('worker-b', 1);
    expect(reclaimed?.id).toBe(silent.id);
    expect(await queue.endAttempt(complete(silent))).toBe('fenced');
    expect(await taskRow(fixture.pool, silent.id)).toMatchObject({ status: 'processing', locked_by: 'worker-b' });
    expect(await queue.refreshHeartbeats('worker-a', [silent])).toBe(0);
  });

  it('finds each task by its primary key, even when the statistics say nothing is processing', async () => {
    // ANALYZE sees 300 pending tasks and none processing (as between bursts); then all are claimed.
    await insertTasks(
      fixture.pool,
      Array.from({ length: 300 }, () => ({})),
    );
    await fixture.pool.query(sql.unsafe`ANALYZE scheduled_tasks`);
    const tasks = await queue.claimDueTasks('worker-a', 300);
    expect(tasks).toHaveLength(300);
    // Index scans of this transaction alone (pg_stat_get_xact_numscans).
    const indexScans = await fixture.pool.transaction(async (tx) => {
      // The end statement is prepared: hold its generic plan (what PostgreSQL switches to after
      // five runs) to the same standard as a freshly planned one.
      await tx.query(sql.unsafe`SET LOCAL plan_cache_mode = force_generic_plan`);
      expect(await refreshHeartbeats(tx, 'worker-a', tasks)).toBe(300);
      const ends = await endAttempts(
        tx,
        tasks.map((task) => complete(task)),
      );
      expect(ends.every((result) => result === 'applied')).toBe(true);
      const scans = await tx.query(sql.unsafe`
        SELECT relname AS name, pg_stat_get_xact_numscans(oid)::int AS scans
          FROM pg_class WHERE relname IN ('scheduled_tasks_heartbeat_idx', 'scheduled_tasks_pkey')`);
      return Object.fromEntries((scans.rows as { name: string; scans: number }[]).map((row) => [row.name, row.scans]));
    });
    // Scanning the heartbeat index per task would visit every processing task for each one.
    expect(indexScans['scheduled_tasks_heartbeat_idx']).toBe(0);
    expect(indexScans['scheduled_tasks_pkey']).toBeGreaterThanOrEqual(600);
  });
});
