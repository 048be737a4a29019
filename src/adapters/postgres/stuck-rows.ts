import * as t from 'io-ts';
import type { StuckTaskSummary } from '../../application/operator/ports.js';
import { DateFromRow, Int8String, nullable } from './rows.js';

/** A running task whose owner went silent, as `stats` and the dashboard's overview read it. */
export const StuckRow = t.type({
  id: Int8String,
  task_type: t.string,
  owner: nullable(t.string),
  attempts: t.number,
  max_attempts: t.number,
  heartbeat_at: nullable(DateFromRow),
  silent_for_seconds: t.number,
});

export const stuckSummary = (row: t.TypeOf<typeof StuckRow>): StuckTaskSummary => ({
  id: row.id,
  taskType: row.task_type,
  owner: row.owner,
  attempts: row.attempts,
  maxAttempts: row.max_attempts,
  heartbeatAt: row.heartbeat_at,
  silentForSeconds: row.silent_for_seconds,
});
