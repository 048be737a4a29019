import * as t from 'io-ts';
import { sql, type CommonQueryMethods } from 'slonik';
import { rowSchema } from './row-schema.js';
import type { MinuteActivity, WorkerSeen } from '../../application/dashboard/ports.js';
import { DateFromRow, nullable } from './rows.js';

const MINUTE_MS = 60_000;
const WINDOW_MINUTES = 60;
// Workers listed on the overview, most recently seen first.
const WORKER_LIMIT = 50;

const ActivityRow = t.type({
  bucket: DateFromRow,
  worker_id: t.string,
  claimed: t.number,
  completed: t.number,
  failed: t.number,
  late_count: t.number,
  late_sum_ms: t.number,
  late_max_ms: nullable(t.number),
  last_seen_at: DateFromRow,
});
type ActivityRow = t.TypeOf<typeof ActivityRow>;

export interface Activity {
  readonly lastHour: readonly MinuteActivity[];
  readonly workers: readonly WorkerSeen[];
}

/**
 * The last hour by minute, and the workers seen in it, from at_worker_activity (migration 0016):
 * what each worker counted of its own claims (with their lateness, claim time minus due time),
 * completions and failures, by 10-second bucket. A few rows per worker and bucket, whatever the rate,
 * so each read takes the whole hour again.
 */
export const readActivity = async (db: CommonQueryMethods, now: Date): Promise<Activity> => {
  const windowStart = Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS - (WINDOW_MINUTES - 1) * MINUTE_MS;
  const rows = (
    await db.query(sql.type(rowSchema('overview activity', ActivityRow))`
      SELECT bucket, worker_id, claimed::float8 AS claimed, completed::float8 AS completed, failed::float8 AS failed,
             late_count::float8 AS late_count, late_sum_ms, late_max_ms, last_seen_at
        FROM at_worker_activity
       WHERE bucket >= ${new Date(windowStart).toISOString()}::timestamptz`)
  ).rows;
  return summarise(rows, windowStart);
};

/** The rows by minute of the hour from `windowStart`, and by worker; rows outside the hour count for neither. */
const summarise = (rows: readonly ActivityRow[], windowStart: number): Activity => {
  const minutes = Array.from({ length: WINDOW_MINUTES }, () => ({
    claimed: 0,
    completed: 0,
    failed: 0,
    lateCount: 0,
    lateSum: 0,
    lateMax: null as number | null,
  }));
  const workers = new Map<string, { lastSeenAt: Date; claimed: number; completed: number; failed: number }>();
  for (const row of rows) {
    const minute = minutes[Math.floor((row.bucket.getTime() - windowStart) / MINUTE_MS)];
    if (minute === undefined) continue;
    minute.claimed += row.claimed;
    minute.completed += row.completed;
    minute.failed += row.failed;
    minute.lateCount += row.late_count;
    minute.lateSum += row.late_sum_ms;
    if (row.late_max_ms !== null) minute.lateMax = Math.max(minute.lateMax ?? row.late_max_ms, row.late_max_ms);
    const seen = workers.get(row.worker_id) ?? { lastSeenAt: row.last_seen_at, claimed: 0, completed: 0, failed: 0 };
    workers.set(row.worker_id, {
      lastSeenAt: seen.lastSeenAt > row.last_seen_at ? seen.lastSeenAt : row.last_seen_at,
      claimed: seen.claimed + row.claimed,
      completed: seen.completed + row.completed,
      failed: seen.failed + row.failed,
    });
  }
  const lastHour: MinuteActivity[] = minutes.map((minute, n) => ({
    minute: new Date(windowStart + n * MINUTE_MS),
    claimed: minute.claimed,
    completed: minute.completed,
    failed: minute.failed,
    latenessAvgMs: minute.lateCount === 0 ? null : Math.round(minute.lateSum / minute.lateCount),
    latenessMaxMs: minute.lateMax === null ? null : Math.round(minute.lateMax),
  }));
  const seen = [...workers.entries()]
    .map(([workerId, worker]) => ({ workerId, ...worker }))
    .sort((a, b) => b.lastSeenAt.getTime() - a.lastSeenAt.getTime())
    .slice(0, WORKER_LIMIT);
  return { lastHour, workers: seen };
};
