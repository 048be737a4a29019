import * as t from 'io-ts';
import { sql, type CommonQueryMethods } from 'slonik';
import { rowSchema } from './row-schema.js';
import type { MinuteActivity, WorkerSeen } from '../../application/dashboard/ports.js';
import { DateFromRow, nullable } from './rows.js';

const MINUTE_MS = 60_000;
const WINDOW_MINUTES = 60;
// Events are aggregated and kept in 10-second buckets, so a read every 10 s (the overview's cache)
// reads again only the last bucket or two rather than the whole current minute.
const BUCKET_MS = 10_000;
// Workers listed on the overview, most recently seen first.
const WORKER_LIMIT = 50;
// An event is stamped with its transaction's start (now()), so one that commits a little late can
// land in a bucket already read. Buckets that ended this long before the previous read are settled
// and kept; later ones are read again. The worker's transactions last milliseconds.
const SETTLE_MS = 5_000;

const ActivityRow = t.type({
  bucket: DateFromRow,
  worker_id: nullable(t.string),
  claimed: t.number,
  completed: t.number,
  failed: t.number,
  late_count: t.number,
  late_sum_ms: t.number,
  late_max_ms: nullable(t.number),
  last_seen_at: DateFromRow,
});
type ActivityRow = t.TypeOf<typeof ActivityRow>;

/**
 * task_events from `since`, by 10-second bucket and worker: what was claimed, completed and failed, and how
 * late the claims were (claim time minus due time, the due time being what the event before the
 * claim set: execute_at of 'scheduled' or 'rescheduled', retry_at of 'retry_scheduled', or the
 * moment of a recovery or release). The previous event is one primary-key look-up per claim; the
 * range is read through the BRIN index on occurred_at.
 */
const readActivity = async (db: CommonQueryMethods, since: Date): Promise<readonly ActivityRow[]> => {
  const result = await db.query(sql.type(rowSchema('overview activity', ActivityRow))`
    WITH recent AS (
      SELECT task_id, seq, event_type, worker_id, occurred_at
        FROM task_events
       WHERE occurred_at >= ${since.toISOString()}::timestamptz
    ), late AS (
      SELECT c.task_id, c.seq, extract(epoch FROM c.occurred_at - d.due) * 1000 AS ms
        FROM recent AS c
        JOIN task_events AS p ON p.task_id = c.task_id AND p.seq = c.seq - 1
       CROSS JOIN LATERAL (SELECT coalesce((p.data->>'execute_at')::timestamptz, (p.data->>'retry_at')::timestamptz,
                                           p.occurred_at) AS due) AS d
       -- A task scheduled at '-infinity' (due since forever) has no lateness; subtracting would fail the page.
       WHERE c.event_type = 'claimed' AND isfinite(d.due)
    )
    SELECT date_bin(${`${BUCKET_MS / 1000} seconds`}::interval, r.occurred_at, 'epoch'::timestamptz) AS bucket, r.worker_id,
           count(*) FILTER (WHERE r.event_type = 'claimed')::float8 AS claimed,
           count(*) FILTER (WHERE r.event_type = 'completed')::float8 AS completed,
           count(*) FILTER (WHERE r.event_type = 'failed')::float8 AS failed,
           count(l.ms)::float8 AS late_count, coalesce(sum(l.ms), 0)::float8 AS late_sum_ms, max(l.ms)::float8 AS late_max_ms,
           max(r.occurred_at) AS last_seen_at
      FROM recent AS r
      LEFT JOIN late AS l ON l.task_id = r.task_id AND l.seq = r.seq
     GROUP BY 1, 2`);
  return result.rows;
};

export interface Activity {
  readonly lastHour: readonly MinuteActivity[];
  readonly workers: readonly WorkerSeen[];
}

const floorTo = (ms: number, step: number): number => Math.floor(ms / step) * step;

/**
 * The last hour's activity, kept between reads and brought up to date incrementally: the first read
 * aggregates the whole hour, each later one only the buckets since shortly before the previous read
 * (the history is append-only, so a settled bucket never changes). On a busy history that turns a
 * read of an hour of events into one of the last 10-20 seconds. Reads must not overlap (the caller
 * runs one at a time).
 */
export const createActivityWindow = () => {
  const byBucket = new Map<number, ActivityRow[]>();
  let readAt: number | null = null;

  return async (db: CommonQueryMethods, now: Date): Promise<Activity> => {
    const windowStart = floorTo(now.getTime(), MINUTE_MS) - (WINDOW_MINUTES - 1) * MINUTE_MS;
    const since = readAt === null ? windowStart : Math.max(windowStart, floorTo(Math.min(readAt, now.getTime()) - SETTLE_MS, BUCKET_MS));
    const rows = await readActivity(db, new Date(since));
    for (const bucket of [...byBucket.keys()]) if (bucket < windowStart || bucket >= since) byBucket.delete(bucket);
    for (const row of rows) {
      const bucket = row.bucket.getTime();
      byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), row]);
    }
    readAt = now.getTime();
    return summarise(byBucket, windowStart);
  };
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
      if (row.worker_id === null) continue;
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
