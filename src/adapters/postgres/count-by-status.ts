import * as t from 'io-ts';
import { sql, type DatabasePool } from 'slonik';
import { decodeRows } from './rows.js';

const StatusCount = t.type({ status: t.string, count: t.number });

/** Tasks per status; an index-only scan would need a status index, so callers cache this (metrics do). */
export const countByStatus = async (pool: DatabasePool): Promise<Record<string, number>> => {
  const rows = await pool.any(sql.unsafe`SELECT status, COUNT(*)::int AS count FROM scheduled_tasks GROUP BY status`);
  return Object.fromEntries(decodeRows(StatusCount, 'countByStatus', rows).map((row) => [row.status, row.count]));
};
