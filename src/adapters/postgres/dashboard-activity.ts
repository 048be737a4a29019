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

// The most events of a backlog one read aggregates (plus those sharing the last one's timestamp, one
// transaction's). An overview read runs while workers run: a backlog (the hour before the first read,
// or a burst that ran while nobody looked) is caught up over several reads, each costing at most
// this many events (a few µs of database CPU each), instead of one read that costs all of it at once.
export const EVENTS_PER_READ = 20_000;
// A read that follows the previous one within this long is someone watching: everything since the
// previous read is new and read in full, so the overview keeps up with any rate. After a longer
// pause, what was written meanwhile (but its last few seconds) is a backlog.
const WATCHED_MS = 30_000;
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
 * The oldest `limit` events of `slice` (and any sharing the last one's timestamp; all of them when
 * `limit` is null), by 10-second
 * bucket and worker: what was claimed, completed and failed, and how late the claims were (claim
 * time minus due time, the due time being what the event before the claim set: execute_at of
 * 'scheduled' or 'rescheduled', retry_at of 'retry_scheduled', or the moment of a recovery or
 * release). `cut_at` on every row: the last event's timestamp when the limit was reached (the
 * events after it are left for the next read), else null. The range is read through the BRIN index
 * on occurred_at; a claim's previous event is taken from the same range when it is there (a hash
 * join), else by one primary-key look-up.
 */
const readActivity = async (
  db: CommonQueryMethods,
  slice: Slice,
  limit: number | null,
): Promise<{ rows: ActivityRow[]; cutAt: string | null }> => {
  const result = await db.query(sql.unsafe`
    WITH slice AS MATERIALIZED (
      SELECT task_id, seq, event_type, worker_id, occurred_at,
             CASE WHEN event_type <> 'claimed'
                  THEN coalesce((data->>'execute_at')::timestamptz, (data->>'retry_at')::timestamptz, occurred_at) END AS due
        FROM task_events
       WHERE occurred_at >= ${slice.from}::timestamptz AND occurred_at > ${slice.after}::timestamptz
         AND occurred_at < ${slice.until}::timestamptz
       ${limit === null ? sql.fragment`` : sql.fragment`ORDER BY occurred_at FETCH FIRST ${limit} ROWS WITH TIES`}
    ), cut AS (
      SELECT CASE WHEN count(*) >= ${limit}::bigint
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

/** Where a backlog's next read starts (after the last event read, or from a moment) and where it ends (exclusive). */
interface Backlog {
  readonly after: string | null;
  readonly from: number;
  readonly end: number;
}

/**
 * The last hour's activity, kept between reads and brought up to date incrementally, the history
 * being append-only. A read takes in full what is new since the previous one, from shortly before
 * it (a settled bucket never changes), so a read every 10 s during a burst costs the events of those
 * 10 s, not of the hour. What was written before that, unread (the hour before the first read, or
 * whatever happened during a pause longer than WATCHED_MS), is a backlog: each read also takes the
 * oldest `eventsPerRead` of it, continuing where the previous read stopped, until it is all counted;
 * meanwhile `readUpTo` says where counting has got. Reads must not overlap (the caller runs one at a
 * time).
 */
export const createActivityWindow = (eventsPerRead = EVENTS_PER_READ) => {
  const byBucket = new Map<number, ActivityRow[]>();
  let readAt: number | null = null;
  let backlog: Backlog | null = null;
  // How long a stretch of the backlog one read looks at: grown and shrunk so that it holds a few
  // times eventsPerRead, so one read scans a few times the rows it aggregates at most.
  let span = WINDOW_MS;

  const add = (rows: readonly ActivityRow[], windowStart: number) => {
    for (const row of rows) {
      const bucket = row.bucket.getTime();
      if (bucket >= windowStart) byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), row]);
    }
  };

  return async (db: CommonQueryMethods, now: Date): Promise<Activity> => {
    const nowMs = now.getTime();
    const windowStart = floorTo(nowMs, MINUTE_MS) - (WINDOW_MINUTES - 1) * MINUTE_MS;
    // New since the previous read: from shortly before it, or only the last few seconds after a pause.
    const settled = (at: number) => Math.max(windowStart, floorTo(Math.min(at, nowMs) - SETTLE_MS, BUCKET_MS));
    const watched = readAt !== null && nowMs - readAt <= WATCHED_MS;
    const liveFrom = watched && readAt !== null ? settled(readAt) : settled(nowMs);
    // Buckets from here on are read again: by the backlog (what was unread during a pause, or since the
    // end of a backlog that pause extends) or by this read's look at what is new.
    let rereadFrom = liveFrom;
    if (!watched) {
      const unreadFrom = backlog?.end ?? (readAt === null ? windowStart : settled(readAt));
      if (unreadFrom < liveFrom) {
        backlog = { after: backlog?.after ?? null, from: backlog?.from ?? unreadFrom, end: liveFrom };
        rereadFrom = unreadFrom;
      }
    }
    for (const bucket of [...byBucket.keys()]) if (bucket < windowStart || bucket >= rereadFrom) byBucket.delete(bucket);
    if (backlog !== null && backlog.end <= windowStart) backlog = null;
    if (backlog !== null) {
      const start =
        backlog.after !== null && backlog.from >= windowStart ? backlog : { after: null, from: Math.max(windowStart, backlog.from) };
      const until = Math.min(backlog.end, start.from + span);
      const { rows, cutAt } = await readActivity(
        db,
        { from: iso(start.from), after: start.after ?? '-infinity', until: iso(until) },
        eventsPerRead,
      );
      add(rows, windowStart);
      if (cutAt !== null) {
        const at = new Date(cutAt).getTime();
        backlog = { after: cutAt, from: at, end: backlog.end };
        span = Math.max(BUCKET_MS, 8 * (at - start.from));
      } else if (until < backlog.end) {
        backlog = { after: null, from: until, end: backlog.end };
        span *= 8;
      } else {
        backlog = null;
        span = WINDOW_MS;
      }
    }
    const { rows } = await readActivity(db, { from: iso(liveFrom), after: '-infinity', until: 'infinity' }, null);
    add(rows, windowStart);
    readAt = nowMs;
    return { ...summarise(byBucket, windowStart), readUpTo: backlog === null ? null : new Date(backlog.from) };
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
