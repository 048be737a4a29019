import * as t from 'io-ts';
import { sql, type CommonQueryMethods } from 'slonik';
import { rowSchema } from './row-schema.js';
import type { StuckTask } from '../../application/ports.js';
import { DateFromRow, Int8String } from './rows.js';

const StuckRow = t.type({
  id: Int8String,
  task_type: t.string,
  attempts: t.number,
  max_attempts: t.number,
  execute_at: DateFromRow,
  locked_by: t.string,
  claim_token: t.string,
  heartbeat_at: DateFromRow,
});

/**
 * Tasks in processing whose owner has not proven it is alive for `silentForMs` by the database's
 * clock (which stamped the heartbeats), longest silent first. Served by the partial index on
 * heartbeat_at. Reading is not claiming: the recovery itself is an endAttempt fenced on the claim
 * token and on the heartbeat still being stale.
 */
export const findStuckTasks = async (db: CommonQueryMethods, silentForMs: number, limit: number): Promise<StuckTask[]> => {
  if (limit <= 0) return [];
  const result = await db.query(sql.type(rowSchema('findStuckTasks', StuckRow))`
    SELECT id, task_type, attempts, max_attempts, execute_at, locked_by, claim_token, heartbeat_at
      FROM scheduled_tasks
     WHERE status = 'processing' AND heartbeat_at < now() - ${silentForMs}::double precision * interval '1 millisecond'
     ORDER BY heartbeat_at
     LIMIT ${limit}`);
  return result.rows.map((row) => ({
    id: row.id,
    taskType: row.task_type,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    executeAt: row.execute_at,
    owner: row.locked_by,
    claimToken: row.claim_token,
    heartbeatAt: row.heartbeat_at,
  }));
};
