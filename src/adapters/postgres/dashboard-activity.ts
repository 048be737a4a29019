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

// The most events of a backlog one read aggregates (plus those sharing the last one's timestamp, one
// transaction's). An overview read runs while workers run: a backlog (the hour before the first read,
// or a burst that ran while nobody looked) is caught up over several reads, each costing at most
// this many events (a few µs of database CPU each), instead of one read that costs all of it at once.
export const EVENTS_PER_READ = 20_000;
// What a read takes of a backlog is what is left of EVENTS_PER_READ after the events new since the
// previous read, but at least this share of it: during a burst the new events fill the read and the
// backlog waits for a quieter one (each costs database CPU taken from the burst's workers), without
// stopping while the load lasts.
const BACKLOG_SHARE_MIN = 20;
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
  events: t.number,
  last_at: t.string,
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
 * `limit` is null), by 10-second bucket and worker: what was claimed, completed and failed, and how
 * late the claims were (claim time minus due time, the due time being what the event before the
 * claim set: execute_at of 'scheduled' or 'rescheduled', retry_at of 'retry_scheduled', or the
 * moment of a recovery or release). `cutAt`: the last event's timestamp when the limit was reached
 * (the events after it are left for the next read), else null.
 *
 * One pass, no self-join: the range is read through the BRIN index on occurred_at, sorted by task
 * and seq so that a claim finds the event before it as the row before it (lag), and only a claim
 * whose previous event lies outside the range (a task scheduled long before) costs a primary-key
 * look-up. The due time is parsed from the payload of the events that can come before a claim only.
 */
const readActivity = async (
  db: CommonQueryMethods,
  slice: Slice,
  limit: number | null,
): Promise<{ rows: readonly ActivityRow[]; cutAt: string | null }> => {
  const oldestFirst = limit === null ? sql.fragment`` : sql.fragment`ORDER BY occurred_at FETCH FIRST ${limit} ROWS WITH TIES`;
  const result = await db.query(sql.type(rowSchema('overview activity', ActivityRow))`
    SELECT date_bin(${`${BUCKET_MS / 1000} seconds`}::interval, r.occurred_at, 'epoch'::timestamptz) AS bucket, r.worker_id,
           count(*) FILTER (WHERE r.event_type = 'claimed')::float8 AS claimed,
           count(*) FILTER (WHERE r.event_type = 'completed')::float8 AS completed,
           count(*) FILTER (WHERE r.event_type = 'failed')::float8 AS failed,
           count(r.late_ms)::float8 AS late_count, coalesce(sum(r.late_ms), 0)::float8 AS late_sum_ms,
           max(r.late_ms)::float8 AS late_max_ms, max(r.occurred_at) AS last_seen_at,
           count(*)::float8 AS events, to_char(max(r.occurred_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS last_at
      FROM (SELECT c.event_type, c.worker_id, c.occurred_at,
                   CASE WHEN c.event_type = 'claimed' AND isfinite(c.due)
                        THEN extract(epoch FROM c.occurred_at - c.due) * 1000 END AS late_ms
              FROM (SELECT e.event_type, e.worker_id, e.occurred_at,
                           CASE WHEN e.event_type = 'claimed' THEN
                             coalesce(
                               CASE WHEN lag(e.seq) OVER w = e.seq - 1 THEN lag(e.due) OVER w END,
                               -- A task scheduled at '-infinity' (due since forever) has no lateness (isfinite above).
                               (SELECT coalesce((p.data->>'execute_at')::timestamptz, (p.data->>'retry_at')::timestamptz, p.occurred_at)
                                  FROM task_events AS p
                                 WHERE p.task_id = e.task_id AND p.seq = e.seq - 1))
                           END AS due
                      FROM (SELECT task_id, seq, event_type, worker_id, occurred_at,
                                   -- Ended tasks are never claimed again without an event of their own in between.
                                   CASE WHEN event_type NOT IN ('claimed', 'completed', 'failed', 'cancelled')
                                        THEN coalesce((data->>'execute_at')::timestamptz, (data->>'retry_at')::timestamptz, occurred_at)
                                   END AS due
                              FROM task_events
                             WHERE occurred_at >= ${slice.from}::timestamptz AND occurred_at > ${slice.after}::timestamptz
                               AND occurred_at < ${slice.until}::timestamptz
                             ${oldestFirst}) AS e
                    WINDOW w AS (PARTITION BY e.task_id ORDER BY e.seq)) AS c) AS r
     GROUP BY 1, 2`);
  const rows = result.rows;
  const events = rows.reduce((sum, row) => sum + row.events, 0);
  // The timestamps are written alike (UTC, microseconds), so the latest is the greatest text.
  const lastAt = rows.reduce<string | null>((latest, row) => (latest === null || row.last_at > latest ? row.last_at : latest), null);
  return { rows, cutAt: limit !== null && events >= limit ? lastAt : null };
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
 * oldest of it, what is left of `eventsPerRead` after the new events (at least 1/BACKLOG_SHARE_MIN of
 * it), continuing where the previous read stopped, until it is all counted;
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
    const { rows: newRows } = await readActivity(db, { from: iso(liveFrom), after: '-infinity', until: 'infinity' }, null);
    add(newRows, windowStart);
    if (backlog !== null) {
      const newEvents = newRows.reduce((sum, row) => sum + row.events, 0);
      const limit = Math.max(Math.ceil(eventsPerRead / BACKLOG_SHARE_MIN), eventsPerRead - newEvents);
      const start =
        backlog.after !== null && backlog.from >= windowStart ? backlog : { after: null, from: Math.max(windowStart, backlog.from) };
      // The stretch looked at shrinks with the limit: a read that takes few events scans few.
      const until = Math.min(backlog.end, start.from + Math.max(BUCKET_MS, Math.round((span * limit) / eventsPerRead)));
      const { rows, cutAt } = await readActivity(
        db,
        { from: iso(start.from), after: start.after ?? '-infinity', until: iso(until) },
        limit,
      );
      add(rows, windowStart);
      if (cutAt !== null) {
        const at = new Date(cutAt).getTime();
        backlog = { after: cutAt, from: at, end: backlog.end };
        span = Math.max(BUCKET_MS, Math.round((8 * (at - start.from) * eventsPerRead) / limit));
      } else if (until < backlog.end) {
        backlog = { after: null, from: until, end: backlog.end };
        span *= 8;
      } else {
        backlog = null;
        span = WINDOW_MS;
      }
    }
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
