import * as t from 'io-ts';
import { sql, type CommonQueryMethods, type DatabasePool } from 'slonik';
import { rowSchema, statement } from './row-schema.js';
import type { Overview } from '../../application/dashboard/ports.js';
import { TASK_STATUSES, type TaskStatus } from '../../domain/index.js';
import { readActivity } from './dashboard-activity.js';
import { DateFromRow } from './rows.js';
import { StuckRow, stuckSummary } from './stuck-rows.js';

// Lists on the overview stay short: it is a glance; the task list pages through the rest.
const LIST_LIMIT = 10;
// Failures are grouped over the latest this many failed tasks (newest by id, through the index of
// migration 0007): what is failing now, at a bounded cost however many failures have piled up.
const FAILURE_SAMPLE = 1000;
// Errors differing only after this many characters (an id, a timestamp at the end) group together.
const ERROR_GROUP_CHARS = 120;

const CountRow = t.type({ status: t.string, count: t.number });
const FailureRow = t.type({ task_type: t.string, error: t.string, count: t.number, last_at: DateFromRow });
const NowRow = t.type({ now: DateFromRow });

/**
 * The overview, read in one read-only REPEATABLE READ transaction so its counts, charts and lists
 * describe the same moment. The last hour comes from the workers' tally (dashboard-activity.ts);
 * counts and stuck or failed tasks from the rows.
 */
export const createOverviewReader =
  (pool: DatabasePool): ((stuckTimeoutMs: number) => Promise<Overview>) =>
  (stuckTimeoutMs) =>
    readOverview(pool, stuckTimeoutMs);

const readOverview = (pool: DatabasePool, stuckTimeoutMs: number): Promise<Overview> =>
  pool.transaction(async (tx) => {
    await tx.query(statement`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`);
    // One process per query: parallel workers would finish the count sooner by taking cores from the
    // workers' claims and completions, which matter more than a page a few hundred ms faster.
    await tx.query(statement`SET LOCAL max_parallel_workers_per_gather = 0`);
    // The counts over a large table look expensive to the planner, and JIT compiling them costs more
    // CPU than the index scans it would speed up.
    await tx.query(statement`SET LOCAL jit = off`);
    const [now] = (await tx.query(sql.type(rowSchema('overview now', NowRow))`SELECT now() AS now`)).rows;
    const { counts: countsByStatus, estimated } = await statusCounts(tx);
    const { lastHour, workers } = await readActivity(tx, now?.now ?? new Date());
    const stuck = (
      await tx.query(sql.type(rowSchema('overview stuck', StuckRow))`
          SELECT id, task_type, locked_by AS owner, attempts, max_attempts, heartbeat_at,
                 extract(epoch FROM now() - heartbeat_at)::float8 AS silent_for_seconds
            FROM scheduled_tasks
           WHERE status = 'processing' AND heartbeat_at < now() - make_interval(secs => ${stuckTimeoutMs / 1000})
           ORDER BY heartbeat_at
           LIMIT ${LIST_LIMIT}`)
    ).rows;
    const failures = (
      await tx.query(sql.type(rowSchema('overview failures', FailureRow))`
          SELECT task_type, left(coalesce(error_message, ''), ${ERROR_GROUP_CHARS}) AS error,
                 count(*)::float8 AS count, max(updated_at) AS last_at
            FROM (SELECT task_type, error_message, updated_at
                    FROM scheduled_tasks
                   WHERE status = 'failed'
                   ORDER BY id DESC
                   LIMIT ${FAILURE_SAMPLE}) AS latest
           GROUP BY 1, 2
           ORDER BY count(*) DESC, max(updated_at) DESC
           LIMIT ${LIST_LIMIT}`)
    ).rows;
    return {
      readAt: now?.now ?? new Date(),
      countsByStatus,
      estimated,
      lastHour,
      stuck: {
        timeoutMs: stuckTimeoutMs,
        oldest: stuck.map(stuckSummary),
      },
      failureSample: FAILURE_SAMPLE,
      failures: failures.map((row) => ({ taskType: row.task_type, error: row.error, count: row.count, lastAt: row.last_at })),
      workers,
    };
  });

// Below this many rows an exact count by status is a few tens of ms; above it, the count of every
// completed task is what makes the overview cost (0.3-0.4 s of CPU per million rows here).
const EXACT_COUNT_LIMIT = 200_000;
const StatRow = t.type({ live: t.number });

/**
 * Tasks by status. Exact on a table under EXACT_COUNT_LIMIT rows. Above it, exact for the statuses
 * a partial index lists (pending, processing, failed, cancelled: each an index range) and completed
 * estimated as the table's live rows (pg_stat_user_tables.n_live_tup, which inserts and deletes keep
 * current without VACUUM) minus those. Statistics lost in a crash read 0, which means an exact count.
 */
const statusCounts = async (db: CommonQueryMethods): Promise<{ counts: Record<TaskStatus, number>; estimated: TaskStatus[] }> => {
  const counts = Object.fromEntries(TASK_STATUSES.map((status) => [status, 0])) as Record<TaskStatus, number>;
  const [stat] = (
    await db.query(sql.type(rowSchema('overview live rows', StatRow))`
        SELECT coalesce((SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = 'scheduled_tasks'::regclass), 0)::float8 AS live`)
  ).rows;
  const live = stat?.live ?? 0;
  if (live < EXACT_COUNT_LIMIT) {
    const result = await db.query(
      sql.type(rowSchema('overview counts', CountRow))`SELECT status, count(*)::float8 AS count FROM scheduled_tasks GROUP BY status`,
    );
    for (const row of result.rows) {
      if ((TASK_STATUSES as readonly string[]).includes(row.status)) counts[row.status as TaskStatus] = row.count;
    }
    return { counts, estimated: [] };
  }
  const result = await db.query(sql.type(rowSchema('overview exact counts', ExactRow))`
    SELECT (SELECT count(*) FROM scheduled_tasks WHERE status = 'pending')::float8 AS pending,
           (SELECT count(*) FROM scheduled_tasks WHERE status = 'processing')::float8 AS processing,
           (SELECT count(*) FROM scheduled_tasks WHERE status = 'failed')::float8 AS failed,
           (SELECT count(*) FROM scheduled_tasks WHERE status = 'cancelled')::float8 AS cancelled`);
  const [exact] = result.rows;
  if (exact !== undefined) Object.assign(counts, exact);
  counts.completed = Math.max(0, live - counts.pending - counts.processing - counts.failed - counts.cancelled);
  return { counts, estimated: ['completed'] };
};

const ExactRow = t.type({ pending: t.number, processing: t.number, failed: t.number, cancelled: t.number });
