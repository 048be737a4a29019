import * as E from 'fp-ts/lib/Either.js';
import { sql } from 'slonik';
import { decodeEventRow } from '../../src/adapters/postgres/event-codec.js';
import { closePool, createPostgresPool } from '../../src/adapters/postgres/pool.js';
import { createPostgresTaskQueue } from '../../src/adapters/postgres/task-queue.js';
import { eventRows, insertTasks, openFixture, taskRow, type Fixture } from './postgres-fixtures.js';

describe('PostgresTaskQueue.claimDueTasks', () => {
  let fixture: Fixture;
  beforeEach(async () => {
    fixture = await openFixture();
  });
  afterEach(async () => {
    await fixture.close();
  });

  it('claims only due pending tasks, oldest first, and records each claim', async () => {
    const [late, early, future] = await insertTasks(fixture.pool, [{ dueInSeconds: -10 }, { dueInSeconds: -60 }, { dueInSeconds: 3600 }]);
    const [finished] = await insertTasks(fixture.pool, [{ dueInSeconds: -120 }]);
    await fixture.pool.query(sql.unsafe`UPDATE scheduled_tasks SET status = 'completed' WHERE id = ${finished!}::bigint`);
    const queue = createPostgresTaskQueue(fixture.pool);

    const claimed = await queue.claimDueTasks('worker-a', 10);

    expect(claimed.map((task) => task.id)).toEqual([early, late]);
    expect(claimed[0]).toMatchObject({ taskType: 'http_callback', attempts: 0, maxAttempts: 3, owner: 'worker-a' });
    expect(claimed[0]!.payload).toEqual({ url: 'http://127.0.0.1:9/hook', data: { n: 1 } });
    expect(claimed[0]!.claimToken).not.toEqual(claimed[1]!.claimToken);
    const row = await taskRow(fixture.pool, early!);
    expect(row).toMatchObject({ status: 'processing', locked_by: 'worker-a', claim_token: claimed[0]!.claimToken, event_seq: 2 });
    expect(row['heartbeat_at']).toEqual(row['locked_at']);

    const history = (await eventRows(fixture.pool, early!)).map(decodeEventRow);
    expect(history.map((event) => E.isRight(event) && event.right.type)).toEqual(['scheduled', 'claimed']);
    expect(history[1]).toEqual(
      E.right({ type: 'claimed', at: claimed[0]!.claimedAt, workerId: 'worker-a', attempt: 1, claimToken: claimed[0]!.claimToken }),
    );
    expect((await taskRow(fixture.pool, future!))['status']).toBe('pending');
    expect(await queue.claimDueTasks('worker-a', 10)).toEqual([]);
  });

  it('respects the limit', async () => {
    await insertTasks(
      fixture.pool,
      Array.from({ length: 5 }, () => ({})),
    );
    const queue = createPostgresTaskQueue(fixture.pool);
    expect(await queue.claimDueTasks('w', 0)).toEqual([]);
    expect(await queue.claimDueTasks('w', 3)).toHaveLength(3);
    expect(await queue.claimDueTasks('w', 3)).toHaveLength(2);
  });

  it('never gives the same task to two workers claiming at the same time', async () => {
    const ids = await insertTasks(
      fixture.pool,
      Array.from({ length: 3000 }, () => ({})),
    );
    // Separate pools, as separate worker processes would have.
    const pools = await Promise.all(Array.from({ length: 6 }, () => createPostgresPool(fixture.database.url, 3)));
    try {
      const perWorker = await Promise.all(
        pools.map(async (pool, index) => {
          const queue = createPostgresTaskQueue(pool);
          const mine: string[] = [];
          // Three claim loops per worker, so claims also race inside one pool.
          await Promise.all(
            [0, 1, 2].map(async () => {
              for (;;) {
                const batch = await queue.claimDueTasks(`worker-${index}`, 25);
                if (batch.length === 0) return;
                mine.push(...batch.map((task) => task.id));
              }
            }),
          );
          return mine;
        }),
      );
      const all = perWorker.flat();
      expect(all).toHaveLength(ids.length);
      expect(new Set(all).size).toBe(ids.length);
      expect(perWorker.filter((claims) => claims.length > 0).length).toBeGreaterThan(1);
      const claimEvents = await fixture.pool.oneFirst(sql.unsafe`SELECT count(*)::integer FROM task_events WHERE event_type = 'claimed'`);
      expect(claimEvents).toBe(ids.length);
    } finally {
      await Promise.all(pools.map(closePool));
    }
  });

  it('fails alone, and reports, a task whose claimed event cannot be written; the others are claimed with theirs', async () => {
    const [first, second] = await insertTasks(fixture.pool, [{ dueInSeconds: -20 }, { dueInSeconds: -10 }]);
    // A forged event at seq 2 makes the claim's event insert collide with the primary key.
    await fixture.pool.query(sql.unsafe`
      INSERT INTO task_events (task_id, seq, event_type, data) VALUES (${second!}::bigint, 2, 'cancelled', '{}')`);
    const refused: unknown[] = [];
    const queue = createPostgresTaskQueue(fixture.pool, { onRefusedClaim: (task) => refused.push(task) });

    const claimed = await queue.claimDueTasks('w', 10);

    expect(claimed.map((task) => task.id)).toEqual([first]);
    expect(await taskRow(fixture.pool, first!)).toMatchObject({ status: 'processing', locked_by: 'w', event_seq: 2 });
    expect((await eventRows(fixture.pool, first!)).map((row) => row['event_type'])).toEqual(['scheduled', 'claimed']);
    const reason = 'failed on claim: task_events already holds seq 2 of this task, written outside at-worker';
    expect(refused).toEqual([{ id: second, taskType: expect.any(String), reason }]);
    expect(await taskRow(fixture.pool, second!)).toMatchObject({
      status: 'failed',
      error_message: reason,
      claim_token: null,
      event_seq: 3,
    });
    expect((await eventRows(fixture.pool, second!)).map((row) => row['event_type'])).toEqual(['scheduled', 'cancelled', 'failed']);
  });

  it('tells when the next task is due, within a horizon', async () => {
    const queue = createPostgresTaskQueue(fixture.pool);
    expect(await queue.nextDueAt(new Date(Date.now() + 3_600_000))).toBeNull();
    await insertTasks(fixture.pool, [{ dueInSeconds: 600 }, { dueInSeconds: 60 }]);
    const next = await queue.nextDueAt(new Date(Date.now() + 3_600_000));
    expect(next).toBeInstanceOf(Date);
    expect(Math.abs(next!.getTime() - (Date.now() + 60_000))).toBeLessThan(5_000);
    expect(await queue.nextDueAt(new Date(Date.now() + 30_000))).toBeNull();
  });
});
