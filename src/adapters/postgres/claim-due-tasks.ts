import * as t from 'io-ts';
import { sql, type DatabasePool, type DatabaseTransactionConnection } from 'slonik';
import type { ClaimedTask } from '../../application/ports.js';
import type { WorkerId } from '../../domain/index.js';
import { prepared } from './prepared.js';
import { DateFromRow, decodeRows, Int8String } from './rows.js';

const ClaimedRow = t.type({
  id: Int8String,
  task_type: t.string,
  payload: t.unknown,
  attempts: t.number,
  max_attempts: t.number,
  execute_at: DateFromRow,
  locked_by: t.string,
  claim_token: t.string,
  locked_at: DateFromRow,
});

/**
 * Claims up to `limit` due pending tasks, oldest first, in ONE statement: the database function
 * at_worker_claim_due_tasks (sql/migrations) picks them with FOR UPDATE SKIP LOCKED, marks them
 * processing under this worker with a fresh claim token, and appends each one's 'claimed' event,
 * whose data has the shape event-codec.ts decodes (attempt = attempts + 1, and claim_token). The
 * function's comment says why it is a function (bitmap scans off for the claim only) and what that
 * measured; the call is a prepared statement, parsed once per connection.
 */
export const claimDueTasks = async (
  db: DatabasePool | DatabaseTransactionConnection,
  workerId: WorkerId,
  limit: number,
): Promise<ClaimedTask[]> => {
  if (limit <= 0) return [];
  const result = await db.query(
    prepared(
      'at_worker_claim_due_tasks',
      sql.unsafe`SELECT id, task_type, payload, attempts, max_attempts, execute_at, locked_by, claim_token, locked_at
                   FROM at_worker_claim_due_tasks(${workerId}, ${limit})`,
    ),
  );
  return decodeRows(ClaimedRow, 'claimDueTasks', result.rows).map((row) => ({
    id: row.id,
    taskType: row.task_type,
    payload: row.payload,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    executeAt: row.execute_at,
    owner: row.locked_by,
    claimToken: row.claim_token,
    claimedAt: row.locked_at,
  }));
};
