import type { DatabasePool } from 'slonik';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createActivityWindow } from '../../src/adapters/postgres/dashboard-activity.js';
import { closePool, createPostgresPool } from '../../src/adapters/postgres/pool.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { connectSql, type SqlClient } from '../support/tasks-sql.js';

/** The overview's last hour, kept between reads: brought up to date, it says what a fresh read says. */
describe('the overview’s last hour, read incrementally', () => {
  let database: TestDatabase;
  let db: SqlClient;
  let pool: DatabasePool;

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    db = await connectSql(database.url);
    pool = await createPostgresPool(database.url, 1);
  });

  afterAll(async () => {
    await closePool(pool);
    await db.close();
    await database.drop();
  });

  const claim = async (worker: string, count: number) => {
    for (let n = 0; n < count; n += 1) await db.insertTask('http_callback', { url: 'http://127.0.0.1:9/x', data: { n } });
    await db.client.query('SELECT * FROM at_worker_claim_due_tasks($1, $2)', [worker, count]);
  };
  const totals = (activity: Awaited<ReturnType<ReturnType<typeof createActivityWindow>>>) => ({
    claimed: activity.lastHour.reduce((sum, minute) => sum + minute.claimed, 0),
    minutes: activity.lastHour.length,
    workers: activity.workers.map((worker) => [worker.workerId, worker.claimed]).sort(),
    late: activity.lastHour.filter((minute) => minute.latenessMaxMs !== null).length > 0,
    lateness: activity.lastHour
      .filter((minute) => minute.latenessMaxMs !== null)
      .map((minute) => [minute.latenessAvgMs, minute.latenessMaxMs]),
  });
  // The worst lateness of every claim in the history, straight from each claim and the event before it.
  const worstLateness = async () =>
    Number(
      (
        await db.client.query<{ ms: number }>(`
          SELECT round(max(extract(epoch FROM c.occurred_at - coalesce((p.data->>'execute_at')::timestamptz, p.occurred_at))
                           * 1000))::float8 AS ms
            FROM task_events AS c JOIN task_events AS p ON p.task_id = c.task_id AND p.seq = c.seq - 1
           WHERE c.event_type = 'claimed'`)
      ).rows[0]!.ms,
    );

  it('counts claims made after the first read, by worker, as a fresh read does', async () => {
    const kept = createActivityWindow();
    await claim('worker-1', 3);
    const once = await kept(pool, new Date());
    expect(totals(once)).toMatchObject({ claimed: 3, minutes: 60, workers: [['worker-1', 3]], late: true });
    expect(Math.max(...once.lastHour.map((minute) => minute.latenessMaxMs ?? -1))).toBe(await worstLateness());
    await claim('worker-2', 4);
    await claim('worker-1', 2);
    const updatedRead = await kept(pool, new Date());
    expect(Math.max(...updatedRead.lastHour.map((minute) => minute.latenessMaxMs ?? -1))).toBe(await worstLateness());
    const updated = totals(updatedRead);
    expect(updated).toMatchObject({
      claimed: 9,
      minutes: 60,
      workers: [
        ['worker-1', 5],
        ['worker-2', 4],
      ],
      late: true,
    });
    expect(totals(await createActivityWindow()(pool, new Date()))).toEqual(updated);
    // Nothing new: the same answer again, nothing counted twice.
    expect(totals(await kept(pool, new Date()))).toEqual(updated);
  });

  it('catches up on a backlog a bounded number of events per read, a transaction’s events together, ending as a fresh read', async () => {
    const limited = createActivityWindow(4);
    // 6 'scheduled' events, one insert each, then the 6 claims of one claim call (one timestamp).
    await claim('worker-3', 6);
    // Looked at a minute later for the first time: the hour before is a backlog, new events none.
    const first = Date.now() + 60_000;
    const reads = [];
    for (let n = 0; n < 10; n += 1) {
      // Then every 10 s, as a watching operator's page does.
      const read = await limited(pool, new Date(first + n * 10_000));
      reads.push({ ...totals(read), behind: read.readUpTo !== null });
      if (read.readUpTo === null) break;
    }
    const fresh = totals(await createActivityWindow()(pool, new Date(first)));
    // The first read stops after 4 events: behind, and no claim of the backlog counted yet.
    expect(reads[0]).toMatchObject({ behind: true });
    expect(reads[0]!.workers.find(([worker]) => worker === 'worker-3')).toBeUndefined();
    // The claims share their transaction's timestamp, so they are counted in one read, all 6.
    const firstWithClaims = reads.find((read) => read.workers.some(([worker]) => worker === 'worker-3'));
    expect(firstWithClaims?.workers).toContainEqual(['worker-3', 6]);
    // It ends up to date, with what a fresh read of the whole hour says.
    expect(reads.length).toBeGreaterThan(2);
    const { behind, ...last } = reads[reads.length - 1]!;
    expect(behind).toBe(false);
    expect(last).toEqual(fresh);
  });

  it('counts what is new in full on every read while a backlog is still being caught up, and nothing twice', async () => {
    // A backlog: 10 events written 10 minutes ago, of tasks whose rows are gone (history outlives them).
    await db.client.query(`
      INSERT INTO task_events (task_id, seq, event_type, worker_id, occurred_at)
      SELECT 900000 + n, 1, 'completed', 'worker-old', now() - interval '10 minutes' + n * interval '1 second'
        FROM generate_series(1, 10) AS n`);
    const limited = createActivityWindow(2);
    const start = Date.now();
    const behind = await limited(pool, new Date(start));
    expect(behind.readUpTo).not.toBeNull();
    await claim('worker-4', 3);
    // Read again 10 s later: worker-4's 6 new events are counted at once although the backlog is not done.
    const next = await limited(pool, new Date(Math.max(Date.now(), start + 10_000)));
    expect(next.readUpTo).not.toBeNull();
    expect(totals(next).workers).toContainEqual(['worker-4', 3]);
    // A pause of 90 s: what was written meanwhile joins the backlog, and what the reads before it
    // counted of that stretch is counted again only once, by the backlog.
    let read = await limited(pool, new Date(Math.max(Date.now(), start + 100_000)));
    for (let n = 11; read.readUpTo !== null && n < 60; n += 1)
      read = await limited(pool, new Date(Math.max(Date.now(), start + n * 10_000)));
    expect(read.readUpTo).toBeNull();
    expect(totals(read)).toEqual(totals(await createActivityWindow()(pool, new Date(Math.max(Date.now(), start + 600_000)))));
  });

  it('takes less of a backlog on a read that has many new events, and still ends as a fresh read', async () => {
    // A backlog older than anything else in the hour: 10 events a second apart, 20 minutes ago.
    const old = (
      await db.client.query<{ at: Date }>(`
        INSERT INTO task_events (task_id, seq, event_type, worker_id, occurred_at)
        SELECT 910000 + n, 1, 'completed', 'worker-older', now() - interval '20 minutes' + n * interval '1 second'
          FROM generate_series(1, 10) AS n
        RETURNING occurred_at AS at`)
    ).rows
      .map((row) => row.at.getTime())
      .sort((a, b) => a - b);
    const limited = createActivityWindow(4);
    // Read until the backlog has been counted up to one of those events (a read stopped there).
    let read = await limited(pool, new Date());
    for (let n = 0; read.readUpTo !== null && !old.includes(read.readUpTo.getTime()) && n < 30; n += 1)
      read = await limited(pool, new Date());
    const reached = old.indexOf(read.readUpTo?.getTime() ?? -1);
    expect(reached).toBeGreaterThanOrEqual(0);
    expect(reached).toBeLessThan(old.length - 1);
    // 6 new events (3 scheduled, 3 claimed): more than the 4 a read takes, so the next read takes the
    // least of the backlog, 1 event, where it would otherwise take 4.
    await claim('worker-5', 3);
    read = await limited(pool, new Date());
    expect(totals(read).workers).toContainEqual(['worker-5', 3]);
    expect(read.readUpTo?.getTime()).toBe(old[reached + 1]);
    const start = Date.now();
    for (let n = 1; read.readUpTo !== null && n < 90; n += 1)
      read = await limited(pool, new Date(Math.max(Date.now(), start + n * 10_000)));
    expect(read.readUpTo).toBeNull();
    expect(totals(read)).toEqual(totals(await createActivityWindow()(pool, new Date(Math.max(Date.now(), start + 900_000)))));
  });
});
