import * as t from 'io-ts';
import { sql, type CommonQueryMethods } from 'slonik';
import { DateFromRow, decodeRows } from './rows.js';

const DueRow = t.type({ execute_at: DateFromRow });

/**
 * The earliest execute_at among pending tasks, if it is before `horizon` (overdue ones included), so
 * an idle worker can sleep until then instead of a full polling interval. One probe of the due index.
 */
export const nextDueAt = async (db: CommonQueryMethods, horizon: Date): Promise<Date | null> => {
  const result = await db.query(sql.unsafe`
    SELECT execute_at
      FROM scheduled_tasks
     WHERE status = 'pending' AND execute_at < ${horizon.toISOString()}::timestamptz
     ORDER BY execute_at
     LIMIT 1`);
  return decodeRows(DueRow, 'nextDueAt', result.rows)[0]?.execute_at ?? null;
};
