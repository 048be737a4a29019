import * as t from 'io-ts';
import { sql, type CommonQueryMethods } from 'slonik';
import { rowSchema } from './row-schema.js';
import { DateFromRow } from './rows.js';

const DueRow = t.type({ execute_at: DateFromRow });

/**
 * The earliest execute_at among pending tasks, if it is before `horizon` (overdue ones included), so
 * an idle worker can sleep until then instead of a full polling interval. One probe of the due index.
 */
export const nextDueAt = async (db: CommonQueryMethods, horizon: Date): Promise<Date | null> => {
  const result = await db.query(sql.type(rowSchema('nextDueAt', DueRow))`
    SELECT execute_at
      FROM scheduled_tasks
     WHERE status = 'pending' AND execute_at < ${horizon.toISOString()}::timestamptz
     ORDER BY execute_at
     LIMIT 1`);
  return result.rows[0]?.execute_at ?? null;
};
