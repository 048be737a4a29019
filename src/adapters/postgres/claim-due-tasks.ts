import * as t from 'io-ts';
import { sql, type DatabasePool, type DatabaseTransactionConnection } from 'slonik';
import type { ClaimedTask } from '../../application/ports.js';
import type { WorkerId } from '../../domain/index.js';
import { parseExactJson } from './exact-json.js';
import { prepared } from './prepared.js';
import { rowSchema } from './row-schema.js';
import { DateFromRow, Int8String, nullable } from './rows.js';

const ClaimedRow = t.intersection([
  t.type({
    id: Int8String,
    task_type: t.string,
    payload_json: t.string,
    attempts: t.number,
    max_attempts: t.number,
    execute_at: DateFromRow,
    locked_by: t.string,
    claim_token: t.string,
    locked_at: DateFromRow,
    refusal: t.null,
    task_uuid: nullable(t.string),
  }),
  // Selected only by the traced claim. Optional keys, not `t.undefined` members: io-ts's `is` takes
  // a key of a t.type to be missing only when the codec accepts undefined AND the key is there, so
  // every untraced row failed `is` and went through `decode` (decodeRows).
  t.partial({ traceparent: nullable(t.string), traced_row_seen: t.boolean }),
]);
const TraceparentRow = t.type({ id: Int8String, traceparent: nullable(t.string) });
// A due row the claim could not take soundly (used-up attempts, a history that cannot take its next
// event): the function has already failed it, alone, and says why.
const RefusedRow = t.type({ id: Int8String, task_type: t.string, refusal: t.string });
const ClaimRow = t.union([ClaimedRow, RefusedRow]);
const claimRows = sql.type(rowSchema('claimDueTasks', ClaimRow));

/** A task failed on claim instead of being claimed, with the reason written to its row and history. */
export interface RefusedClaim {
  readonly id: string;
  readonly taskType: string;
  readonly reason: string;
}

/**
 * Claims up to `limit` due pending tasks, oldest first, in ONE statement: the database function
 * at_worker_claim_due_tasks (sql/migrations) picks them with FOR UPDATE SKIP LOCKED, marks them
 * processing under this worker with a fresh claim token, and appends each one's 'claimed' event,
 * whose data has the shape event-codec.ts decodes (attempt = attempts + 1, and claim_token). The
 * function's comment says why it is a function (bitmap scans off for the claim only) and what that
 * measured; the call is a prepared statement, parsed once per connection. The payload is read as
 * jsonb's text and parsed here, so that its numbers reach the receiver with every digit (exact-json.ts).
 */
export const claimDueTasks = async (
  db: DatabasePool | DatabaseTransactionConnection,
  workerId: WorkerId,
  limit: number,
  onRefused: (refused: RefusedClaim) => void = () => undefined,
  cannotRun: readonly string[] = [],
  withTraceparent = false,
): Promise<ClaimedTask[]> => {
  if (limit <= 0) return [];
  const result = await db.query(withTraceparent ? tracedClaim(workerId, limit, cannotRun) : claim(workerId, limit, cannotRun));
  const rows = await withLateTraceparents(db, [...result.rows]);
  for (const row of rows) {
    if (row.refusal !== null) onRefused({ id: row.id, taskType: row.task_type, reason: row.refusal });
  }
  return rows
    .filter((row): row is t.TypeOf<typeof ClaimedRow> => row.refusal === null)
    .map((row) => ({
      id: row.id,
      taskType: row.task_type,
      payload: parseExactJson(row.payload_json),
      attempts: row.attempts,
      maxAttempts: row.max_attempts,
      executeAt: row.execute_at,
      owner: row.locked_by,
      claimToken: row.claim_token,
      claimedAt: row.locked_at,
      taskUuid: row.task_uuid,
      ...(row.traceparent === undefined ? {} : { traceparent: row.traceparent }),
    }));
};

const claim = (workerId: WorkerId, limit: number, cannotRun: readonly string[]) =>
  prepared(
    'at_worker_claim_due_tasks',
    claimRows`SELECT id, task_type, payload::text AS payload_json, attempts, max_attempts, execute_at, locked_by, claim_token,
                      locked_at, refusal, task_uuid
                 FROM at_worker_claim_due_tasks(${workerId}, ${limit}, ${sql.array(cannotRun, 'text')})`,
  );

/**
 * The claim, with each task's producer traceparent (migration 0013), used only while tracing is on
 * so the claim stays as it was without it. The join reads the row as it was before the claim took
 * it (the statement's snapshot), which holds the same traceparent: the claim never changes it. A
 * task inserted after that snapshot and claimed by the same call is not seen by the join (the
 * function's own statements take later snapshots); withLateTraceparents reads those few again.
 */
const tracedClaim = (workerId: WorkerId, limit: number, cannotRun: readonly string[]) =>
  prepared(
    'at_worker_claim_due_tasks_traced',
    claimRows`SELECT c.id, c.task_type, c.payload::text AS payload_json, c.attempts, c.max_attempts, c.execute_at, c.locked_by,
                      c.claim_token, c.locked_at, c.refusal, c.task_uuid, s.traceparent, s.id IS NOT NULL AS traced_row_seen
                 FROM at_worker_claim_due_tasks(${workerId}, ${limit}, ${sql.array(cannotRun, 'text')}) c
                 LEFT JOIN scheduled_tasks s ON s.id = c.id`,
  );

/** Reads the traceparent of claimed rows the traced claim's join could not see, in a statement of its own. */
const withLateTraceparents = async <R extends { readonly id: string; readonly traced_row_seen?: boolean | undefined }>(
  db: DatabasePool | DatabaseTransactionConnection,
  rows: R[],
): Promise<R[]> => {
  const unseen = rows.filter((row) => row.traced_row_seen === false).map((row) => row.id);
  if (unseen.length === 0) return rows;
  const found = (
    await db.query(
      sql.type(
        rowSchema('claimDueTasks traceparents', TraceparentRow),
      )`SELECT id, traceparent FROM scheduled_tasks WHERE id = ANY(${sql.array(unseen, 'int8')})`,
    )
  ).rows;
  const byId = new Map(found.map((row) => [row.id, row.traceparent]));
  return rows.map((row) => (row.traced_row_seen === false ? { ...row, traceparent: byId.get(row.id) ?? null } : row));
};
