import * as t from 'io-ts';
import { sql, type DatabasePool } from 'slonik';
import { rowSchema } from './row-schema.js';
import type { FinishedHistories } from '../../application/operator/ports.js';
import { Int8String } from './rows.js';

const Line = t.type({ id: Int8String, line: t.string });

/**
 * Finished tasks that ended before a time, each as one JSON object (the row and its events in seq
 * order), a page at a time in id order. PostgreSQL writes the JSON (jsonb's text: one line, numbers
 * with every digit); a page is read in one statement, so a row and its events agree.
 */
export const createFinishedHistories = (pool: DatabasePool): FinishedHistories => ({
  page: async (before, afterId, limit) => {
    const rows = await pool.any(sql.type(rowSchema('export', Line))`
      SELECT s.id, jsonb_build_object(
               'task', to_jsonb(s),
               'events', coalesce((SELECT jsonb_agg(to_jsonb(e) ORDER BY e.seq) FROM task_events AS e WHERE e.task_id = s.id), '[]'::jsonb)
             )::text AS line
        FROM scheduled_tasks AS s
       WHERE s.status IN ('completed', 'cancelled', 'failed') AND s.updated_at < ${before.toISOString()}::timestamptz
         AND s.id > ${afterId ?? '0'}::bigint
       ORDER BY s.id
       LIMIT ${limit}`);
    return rows.map((row) => ({ id: row.id, json: row.line }));
  },
});
