import * as t from 'io-ts';
import { sql, type DatabasePool } from 'slonik';
import { rowSchema } from './row-schema.js';

const StatusCount = t.type({ status: t.string, count: t.number });

/**
 * Tasks per status, from the task_status_counts view that `at-worker stats` and psql users read, so
 * the metric and the CLI count the same way. Statuses with no rows are left out, as before the view
 * existed. A full scan (an index-only scan would need a status index), so callers cache this (metrics do).
 */
export const countByStatus = async (pool: DatabasePool): Promise<Record<string, number>> => {
  const rows = await pool.any(
    sql.type(rowSchema('countByStatus', StatusCount))`SELECT status, count::int AS count FROM task_status_counts WHERE count > 0`,
  );
  return Object.fromEntries(rows.map((row) => [row.status, row.count]));
};
