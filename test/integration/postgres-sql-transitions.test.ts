import * as E from 'fp-ts/lib/Either.js';
import { sql } from 'slonik';
import { decodeEventRow } from '../../src/adapters/postgres/event-codec.js';
import { taskWithHistory } from '../../src/adapters/postgres/operator-history.js';
import { createPostgresTaskQueue } from '../../src/adapters/postgres/task-queue.js';
import { compareWithHistory } from '../../src/application/operator/compare-history.js';
import type { ClaimedTask, TaskQueue } from '../../src/application/ports.js';
import { decide, initialState, MAX_EVENT_SEQ, replay, type TaskEvent } from '../../src/domain/index.js';
import { attemptEnd, eventRows, openFixture, taskRow, type Fixture } from './postgres-fixtures.js';

/**
 * Three transitions are written by SQL, not by the decider: 'scheduled' by the insert trigger (any
 * service may insert with plain SQL), 'claimed' by at_worker_claim_due_tasks (one round trip), and
 * the 'failed' of a task that claim refuses (at_worker_refuse_claims). The decider stays the home of
 * these rules; these tests hold the SQL copies to it: each event the
 * SQL writes must be exactly the one `decide` produces from the state before it, and the replay of
 * the history through `evolve` must be the row.
 */
describe('the transitions SQL writes, replayed through the domain', () => {
  let fixture: Fixture;
  let queue: TaskQueue;
  beforeEach(async () => {
    fixture = await openFixture();
    queue = createPostgresTaskQueue(fixture.pool);
  });
  afterEach(async () => {
    await fixture.close();
  });

  const history = async (id: string): Promise<TaskEvent[]> =>
    (await eventRows(fixture.pool, id)).map((row) => {
      const event = decodeEventRow(row);
      if (E.isLeft(event)) throw new Error(event.left);
      return event.right;
    });

  const row = async (id: string) => {
    const r = await taskRow(fixture.pool, id);
    return {
      taskType: r['task_type'] as string,
      attempts: r['attempts'] as number,
      maxAttempts: r['max_attempts'] as number,
      executeAt: r['execute_at'] as Date,
    };
  };

  /** What the row says of its origin: the digest of its payload's jsonb text, and its uuid. */
  const origin = async (id: string) => {
    const result = (await fixture.pool.one(sql.unsafe`
      SELECT encode(sha256(convert_to(payload::text, 'UTF8')), 'hex') AS digest, task_uuid::text AS uuid
        FROM scheduled_tasks WHERE id = ${id}::bigint`)) as { readonly digest: string; readonly uuid: string };
    return { payloadSha256: result.digest, taskUuid: result.uuid };
  };

  /** Claims `id`, then checks its last event against the decider and the replay against the row. */
  const claimAndCheck = async (id: string, workerId: string): Promise<ClaimedTask> => {
    const [task] = await queue.claimDueTasks(workerId, 1);
    expect(task?.id).toBe(id);
    const events = await history(id);
    const before = replay(events.slice(0, -1));
    const decided = decide(before, { type: 'Claim', now: task!.claimedAt, workerId, claimToken: task!.claimToken });
    expect(decided).toEqual(E.right([events.at(-1)]));
    expect(replay(events)).toEqual({ status: 'processing', ...(await row(id)), owner: workerId, claimToken: task!.claimToken });
    return task!;
  };

  it("writes the 'scheduled' event the decider decides for every row of a plain INSERT", async () => {
    const inserted = await fixture.pool.query(sql.unsafe`
      INSERT INTO scheduled_tasks (task_type, payload, execute_at, max_attempts)
      VALUES ('http_callback', '{"url": "https://example.com/hook", "data": {}}', now() + interval '5 minutes', 7),
             ('email', '{"to": "ann@example.com", "subject": "hi", "text": "hello"}', now() - interval '1 day', 1)
      RETURNING id`);
    const seedStyle = await fixture.pool.query(sql.unsafe`
      INSERT INTO scheduled_tasks (task_type, payload, execute_at)
      VALUES ('rabbitmq', '{"queue": "orders", "message": {}}', now()) RETURNING id`);
    const ids = [...inserted.rows, ...seedStyle.rows].map((r) => String((r as { id: unknown }).id));
    expect(ids).toHaveLength(3);

    for (const id of ids) {
      const events = await history(id);
      const stored = await row(id);
      const decided = decide(initialState(), {
        type: 'Schedule',
        now: events[0]!.at,
        taskType: stored.taskType,
        executeAt: stored.executeAt,
        maxAttempts: stored.maxAttempts,
        origin: await origin(id),
      });
      expect(decided).toEqual(E.right(events));
      expect(replay(events)).toEqual({ status: 'pending', ...stored });
    }
  });

  it("writes the 'claimed' event the decider decides, with the attempt number it counts, whatever came before", async () => {
    const [id] = (
      await fixture.pool.query(sql.unsafe`
        INSERT INTO scheduled_tasks (task_type, payload, execute_at, max_attempts)
        VALUES ('http_callback', '{"url": "https://example.com/hook", "data": {}}', now() - interval '1 second', 5)
        RETURNING id`)
    ).rows.map((r) => String((r as { id: unknown }).id));

    const first = await claimAndCheck(id!, 'worker-a');
    const retry = { policy: { baseDelayMs: 1, maxDelayMs: 1 }, jitter: 0, retryable: true, error: 'HTTP 503', details: {} };
    const failure = { type: 'Fail', now: new Date(), workerId: 'worker-a', claimToken: first.claimToken, ...retry } as const;
    await queue.endAttempt(attemptEnd(first, failure));
    await new Promise((resolve) => setTimeout(resolve, 20));

    const second = await claimAndCheck(id!, 'worker-b');
    await fixture.pool.query(sql.unsafe`UPDATE scheduled_tasks SET heartbeat_at = now() - interval '1 hour' WHERE id = ${id!}::bigint`);
    const recovery = attemptEnd(
      second,
      { type: 'RecoverStuck', now: new Date(), workerId: 'cleaner', claimToken: second.claimToken, stuckFor: '1 hour' },
      null,
      60_000,
    );
    expect(await queue.endAttempt(recovery)).toBe('applied');

    const third = await claimAndCheck(id!, 'worker-c');
    const release = { type: 'Release', now: new Date(), workerId: 'worker-c', claimToken: third.claimToken, reason: 'shutdown' } as const;
    expect(await queue.endAttempt(attemptEnd(third, release))).toBe('applied');

    await claimAndCheck(id!, 'worker-a');
    const attempts = (await history(id!)).flatMap((event) => (event.type === 'claimed' ? [event.attempt] : []));
    expect(attempts).toEqual([1, 2, 3, 3]);
  });

  it("writes the 'failed' event the decider decides for a due row the claim refuses, and verify accepts it", async () => {
    const ids = (
      await fixture.pool.query(sql.unsafe`
        INSERT INTO scheduled_tasks (task_type, payload, execute_at)
        SELECT 'http_callback', '{"url": "https://example.com/hook", "data": {}}', now() - interval '1 minute'
          FROM generate_series(1, 4) RETURNING id`)
    ).rows.map((r) => String((r as { id: unknown }).id));
    const [exhausted, full, taken, forgedClaim] = ids as [string, string, string, string];
    await fixture.pool.query(sql.unsafe`UPDATE scheduled_tasks SET attempts = 10, max_attempts = 3 WHERE id = ${exhausted}::bigint`);
    await fixture.pool.query(sql.unsafe`UPDATE scheduled_tasks SET event_seq = ${MAX_EVENT_SEQ} WHERE id = ${full}::bigint`);
    await fixture.pool.query(
      sql.unsafe`INSERT INTO task_events (task_id, seq, event_type, data) VALUES (${taken}::bigint, 2, 'forged', '{}')`,
    );

    await fixture.pool.query(sql.unsafe`
      INSERT INTO task_events (task_id, seq, event_type, data)
      VALUES (${forgedClaim}::bigint, 2, 'claimed', jsonb_build_object('attempt', 1, 'claim_token', gen_random_uuid()))`);

    const refused = await fixture.pool.query(sql.unsafe`SELECT id::text, refusal FROM at_worker_claim_due_tasks('worker-r', 10)`);
    expect(refused.rows.map((r) => (r as { id: string }).id).sort()).toEqual([...ids].sort());

    /** The events that decode, the state they lead to before the last, and verify's findings. */
    const refusedTask = async (id: string) => {
      const events = (await eventRows(fixture.pool, id)).map(decodeEventRow).flatMap((e) => (E.isRight(e) ? [e.right] : []));
      const found = await taskWithHistory(fixture.pool, id);
      return { last: events.at(-1)!, before: replay(events.slice(0, -1)), verify: compareWithHistory(found!.task!, found!.history) };
    };
    const refuse = (last: TaskEvent, eventSeq: number, takenSeq?: number) =>
      ({ type: 'RefuseClaim', now: last.at, workerId: 'worker-r', eventSeq, ...(takenSeq === undefined ? {} : { takenSeq }) }) as const;

    // Used-up attempts come from a hand edit: the decider sees the row's counters, and verify reports the edit, and only it.
    const a = await refusedTask(exhausted);
    expect(a.before.status).toBe('pending');
    const edited = a.before.status === 'pending' ? { ...a.before, attempts: 10 } : a.before;
    expect(decide(edited, refuse(a.last, 1))).toEqual(E.right([a.last]));
    expect(a.verify).toEqual(['attempts is 10 but the history says 0']);

    // A full event_seq: the 'failed' event goes after the history's last seq, and the row agrees with its history again.
    const b = await refusedTask(full);
    expect(decide(b.before, refuse(b.last, MAX_EVENT_SEQ))).toEqual(E.right([b.last]));
    expect(b.verify).toEqual([]);

    // A seq taken by a forged event: the decider decides the same event, but the history itself is broken, and verify names the event.
    const c = await refusedTask(taken);
    expect(decide(c.before, refuse(c.last, 2, 2))).toEqual(E.right([c.last]));
    expect(c.verify).toEqual([
      expect.stringMatching(/^event 2 \(forged\) cannot be read: task_events\.event_type: expected /),
      'event 2 was written outside at-worker: the claim that needed its seq failed the task (event 3)',
    ]);
    // A forged event that reads as a claim replays cleanly, so only the refusal can tell verify where the history broke.
    expect((await refusedTask(forgedClaim)).verify).toEqual([
      'event 2 was written outside at-worker: the claim that needed its seq failed the task (event 3)',
      'attempts is 0 but the history says 1',
    ]);
  });
});
