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
  });

  it('counts claims made after the first read, by worker, as a fresh read does', async () => {
    const kept = createActivityWindow();
    await claim('worker-1', 3);
    expect(totals(await kept(pool, new Date()))).toEqual({ claimed: 3, minutes: 60, workers: [['worker-1', 3]], late: true });
    await claim('worker-2', 4);
    await claim('worker-1', 2);
    const updated = totals(await kept(pool, new Date()));
    expect(updated).toEqual({
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

  it('catches up on a backlog a bounded number of events per read, a transaction’s events together, and ends where a fresh read is', async () => {
    const limited = createActivityWindow(4);
    // 6 'scheduled' events, one insert each, then the 6 claims of one claim call (one timestamp).
    await claim('worker-3', 6);
    const reads = [];
    for (let n = 0; n < 10; n += 1) {
      const read = await limited(pool, new Date());
      reads.push({ ...totals(read), behind: read.readUpTo !== null });
      if (read.readUpTo === null) break;
    }
    const fresh = totals(await createActivityWindow()(pool, new Date()));
    // The first read stops after 4 events: behind, and no claim of the backlog counted yet.
    expect(reads[0]).toMatchObject({ behind: true });
    expect(reads[0]!.workers.find(([worker]) => worker === 'worker-3')).toBeUndefined();
    // The claims share their transaction's timestamp, so they are counted in one read, all 6.
    const firstWithClaims = reads.find((read) => read.workers.some(([worker]) => worker === 'worker-3'));
    expect(firstWithClaims?.workers).toContainEqual(['worker-3', 6]);
    // It ends up to date, with what a fresh read of the whole hour says.
    expect(reads.length).toBeGreaterThan(1);
    const { behind, ...last } = reads[reads.length - 1]!;
    expect(behind).toBe(false);
    expect(last).toEqual(fresh);
  });
});
