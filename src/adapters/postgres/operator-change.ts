import * as t from 'io-ts';
import { sql } from 'slonik';
import { rowSchema } from './row-schema.js';
import type { ChangeResult, OperatorChange, TaskSnapshot } from '../../application/operator/ports.js';
import type { TaskId } from '../../domain/index.js';
import { eventToRow } from './event-codec.js';
import { taskColumns, TaskRow, toTaskRecord } from './operator-rows.js';
import type { Queries } from './queries.js';
import { DateFromRow } from './rows.js';

const SnapshotRow = t.intersection([TaskRow, t.type({ now: DateFromRow })]);

/** The row and the database's clock, read together: the clock is the time of the operator's command. */
export const findTask = async (db: Queries, id: TaskId): Promise<TaskSnapshot | null> => {
  const result = await db.query(sql.type(rowSchema('findTask', SnapshotRow))`
    SELECT ${taskColumns}, now() AS now
      FROM scheduled_tasks AS t
     WHERE t.id = ${id}::bigint`);
  const [row] = result.rows;
  return row === undefined ? null : { task: toTaskRecord(row), now: row.now };
};

const SeqRow = t.type({ event_seq: t.number });

/**
 * Writes an operator's change in ONE statement, so it is atomic on any connection, inside a caller's
 * transaction or not: the row, fenced on the status and event_seq it had when the decision was made,
 * then its events with the seqs after that; a pending result also wakes listening workers (same
 * channel and payload as the insert trigger), so a retried task runs now rather than at the next poll.
 * The UPDATE holds the row lock until commit, so a worker's claim (FOR UPDATE SKIP LOCKED) passes over
 * it meanwhile and then sees the new state. A fenced-out UPDATE returns no row, and then the events
 * and the NOTIFY, which read from it, write nothing.
 */
export const applyChange = async (db: Queries, change: OperatorChange): Promise<ChangeResult> => {
  const next = change.next;
  if (next.status === 'absent' || next.status === 'processing')
    throw new Error(`applyChange of task ${change.id}: an operator command cannot lead to ${next.status}`);
  const executeAt = next.status === 'pending' ? next.executeAt.toISOString() : null;
  const events = change.events.map(eventToRow);
  const updated = await db.query(sql.type(rowSchema('applyChange', SeqRow))`
    WITH updated AS (
      UPDATE scheduled_tasks
         SET status = ${next.status}, attempts = ${next.attempts}, max_attempts = ${next.maxAttempts},
             execute_at = coalesce(${executeAt}::timestamptz, execute_at),
             error_message = CASE WHEN ${change.clearError} THEN NULL ELSE error_message END,
             updated_at = now(), event_seq = event_seq + ${events.length}
       WHERE id = ${change.id}::bigint AND status = ${change.expected.status}
         AND event_seq = ${change.expected.eventSeq}
      RETURNING event_seq
    ), appended AS (
      INSERT INTO task_events (task_id, seq, event_type, worker_id, occurred_at, data)
      SELECT ${change.id}::bigint, ${change.expected.eventSeq}::integer + ev.n::integer,
             ev.value->>'event_type', ev.value->>'worker_id', (ev.value->>'occurred_at')::timestamptz, ev.value->'data'
        FROM updated,
             jsonb_array_elements(${sql.jsonb(events as unknown as Parameters<typeof sql.jsonb>[0])}) WITH ORDINALITY AS ev(value, n)
    ), woken AS (
      SELECT pg_notify('at_worker_tasks', floor(extract(epoch FROM ${executeAt}::timestamptz) * 1000)::bigint::text)
        FROM updated
       WHERE ${executeAt}::timestamptz IS NOT NULL
    )
    -- woken is not data-modifying, so it runs only because the result reads it.
    SELECT u.event_seq, (SELECT count(*) FROM woken)::integer AS woken FROM updated AS u`);
  return updated.rows.length === 0 ? 'conflict' : 'applied';
};
