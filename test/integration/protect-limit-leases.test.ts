import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'slonik';
import { PostgresDestinationLimits } from '../../src/adapters/postgres/destination-limits.js';
import { closePool, createPostgresPool, type DatabasePool } from '../../src/adapters/postgres/pool.js';
import type { Admission } from '../../src/application/destination-guard.js';
import type { ClaimedTask } from '../../src/application/ports.js';
import type { LimitRule } from '../../src/domain/index.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { openFixture, type Fixture } from './postgres-fixtures.js';

const DESTINATION = 'http://127.0.0.1:9';
const rules = (maxInFlight: number | null, startsPerSecond: number | null = null): LimitRule[] => [
  { match: { kind: 'exact', destination: DESTINATION }, maxInFlight, startsPerSecond },
];

let nextId = 1;
const task = (): ClaimedTask => ({
  id: String(nextId++),
  taskType: 'http_callback',
  payload: { url: `${DESTINATION}/hook` },
  attempts: 0,
  maxAttempts: 3,
  executeAt: new Date(),
  owner: 'w',
  claimToken: randomUUID(),
  claimedAt: new Date(),
  taskUuid: null,
});

const leasedPlaces = async (pool: DatabasePool): Promise<number> => {
  const result = await pool.query(sql.unsafe`SELECT coalesce(sum(places), 0)::int AS n FROM destination_in_flight_leases`);
  return (result.rows[0] as { n: number }).n;
};

const released = (admission: Admission): void => {
  if (admission._tag === 'Admitted') admission.release();
};

/** Each worker process has its own pool; these stand for workers. */
describe('destination limits: in-flight places leased by each worker', () => {
  let fixture: Fixture;
  const pools: DatabasePool[] = [];
  const workerPool = async () => {
    const pool = await createPostgresPool(fixture.database.url, 3);
    pools.push(pool);
    return pool;
  };
  beforeEach(async () => {
    fixture = await openFixture();
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map(async (pool) => closePool(pool).catch(() => undefined)));
    await fixture.close();
  });

  it('three workers asking at once for 12 starts under in_flight=4: exactly 4 run, the rest wait without an attempt', async () => {
    const workers = await Promise.all(
      [0, 1, 2].map(async () => new PostgresDestinationLimits(await workerPool(), rules(4), new RecordingLogger())),
    );
    const admissions = await Promise.all(Array.from({ length: 12 }, (_, n) => workers[n % 3]!.acquire(DESTINATION, task())));

    expect(admissions.filter((admission) => admission._tag === 'Admitted')).toHaveLength(4);
    expect(admissions.filter((admission) => admission._tag === 'Postponed' && admission.reason === 'destination_limit')).toHaveLength(8);
    expect(await leasedPlaces(fixture.pool)).toBe(4);
    // Still full: a fourth worker waits too.
    const late = new PostgresDestinationLimits(await workerPool(), rules(4), new RecordingLogger());
    expect((await late.acquire(DESTINATION, task()))._tag).toBe('Postponed');

    // Ended tasks' places go back once unused for a moment, and another worker gets them.
    admissions.forEach(released);
    await sleep(300);
    expect(await leasedPlaces(fixture.pool)).toBe(0);
    const again = await Promise.all(Array.from({ length: 5 }, () => late.acquire(DESTINATION, task())));
    expect(again.map((admission) => admission._tag).sort()).toEqual(['Admitted', 'Admitted', 'Admitted', 'Admitted', 'Postponed']);
  });

  it('a worker reuses the places it holds: under a large limit, 40 tasks one after another cost one ask', async () => {
    const pool = await workerPool();
    const worker = new PostgresDestinationLimits(pool, rules(1000), new RecordingLogger());
    const first = await worker.acquire(DESTINATION, task());
    // The ask took the task's place and 32 spare ones (an eighth of the limit, at most 32).
    expect(await leasedPlaces(fixture.pool)).toBe(33);
    released(first);
    for (let n = 0; n < 40; n += 1) released(await worker.acquire(DESTINATION, task()));
    const open = await Promise.all(Array.from({ length: 20 }, () => worker.acquire(DESTINATION, task())));
    expect(open.every((admission) => admission._tag === 'Admitted')).toBe(true);
    expect(await leasedPlaces(fixture.pool)).toBe(33);
    open.forEach(released);
    await sleep(300);
    expect(await leasedPlaces(fixture.pool)).toBe(0);
  });

  it('a worker that dies holds its places until its lease runs out, and no longer', async () => {
    const doomedPool = await workerPool();
    const doomed = new PostgresDestinationLimits(doomedPool, rules(2), new RecordingLogger(), 900);
    const other = new PostgresDestinationLimits(await workerPool(), rules(2), new RecordingLogger(), 900);
    expect((await Promise.all([doomed.acquire(DESTINATION, task()), doomed.acquire(DESTINATION, task())])).map((a) => a._tag)).toEqual([
      'Admitted',
      'Admitted',
    ]);
    // Alive, it renews its lease: long after the lease's term, its places are still its own.
    await sleep(1_800);
    expect((await other.acquire(DESTINATION, task()))._tag).toBe('Postponed');

    // Its connection gone (the process died): the places come back once the lease has run out.
    await closePool(doomedPool);
    await sleep(1_300);
    const after = await Promise.all([
      other.acquire(DESTINATION, task()),
      other.acquire(DESTINATION, task()),
      other.acquire(DESTINATION, task()),
    ]);
    expect(after.map((admission) => admission._tag).sort()).toEqual(['Admitted', 'Admitted', 'Postponed']);
  });

  it('a rate far from binding admits at once and reserves nothing; one that binds reserves a start', async () => {
    const pool = await workerPool();
    const fast = new PostgresDestinationLimits(pool, rules(null, 1_000_000), new RecordingLogger());
    for (let n = 0; n < 30; n += 1) expect((await fast.acquire(DESTINATION, task()))._tag).toBe('Admitted');
    const state = async () =>
      ((await fixture.pool.query(sql.unsafe`SELECT count(*)::int AS n FROM destination_start_reservations`)).rows[0] as { n: number }).n;
    expect(await state()).toBe(0);

    const slowRules: LimitRule[] = [
      { match: { kind: 'exact', destination: 'http://127.0.0.1:10' }, maxInFlight: null, startsPerSecond: 2 },
    ];
    const slow = new PostgresDestinationLimits(pool, slowRules, new RecordingLogger());
    const slowTask = () => ({ ...task(), payload: { url: 'http://127.0.0.1:10/hook' } });
    const [one, two] = await Promise.all([
      slow.acquire('http://127.0.0.1:10', slowTask()),
      slow.acquire('http://127.0.0.1:10', slowTask()),
    ]);
    expect(one?._tag).toBe('Admitted');
    expect(two).toMatchObject({ _tag: 'Postponed', reason: 'destination_limit' });
    expect(await state()).toBe(1);
  });

  it('spare starts taken alone move the rate cursor by what they hand out, stop when it binds, and skip the WAL wait', async () => {
    // Instants as microseconds since 1970 (a Date keeps only milliseconds).
    type Spare = { first_us: number; granted: number; step_us: number; now_us: number; next_us: number };
    const take = async (db: Pick<DatabasePool, 'query'>, key: string, rate: number, max: number) =>
      (
        await db.query(
          sql.unsafe`SELECT (extract(epoch FROM first_at) * 1000000)::float8 AS first_us, granted, step_us,
                            (extract(epoch FROM now_at) * 1000000)::float8 AS now_us,
                            (extract(epoch FROM next_at) * 1000000)::float8 AS next_us
                       FROM at_worker_take_spare_destination_starts(${key}, ${rate}, ${max})`,
        )
      ).rows as readonly Spare[];
    const cursor = async (key: string) =>
      (
        (
          await fixture.pool.query(
            sql.unsafe`SELECT (extract(epoch FROM next_start) * 1000000)::float8 AS us
                         FROM destination_limit_state WHERE limit_key = ${key}`,
          )
        ).rows[0] as { us: number }
      ).us;
    // No task has asked for the key yet: nothing to move.
    expect(await take(fixture.pool, 'fast', 1_000_000, 7)).toEqual([]);
    await fixture.pool.query(sql.unsafe`INSERT INTO destination_limit_state (limit_key) VALUES ('fast'), ('odd'), ('slow')`);

    // Far from binding: as many as asked for (all due within 5 ms), the cursor moved past them.
    // 1.02 µs apart rounds up to 2 µs: never closer than 1.02/rate.
    const [fast] = await take(fixture.pool, 'fast', 1_000_000, 7);
    expect(fast).toMatchObject({ granted: 7, step_us: 2 });
    expect((await cursor('fast')) - fast!.first_us).toBe(14);
    expect(fast!.next_us).toBe(await cursor('fast'));
    // 1.02e6 / 49,000 = 20.8 µs: 21, where rounding to the nearest gave 21 too; at 50,000, 20.4 gave 20.
    expect((await take(fixture.pool, 'odd', 50_000, 1))[0]).toMatchObject({ granted: 1, step_us: 21 });
    // One a second: one start due now, the next 1.02 s away, so a second call gets none.
    const [first] = await take(fixture.pool, 'slow', 1, 128);
    expect(first).toMatchObject({ granted: 1, step_us: 1_020_000 });
    expect(first!.first_us).toBe(first!.now_us);
    expect((await cursor('slow')) - first!.first_us).toBe(1_020_000);
    const [second] = await take(fixture.pool, 'slow', 1, 128);
    expect(second).toMatchObject({ granted: 0, next_us: await cursor('slow') });
    expect((await cursor('slow')) - first!.first_us).toBe(1_020_000);

    // The call's own transaction commits without waiting for the WAL flush; on the same connection,
    // the next transaction does again.
    const setting = async (db: Pick<DatabasePool, 'query'>) =>
      ((await db.query(sql.unsafe`SELECT current_setting('synchronous_commit') AS value`)).rows[0] as { value: string }).value;
    await fixture.pool.connect(async (connection) => {
      expect(
        await connection.transaction(async (tx) => {
          await take(tx, 'fast', 1_000_000, 1);
          return setting(tx);
        }),
      ).toBe('off');
      await take(connection, 'fast', 1_000_000, 1);
      expect(await setting(connection)).toBe('on');
    });
  });

  it('a rate that does not bind costs the small call only, and one that binds still reserves', async () => {
    // The statements the worker's limits send, counted by the function they call.
    const calls = { leases: 0, spares: 0 };
    const counted = (pool: DatabasePool): DatabasePool =>
      new Proxy(pool, {
        get: (target, property, receiver) => {
          const value: unknown = Reflect.get(target, property, receiver);
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            const text = (args[0] as { sql?: string } | undefined)?.sql ?? '';
            if (text.includes('at_worker_take_destination_leases(')) calls.leases += 1;
            if (text.includes('at_worker_take_spare_destination_starts(')) calls.spares += 1;
            return (value as (...args: unknown[]) => unknown).apply(target, args);
          };
        },
      });
    const worker = new PostgresDestinationLimits(counted(await workerPool()), rules(null, 100), new RecordingLogger());
    // 30 starts at about 60 a second against a limit of 100: each admitted at once, none reserved.
    for (let n = 0; n < 30; n += 1) {
      const started = Date.now();
      const admission = await worker.acquire(DESTINATION, task());
      expect(admission._tag).toBe('Admitted');
      expect(Date.now() - started).toBeLessThan(500);
      await sleep(16);
    }
    // The first start creates the limit's row (the reserving call); the rest take spare starts.
    expect(calls.leases).toBeLessThanOrEqual(2);
    expect(calls.spares).toBeGreaterThanOrEqual(10);
    const reservations = async () =>
      ((await fixture.pool.query(sql.unsafe`SELECT count(*)::int AS n FROM destination_start_reservations`)).rows[0] as { n: number }).n;
    expect(await reservations()).toBe(0);

    // 40 at once against the same 100 a second: those whose start is within 250 ms wait for it (about
    // 25), the rest are postponed to a reserved start.
    const leasesBefore = calls.leases;
    const burst = await Promise.all(Array.from({ length: 40 }, () => worker.acquire(DESTINATION, task())));
    const postponed = burst.filter((admission) => admission._tag === 'Postponed');
    expect(postponed.length).toBeGreaterThan(0);
    expect(postponed.every((admission) => admission._tag === 'Postponed' && admission.reason === 'destination_limit')).toBe(true);
    expect(calls.leases).toBeGreaterThan(leasesBefore);
    expect(await reservations()).toBe(postponed.length);
  });
});
