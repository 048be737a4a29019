import * as t from 'io-ts';
import { sql, type CommonQueryMethods } from 'slonik';
import { rowSchema } from './row-schema.js';
import type { MinuteActivity, WorkerSeen } from '../../application/dashboard/ports.js';
import { ACTIVITY_BUCKET_MS } from './activity-recorder.js';
import { DateFromRow, nullable } from './rows.js';

const MINUTE_MS = 60_000;
const WINDOW_MINUTES = 60;
const BUCKET_MS = ACTIVITY_BUCKET_MS;
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
  const byBucket = new Map<number, ActivityRow[]>();
  for (const row of rows) {
    const bucket = row.bucket.getTime();
    byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), row]);
  }
  return summarise(byBucket, windowStart);
};

const summarise = (byBucket: ReadonlyMap<number, readonly ActivityRow[]>, windowStart: number): Activity => {
  const lastHour: MinuteActivity[] = [];
  const workers = new Map<string, { lastSeenAt: Date; claimed: number; completed: number; failed: number }>();
  for (let n = 0; n < WINDOW_MINUTES; n += 1) {
    const minute = windowStart + n * MINUTE_MS;
    let claimed = 0;
    let completed = 0;
    let failed = 0;
    let lateCount = 0;
    let lateSum = 0;
    let lateMax: number | null = null;
    const rows = Array.from({ length: MINUTE_MS / BUCKET_MS }, (_, n) => byBucket.get(minute + n * BUCKET_MS) ?? []).flat();
    for (const row of rows) {
      claimed += row.claimed;
      completed += row.completed;
      failed += row.failed;
      lateCount += row.late_count;
      lateSum += row.late_sum_ms;
      if (row.late_max_ms !== null) lateMax = Math.max(lateMax ?? row.late_max_ms, row.late_max_ms);
      const seen = workers.get(row.worker_id) ?? { lastSeenAt: row.last_seen_at, claimed: 0, completed: 0, failed: 0 };
      workers.set(row.worker_id, {
        lastSeenAt: seen.lastSeenAt > row.last_seen_at ? seen.lastSeenAt : row.last_seen_at,
        claimed: seen.claimed + row.claimed,
        completed: seen.completed + row.completed,
        failed: seen.failed + row.failed,
      });
    }
    lastHour.push({
      minute: new Date(minute),
      claimed,
      completed,
      failed,
      latenessAvgMs: lateCount === 0 ? null : Math.round(lateSum / lateCount),
      latenessMaxMs: lateMax === null ? null : Math.round(lateMax),
    });
  }
  const seen = [...workers.entries()]
    .map(([workerId, worker]) => ({ workerId, ...worker }))
    .sort((a, b) => b.lastSeenAt.getTime() - a.lastSeenAt.getTime())
    .slice(0, WORKER_LIMIT);
  return { lastHour, workers: seen };
};
