import * as t from 'io-ts';
import { sql, type CommonQueryMethods } from 'slonik';
import type { DueTime, NewTask, ScheduledTask } from '../../application/operator/ports.js';
import { DateFromRow, decodeRows, Int8String } from './rows.js';

const InsertedRow = t.type({ id: Int8String, execute_at: DateFromRow });

// A delay is added to the database's clock, the one the claim compares execute_at with, so
// `--in 90s` means 90 s from now for the workers too, however far this machine's clock is off.
const dueExpression = (due: DueTime) => {
  switch (due._tag) {
    case 'Now':
      return sql.fragment`now()`;
    case 'At':
      return sql.fragment`${due.at.toISOString()}::timestamptz`;
    case 'After':
      return sql.fragment`now() + ${due.delayMs}::double precision * interval '1 millisecond'`;
  }
};

/**
 * A plain INSERT, the same any other service would write: the table's statement trigger appends
 * the 'scheduled' event (seq 1) and NOTIFYs listening workers, so there is one way in, not two.
 */
export const insertTask = async (db: CommonQueryMethods, task: NewTask): Promise<ScheduledTask> => {
  const result = await db.query(sql.unsafe`
    INSERT INTO scheduled_tasks (task_type, payload, execute_at, max_attempts)
    VALUES (${task.taskType}, ${task.payloadJson}::jsonb, ${dueExpression(task.due)}, ${task.maxAttempts})
    RETURNING id, execute_at`);
  const [row] = decodeRows(InsertedRow, 'insertTask', result.rows);
  if (row === undefined) throw new Error('insertTask: INSERT returned no row');
  return { id: row.id, executeAt: row.execute_at };
};
