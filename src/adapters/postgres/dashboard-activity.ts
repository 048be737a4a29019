import * as t from 'io-ts';
import { sql, type CommonQueryMethods } from 'slonik';
import type { MinuteActivity, WorkerSeen } from '../../application/dashboard/ports.js';
import { DateFromRow, decodeRows, nullable } from './rows.js';

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

// The most events one read aggregates (plus those sharing the last one's timestamp, one transaction's).
// An overview read runs while workers run: a backlog (the first read of a busy hour, or the first
// read after a burst nobody watched) is caught up over several reads, each costing at most this many
// events (about 3 µs of database CPU each, most of it the look-up of each claim's previous event),
// instead of one read that costs the whole backlog at once.
export const EVENTS_PER_READ = 20_000;
const WINDOW_MS = WINDOW_MINUTES * MINUTE_MS;

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
  cut_at: nullable(t.string),
});
type ActivityRow = t.TypeOf<typeof ActivityRow>;

/** Which events a read takes: occurred_at >= from, > after, < until (timestamptz texts; ±infinity for no bound). */
interface Slice {
  readonly from: string;
  readonly after: string;
  readonly until: string;
}

/**
 * The oldest `limit` events of `slice` (and any sharing the last one's timestamp), by 10-second
 * bucket and worker: what was claimed, completed and failed, and how late the claims were (claim
 * time minus due time, the due time being what the event before the claim set: execute_at of
 * 'scheduled' or 'rescheduled', retry_at of 'retry_scheduled', or the moment of a recovery or
 * release). `cut_at` on every row: the last event's timestamp when the limit was reached (the
 * events after it are left for the next read), else null. The range is read through the BRIN index
 * on occurred_at; the previous event is one primary-key look-up per claim, made for claims only.
 */
const readActivity = async (
  db: CommonQueryMethods,
  slice: Slice,
  limit: number,
): Promise<{ rows: ActivityRow[]; cutAt: string | null }> => {
  const result = await db.query(sql.unsafe`
    WITH slice AS MATERIALIZED (
      SELECT task_id, seq, event_type, worker_id, occurred_at,
             CASE WHEN event_type <> 'claimed'
                  THEN coalesce((data->>'execute_at')::timestamptz, (data->>'retry_at')::timestamptz, occurred_at) END AS due
        FROM task_events
       WHERE occurred_at >= ${slice.from}::timestamptz AND occurred_at > ${slice.after}::timestamptz
         AND occurred_at < ${slice.until}::timestamptz
       ORDER BY occurred_at
       FETCH FIRST ${limit} ROWS WITH TIES
    ), cut AS (
      SELECT CASE WHEN count(*) >= ${limit}
                  THEN to_char(max(occurred_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END AS at
        FROM slice
    ), claims AS (
      -- Each claim's due time: from the event before it when that is in the slice too (a hash join),
      -- else one primary-key look-up.
      SELECT c.task_id, c.seq, extract(epoch FROM c.occurred_at - d.due) * 1000 AS ms
        FROM slice AS c
        LEFT JOIN slice AS prev ON prev.task_id = c.task_id AND prev.seq = c.seq - 1
       CROSS JOIN LATERAL (
         SELECT coalesce(prev.due, (SELECT coalesce((p.data->>'execute_at')::timestamptz, (p.data->>'retry_at')::timestamptz, p.occurred_at)
                                      FROM task_events AS p
                                     WHERE p.task_id = c.task_id AND p.seq = c.seq - 1)) AS due
       ) AS d
       -- A task scheduled at '-infinity' (due since forever) has no lateness; subtracting would fail the page.
       WHERE c.event_type = 'claimed' AND isfinite(d.due)
    )
    SELECT date_bin(${`${BUCKET_MS / 1000} seconds`}::interval, r.occurred_at, 'epoch'::timestamptz) AS bucket, r.worker_id,
           count(*) FILTER (WHERE r.event_type = 'claimed')::float8 AS claimed,
           count(*) FILTER (WHERE r.event_type = 'completed')::float8 AS completed,
           count(*) FILTER (WHERE r.event_type = 'failed')::float8 AS failed,
           count(l.ms)::float8 AS late_count, coalesce(sum(l.ms), 0)::float8 AS late_sum_ms,
           max(l.ms)::float8 AS late_max_ms, max(r.occurred_at) AS last_seen_at, (SELECT at FROM cut) AS cut_at
      FROM slice AS r
      LEFT JOIN claims AS l ON l.task_id = r.task_id AND l.seq = r.seq
     GROUP BY 1, 2`);
  const rows = decodeRows(ActivityRow, 'overview activity', result.rows);
  return { rows, cutAt: rows[0]?.cut_at ?? null };
};

export interface Activity {
  readonly lastHour: readonly MinuteActivity[];
  readonly workers: readonly WorkerSeen[];
  /** While catching up on a backlog: the history is aggregated up to this moment only. Null: up to date. */
  readonly readUpTo: Date | null;
}

const floorTo = (ms: number, step: number): number => Math.floor(ms / step) * step;
const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * The last hour's activity, kept between reads and brought up to date incrementally, the history
 * being append-only: a read re-reads only the buckets from shortly before the previous one (a
 * settled bucket never changes), so a read every 10 s during a burst costs the events of those
 * 10 s, not of the hour. A read aggregates at most `eventsPerRead` events, oldest first: a larger
 * backlog is caught up over the following reads, each continuing where the previous stopped, and
 * meanwhile `readUpTo` says how far the history is read. Reads must not overlap (the caller runs
 * one at a time).
 */
export const createActivityWindow = (eventsPerRead = EVENTS_PER_READ) => {
  const byBucket = new Map<number, ActivityRow[]>();
  // When the history was last read up to the present.
  let readAt: number | null = null;
  // While catching up: where the next read continues (after the last event read, or from the end of
  // the range read), and how long a range of history it looks at.
  let behind: { readonly after: string; readonly at: number } | { readonly from: number } | null = null;
  let span = WINDOW_MS;

  return async (db: CommonQueryMethods, now: Date): Promise<Activity> => {
    const nowMs = now.getTime();
    const windowStart = floorTo(nowMs, MINUTE_MS) - (WINDOW_MINUTES - 1) * MINUTE_MS;
    let from: number;
    let after = '-infinity';
    if (behind === null) {
      from = readAt === null ? windowStart : Math.max(windowStart, floorTo(Math.min(readAt, nowMs) - SETTLE_MS, BUCKET_MS));
      for (const bucket of [...byBucket.keys()]) if (bucket >= from) byBucket.delete(bucket);
    } else if ('after' in behind && behind.at >= windowStart) {
      from = behind.at;
      after = behind.after;
    } else {
      from = Math.max(windowStart, 'from' in behind ? behind.from : windowStart);
    }
    // The range looked at ends `span` after its start, or is open when that reaches the present.
    const until = from + span < nowMs ? from + span : null;
    const slice = { from: iso(from), after, until: until === null ? 'infinity' : iso(until) };
    const { rows, cutAt } = await readActivity(db, slice, eventsPerRead);
    for (const bucket of [...byBucket.keys()]) if (bucket < windowStart) byBucket.delete(bucket);
    for (const row of rows) {
      const bucket = row.bucket.getTime();
      if (bucket >= windowStart) byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), row]);
    }
    if (cutAt !== null) {
      const at = new Date(cutAt).getTime();
      behind = { after: cutAt, at };
      // Next time, look at 8 times the history this read got through: one read scans a few times the
      // rows it aggregates at most, and a backlog followed by a quiet time is caught up in few reads.
      span = Math.max(BUCKET_MS, 8 * (at - from));
    } else if (until !== null) {
      behind = { from: until };
      span *= 8;
    } else {
      behind = null;
      readAt = nowMs;
      span = WINDOW_MS;
    }
    const readUpTo = behind === null ? null : new Date('after' in behind ? behind.at : behind.from);
    return { ...summarise(byBucket, windowStart), readUpTo };
  };
};

const summarise = (byBucket: ReadonlyMap<number, readonly ActivityRow[]>, windowStart: number): Omit<Activity, 'readUpTo'> => {
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
