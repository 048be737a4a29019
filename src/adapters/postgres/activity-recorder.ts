import type { DatabasePool } from 'slonik';
import { noMetrics, type Logger, type WorkerMetrics } from '../../application/ports.js';
import { errorMessage } from '../../shared/error-message.js';
import { jsonbText } from '../../shared/jsonb-text.js';
import { LATEST_DATE_MS } from './pg-timestamp.js';
import { statement } from './row-schema.js';

/** The buckets a worker counts in (dashboard-activity.ts sums them by minute). */
const BUCKET_MS = 10_000;
/** How often a worker adds what it counted to at_worker_activity. */
const FLUSH_MS = 5_000;
/** Rows older than this are deleted, by each worker about every RETIRE_EVERY flushes. */
const KEEP_MS = 2 * 3_600_000;
const RETIRE_EVERY = 120;

interface Tally {
  claimed: number;
  completed: number;
  failed: number;
  lateCount: number;
  lateSumMs: number;
  lateMaxMs: number | null;
  lastSeenAt: number;
}

export interface ActivityRecorder {
  /** The counting side of WorkerMetrics: claims with their lateness, final outcomes. */
  readonly metrics: WorkerMetrics;
  /** Adds what was counted since the previous flush to at_worker_activity. */
  flush(): Promise<void>;
  /** Stops the timer and flushes what is left. */
  close(): Promise<void>;
}

/**
 * A worker's tally for the dashboard's last hour (migration 0016): claims and how late they were,
 * tasks completed and failed, by 10-second bucket of this worker's clock, counted in memory as the
 * same hooks feed /metrics, and added to the table every FLUSH_MS in one statement. A flush
 * that fails keeps its counts for the next one (one warning per outage), so a database that is away
 * for a while loses nothing but the worker's memory if it also stops.
 */
export const createActivityRecorder = (
  pool: DatabasePool,
  workerId: string,
  logger: Logger,
  { flushMs = FLUSH_MS, now = () => Date.now() }: { readonly flushMs?: number; readonly now?: () => number } = {},
): ActivityRecorder => {
  let tallies = new Map<number, Tally>();
  let flushes = 0;
  let failing = false;
  let flushing: Promise<void> = Promise.resolve();

  const tally = (): Tally => {
    const at = now();
    const bucket = Math.floor(at / BUCKET_MS) * BUCKET_MS;
    let found = tallies.get(bucket);
    if (found === undefined) {
      found = { claimed: 0, completed: 0, failed: 0, lateCount: 0, lateSumMs: 0, lateMaxMs: null, lastSeenAt: at };
      tallies.set(bucket, found);
    }
    found.lastSeenAt = at;
    return found;
  };

  const metrics: WorkerMetrics = {
    ...noMetrics,
    claimed: (_taskType, scheduleLagMs) => {
      const counted = tally();
      counted.claimed += 1;
      // A task due since '-infinity' (its due time read as the earliest Date) has no lateness.
      if (scheduleLagMs < LATEST_DATE_MS) {
        counted.lateCount += 1;
        counted.lateSumMs += scheduleLagMs;
        counted.lateMaxMs = Math.max(counted.lateMaxMs ?? scheduleLagMs, scheduleLagMs);
      }
    },
    attemptEnded: (_taskType, outcome) => {
      if (outcome === 'completed') tally().completed += 1;
      else if (outcome === 'failed') tally().failed += 1;
    },
    recovered: (_taskType, outcome) => {
      if (outcome === 'failed') tally().failed += 1;
    },
  };

  const write = async (): Promise<void> => {
    if (tallies.size === 0) return;
    const taken = tallies;
    tallies = new Map();
    const rows = [...taken].map(([bucket, counted]) => ({
      bucket: new Date(bucket).toISOString(),
      claimed: counted.claimed,
      completed: counted.completed,
      failed: counted.failed,
      late_count: counted.lateCount,
      late_sum_ms: counted.lateSumMs,
      late_max_ms: counted.lateMaxMs,
      last_seen_at: new Date(counted.lastSeenAt).toISOString(),
    }));
    try {
      await pool.query(statement`
        INSERT INTO at_worker_activity AS a
               (bucket, worker_id, claimed, completed, failed, late_count, late_sum_ms, late_max_ms, last_seen_at)
        SELECT r.bucket, ${workerId}, r.claimed, r.completed, r.failed, r.late_count, r.late_sum_ms, r.late_max_ms, r.last_seen_at
          FROM jsonb_to_recordset(${jsonbText(rows)}::jsonb)
            AS r(bucket timestamptz, claimed integer, completed integer, failed integer, late_count integer,
                 late_sum_ms double precision, late_max_ms double precision, last_seen_at timestamptz)
        ON CONFLICT (bucket, worker_id) DO UPDATE
           SET claimed = a.claimed + excluded.claimed,
               completed = a.completed + excluded.completed,
               failed = a.failed + excluded.failed,
               late_count = a.late_count + excluded.late_count,
               late_sum_ms = a.late_sum_ms + excluded.late_sum_ms,
               late_max_ms = greatest(a.late_max_ms, excluded.late_max_ms),
               last_seen_at = greatest(a.last_seen_at, excluded.last_seen_at)`);
      failing = false;
    } catch (cause) {
      // Kept for the next flush, added to whatever was counted meanwhile; what is older than the
      // rows the table keeps is dropped, so a worker that cannot write for hours does not grow.
      const oldest = now() - KEEP_MS;
      for (const [bucket, counted] of taken) {
        if (bucket < oldest) continue;
        const later = tallies.get(bucket);
        tallies.set(bucket, later === undefined ? counted : merged(counted, later));
      }
      if (!failing) logger.warn(`[Worker ${workerId}] could not write its activity for the dashboard, keeping it: ${errorMessage(cause)}`);
      failing = true;
      return;
    }
    flushes += 1;
    if (flushes % RETIRE_EVERY !== 1) return;
    try {
      await pool.query(statement`DELETE FROM at_worker_activity WHERE bucket < now() - make_interval(secs => ${KEEP_MS / 1000})`);
    } catch (cause) {
      // The counts are written; old rows wait for the next worker's (or this one's) next try.
      logger.warn(`[Worker ${workerId}] could not delete activity rows older than ${KEEP_MS / 3_600_000} hours: ${errorMessage(cause)}`);
    }
  };

  // One flush at a time, so that close() ends after a flush already under way, and the final one
  // takes whatever that flush gave back.
  const flush = (): Promise<void> => {
    flushing = flushing.then(write);
    return flushing;
  };
  const timer = setInterval(() => void flush(), flushMs);
  timer.unref();
  return {
    metrics,
    flush,
    close: async () => {
      clearInterval(timer);
      await flush();
    },
  };
};

const merged = (a: Tally, b: Tally): Tally => ({
  claimed: a.claimed + b.claimed,
  completed: a.completed + b.completed,
  failed: a.failed + b.failed,
  lateCount: a.lateCount + b.lateCount,
  lateSumMs: a.lateSumMs + b.lateSumMs,
  lateMaxMs: a.lateMaxMs === null ? b.lateMaxMs : b.lateMaxMs === null ? a.lateMaxMs : Math.max(a.lateMaxMs, b.lateMaxMs),
  lastSeenAt: Math.max(a.lastSeenAt, b.lastSeenAt),
});
