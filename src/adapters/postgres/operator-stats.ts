import * as t from 'io-ts';
import { sql, type DatabasePool } from 'slonik';
import { rowSchema, statement } from './row-schema.js';
import type { TaskStats } from '../../application/operator/ports.js';
import { TASK_STATUSES, type TaskStatus } from '../../domain/index.js';
import { storageStats } from './storage-stats.js';
import { circuitSummaries } from './operator-circuits.js';
import { DateFromRow, Int8String, nullable } from './rows.js';
import { StuckRow, stuckSummary } from './stuck-rows.js';

const CountByStatus = t.type({ status: t.string, count: t.number });
const Count = t.type({ count: t.number });
const SuccessRow = t.type({ completed: t.number, failed: t.number, success_rate: nullable(t.number) });
const CompletionRow = t.type({ task_type: t.string, completed: t.number, avg_seconds: t.number });
const NobodyServesRow = t.type({ task_type: t.string, pending: t.number });
const LastAttemptRow = t.type({
  id: Int8String,
  task_type: t.string,
  status: t.string,
  attempts: t.number,
  max_attempts: t.number,
  error_message: nullable(t.string),
  updated_at: DateFromRow,
});

/**
 * The seed's monitoring queries, through the operator operator views of sql/migrations/0001_baseline.sql (so psql
 * users get the same numbers), in one read-only REPEATABLE READ transaction: every number comes from
 * the same snapshot, so the counts add up even while workers are busy. Counts and averages are cast
 * to float8 here because the pool returns bigint and numeric as strings.
 */
export const taskStats = (pool: DatabasePool, stuckTimeoutMs: number, listLimit: number): Promise<TaskStats> =>
  pool.transaction(async (tx) => {
    await tx.query(statement`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`);
    // Transaction-local: the stuck_tasks view reads its threshold from this setting.
    await tx.query(statement`SELECT set_config('at_worker.stuck_timeout', ${`${stuckTimeoutMs} milliseconds`}, true)`);
    const counts = (
      await tx.query(sql.type(rowSchema('task_status_counts', CountByStatus))`
      SELECT status, count::float8 AS count FROM task_status_counts`)
    ).rows;
    const stuckCount =
      (
        await tx.query(sql.type(rowSchema('stuck_tasks', Count))`
      SELECT count(*)::float8 AS count FROM stuck_tasks`)
      ).rows[0]?.count ?? 0;
    const stuck = (
      await tx.query(sql.type(rowSchema('stuck_tasks', StuckRow))`
      SELECT id, task_type, owner, attempts, max_attempts, heartbeat_at,
             extract(epoch FROM silent_for)::float8 AS silent_for_seconds
        FROM stuck_tasks
       LIMIT ${listLimit}`)
    ).rows;
    const success = (
      await tx.query(sql.type(rowSchema('task_success_rate', SuccessRow))`
      SELECT completed::float8 AS completed, failed::float8 AS failed, success_rate::float8 AS success_rate
        FROM task_success_rate`)
    ).rows[0];
    const times = (
      await tx.query(sql.type(rowSchema('task_completion_times', CompletionRow))`
      SELECT task_type, completed::float8 AS completed, avg_seconds::float8 AS avg_seconds FROM task_completion_times`)
    ).rows;
    // Reads the same stuck-timeout setting: a worker silent for longer than that is gone.
    const nobodyServes = (
      await tx.query(sql.type(rowSchema('tasks_nobody_serves', NobodyServesRow))`
      SELECT task_type, pending::float8 AS pending FROM tasks_nobody_serves LIMIT ${listLimit}`)
    ).rows;
    const lastCount =
      (
        await tx.query(sql.type(rowSchema('tasks_at_last_attempt', Count))`
      SELECT count(*)::float8 AS count FROM tasks_at_last_attempt`)
      ).rows[0]?.count ?? 0;
    const last = (
      await tx.query(sql.type(rowSchema('tasks_at_last_attempt', LastAttemptRow))`
      SELECT id, task_type, status, attempts, max_attempts, error_message, updated_at
        FROM tasks_at_last_attempt
       LIMIT ${listLimit}`)
    ).rows;
    const openCircuits = await circuitSummaries(tx, true);

    const countsByStatus = Object.fromEntries(TASK_STATUSES.map((status) => [status, 0])) as Record<TaskStatus, number>;
    for (const row of counts) if (row.status in countsByStatus) countsByStatus[row.status as TaskStatus] = row.count;
    const storage = await storageStats(tx);
    return {
      countsByStatus,
      total: Object.values(countsByStatus).reduce((sum, count) => sum + count, 0),
      stuck: {
        count: stuckCount,
        timeoutMs: stuckTimeoutMs,
        oldest: stuck.map(stuckSummary),
      },
      success: { completed: success?.completed ?? 0, failed: success?.failed ?? 0, ratePercent: success?.success_rate ?? null },
      completionTimes: times.map((row) => ({ taskType: row.task_type, completed: row.completed, avgSeconds: row.avg_seconds })),
      nobodyServes: nobodyServes.map((row) => ({ taskType: row.task_type, pending: row.pending })),
      lastAttempt: {
        count: lastCount,
        latest: last.map((row) => ({
          id: row.id,
          taskType: row.task_type,
          status: row.status as TaskStatus,
          attempts: row.attempts,
          maxAttempts: row.max_attempts,
          errorMessage: row.error_message,
          updatedAt: row.updated_at,
        })),
      },
      storage,
      openCircuits,
    };
  });
