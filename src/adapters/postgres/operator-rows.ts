import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { sql } from 'slonik';
import type { RecordedEvent, TaskRecord } from '../../application/operator/ports.js';
import { TASK_STATUSES, type TaskStatus } from '../../domain/index.js';
import { decodeEventRow } from './event-codec.js';
import { DateFromRow, DateFromText, Int8String, nullable } from './rows.js';

/** A task's status column: one of TASK_STATUSES. */
export const Status = t.keyof(Object.fromEntries(TASK_STATUSES.map((status) => [status, null])) as Record<TaskStatus, null>);

/** The scheduled_tasks columns the operator commands read (see TASK_COLUMNS). */
export const TaskRow = t.type({
  id: Int8String,
  task_type: t.string,
  status: Status,
  attempts: t.number,
  max_attempts: t.number,
  execute_at: DateFromText,
  completed_at: nullable(DateFromText),
  updated_at: DateFromRow,
  error_message: nullable(t.string),
  locked_by: nullable(t.string),
  claim_token: nullable(t.string),
  event_seq: t.number,
  task_uuid: nullable(t.string),
  payload_sha256: t.string,
});

// Computed, not stored: what the 'scheduled' event recorded of the payload, for verify to compare;
// and the instants a task is shown with, as PostgreSQL's text, exact on any pool (DateFromText).
const COMPUTED = {
  payload_sha256: sql.fragment`encode(sha256(convert_to(t.payload::text, 'UTF8')), 'hex') AS payload_sha256`,
  execute_at: sql.fragment`t.execute_at::text AS execute_at`,
  completed_at: sql.fragment`t.completed_at::text AS completed_at`,
};

/** TaskRow's columns for a SELECT list, from `scheduled_tasks AS t` (the alias every query here uses). */
export const taskColumns = sql.join(
  Object.keys(TaskRow.props).map((column) =>
    column in COMPUTED ? COMPUTED[column as keyof typeof COMPUTED] : sql.identifier(['t', column]),
  ),
  sql.fragment`, `,
);

export const toTaskRecord = (row: t.TypeOf<typeof TaskRow>): TaskRecord => ({
  id: row.id,
  taskType: row.task_type,
  status: row.status,
  attempts: row.attempts,
  maxAttempts: row.max_attempts,
  executeAt: row.execute_at,
  completedAt: row.completed_at,
  updatedAt: row.updated_at,
  errorMessage: row.error_message,
  owner: row.locked_by,
  claimToken: row.claim_token,
  eventSeq: row.event_seq,
  payloadSha256: row.payload_sha256,
  taskUuid: row.task_uuid,
});

/**
 * A task_events row → RecordedEvent. A row the codec rejects is kept, raw, with the reason: history
 * shows it as it is and verify reports it, rather than one bad row hiding a whole timeline.
 */
export const toRecordedEvent = (row: {
  readonly seq: number;
  readonly event_type: unknown;
  readonly worker_id: unknown;
  readonly occurred_at: unknown;
  readonly data: unknown;
}): RecordedEvent => {
  const decoded = decodeEventRow(row);
  if (E.isRight(decoded)) return { _tag: 'Decoded', seq: row.seq, event: decoded.right };
  return {
    _tag: 'Undecodable',
    seq: row.seq,
    eventType: String(row.event_type),
    workerId: typeof row.worker_id === 'string' ? row.worker_id : null,
    occurredAt: row.occurred_at instanceof Date ? row.occurred_at : null,
    data: row.data,
    error: decoded.left,
  };
};
