import * as t from 'io-ts';
import { sql, type CommonQueryMethods } from 'slonik';
import type { AttemptEnd, AttemptEndResult } from '../../application/ports.js';
import { eventToRow, type EventRow } from './event-codec.js';
import { jsonbText } from '../../shared/jsonb-text.js';
import { prepared } from './prepared.js';
import { compareTaskIds } from './rows.js';
import { rowSchema } from './row-schema.js';

/** One attempt end as the statement reads it (jsonb_to_recordset): the row's next state and events. */
interface EndRecord {
  readonly idx: number;
  readonly task_id: string;
  readonly claim_token: string;
  readonly silent_ms: number | null;
  readonly status: string;
  readonly attempts: number;
  readonly execute_at: string | null;
  readonly completed_at: string | null;
  readonly error_message: string | null;
  readonly events: readonly EventRow[];
}

const toRecord = (end: AttemptEnd, idx: number): EndRecord => {
  const next = end.next;
  if (next.status === 'absent' || next.status === 'processing')
    throw new Error(`endAttempt of task ${end.claim.id}: an attempt cannot end in ${next.status}`);
  return {
    idx,
    task_id: end.claim.id,
    claim_token: end.claim.claimToken,
    silent_ms: end.onlyIfSilentForMs ?? null,
    status: next.status,
    attempts: next.attempts,
    // A retry or a release says when the task is due again; other outcomes leave execute_at as it was.
    execute_at: next.status === 'pending' ? next.executeAt.toISOString() : null,
    completed_at: next.status === 'completed' ? next.completedAt.toISOString() : null,
    error_message: end.errorMessage,
    events: end.events.map(eventToRow),
  };
};

const AppliedRow = t.type({ idx: t.number, isolated: t.union([t.string, t.null]) });

/**
 * An attempt end the row could not take (a processing row edited by hand to the integer limits of
 * attempts or event_seq): the statement failed that task instead, alone, and says why.
 */
export interface FailedOnEnd {
  readonly id: string;
  readonly reason: string;
}

/**
 * Ends any number of attempts in ONE statement, so each task's new state and its events commit
 * together (and a batch costs one commit, one fsync). Each end is fenced: it applies only while the
 * task is still processing under the same claim token (and, for the cleaner, while the heartbeat is
 * still `onlyIfSilentForMs` old by the database's clock); otherwise it writes nothing and reads as 'fenced'.
 * The claim is cleared (owner, token, heartbeat); locked_at stays as "last claimed at".
 *
 * Plan shape, on purpose: `owned` finds each task by a LATERAL primary-key probe, locks it (FOR
 * UPDATE returns the newest row version, so the fence holds until commit) and checks the fence on
 * the locked row; the UPDATE then joins by id only. The probe selects by id alone behind OFFSET 0,
 * which keeps the planner from pushing `status = 'processing'` into it: with that condition inside,
 * PostgreSQL may scan the heartbeat index (whose predicate it matches) for every task instead of
 * probing the key, and it does whenever the statistics say few tasks are processing, which is
 * what ANALYZE sees between bursts: after a 2,000,000-row ANALYZE that costs about 1 ms of server
 * CPU per ended task, against 50 µs with this plan (docs/performance.md). The price: a task whose
 * fence fails is locked too, until this statement commits. Inputs are sorted by id, so two batches
 * touching the same tasks (an owner and the cleaner) lock them in the same order and cannot
 * deadlock.
 *
 * Events get the seqs after the task's event_seq, in order; the primary key on (task_id, seq) makes a
 * double write fail instead of forking the history. If the same claim appears twice in one batch, the
 * row is updated once with one of the two inputs: RETURNING says which (idx), the other reads as
 * fenced, which is what it would have been had it run second.
 *
 * A row hand-edited to the integer limits while processing (event_seq with no room for the end's
 * events, or attempts that the end would carry past 2147483647) would make the whole statement fail
 * with `integer out of range`, and with it every other end of the batch, on every try, and every
 * sweep of the cleaner after it. Such a row is failed alone instead (`failed on end: ...` in
 * error_message, and in a 'failed' event when its history has room for one), the attempt's own
 * outcome is not written, and `onFailedOnEnd` is told its id and why.
 *
 * The input goes as JSON text cast to jsonb rather than through slonik's sql.jsonb, whose stable
 * stringify and character scan cost ~4.5 µs per task in a 100,000-task burst profile. Text
 * PostgreSQL's jsonb refuses is replaced before it is sent (see jsonbText): an end that cannot be
 * written leaves its task to be run again once the cleaner finds it.
 */
export const endAttempts = async (
  db: CommonQueryMethods,
  ends: readonly AttemptEnd[],
  onFailedOnEnd: (failed: FailedOnEnd) => void = () => undefined,
): Promise<AttemptEndResult[]> => {
  if (ends.length === 0) return [];
  const records = ends.map(toRecord);
  const ordered = [...records].sort((a, b) => compareTaskIds(a.task_id, b.task_id));
  const result = await db.query(
    prepared(
      'at_worker_end_attempts',
      sql.type(rowSchema('endAttempts', AppliedRow))`
    WITH input AS (
      SELECT *
        FROM jsonb_to_recordset(${jsonbText(ordered)}::jsonb)
          AS i(idx integer, task_id bigint, claim_token uuid, silent_ms double precision, status text,
               attempts bigint, execute_at timestamptz, completed_at timestamptz, error_message text,
               events jsonb)
    ), owned AS (
      SELECT i.*, held.attempts AS held_attempts, held.event_seq AS held_seq,
             CASE WHEN held.event_seq::bigint + jsonb_array_length(i.events) > 2147483647
                  THEN format('its history is full (event_seq %s is the integer limit)', held.event_seq)
                  WHEN i.attempts > 2147483647
                  THEN format('its attempts would pass the integer limit (%s used)', held.attempts)
             END AS overflow
        FROM input AS i
       CROSS JOIN LATERAL (
              SELECT s.status, s.claim_token, s.heartbeat_at, s.attempts, s.event_seq
                FROM scheduled_tasks AS s
               WHERE s.id = i.task_id
              OFFSET 0
                 FOR UPDATE
            ) AS held
       WHERE held.status = 'processing' AND held.claim_token = i.claim_token
         AND (i.silent_ms IS NULL OR held.heartbeat_at < now() - i.silent_ms * interval '1 millisecond')
    ), ended AS (
      UPDATE scheduled_tasks AS t
         SET status = o.status, attempts = o.attempts, execute_at = coalesce(o.execute_at, t.execute_at),
             completed_at = o.completed_at, error_message = o.error_message,
             locked_by = NULL, claim_token = NULL, heartbeat_at = NULL, updated_at = now(),
             event_seq = t.event_seq + jsonb_array_length(o.events)
        FROM owned AS o
       WHERE t.id = o.task_id AND o.overflow IS NULL
      RETURNING o.idx, t.id, t.event_seq, o.events
    ), appended AS (
      INSERT INTO task_events (task_id, seq, event_type, worker_id, occurred_at, data)
      SELECT e.id, e.event_seq - jsonb_array_length(e.events) + ev.n::integer,
             ev.value->>'event_type', ev.value->>'worker_id', (ev.value->>'occurred_at')::timestamptz, ev.value->'data'
        FROM ended AS e
       CROSS JOIN LATERAL jsonb_array_elements(e.events) WITH ORDINALITY AS ev(value, n)
    ), isolated AS (
      UPDATE scheduled_tasks AS t
         SET status = 'failed', error_message = 'failed on end: ' || o.overflow,
             locked_by = NULL, claim_token = NULL, heartbeat_at = NULL, updated_at = now(),
             event_seq = CASE WHEN o.held_seq < 2147483647 THEN o.held_seq + 1 ELSE o.held_seq END
        FROM owned AS o
       WHERE t.id = o.task_id AND o.overflow IS NOT NULL
      RETURNING o.idx, t.id, o.held_seq, o.held_attempts, o.overflow, o.events->0 AS first
    ), isolated_event AS (
      INSERT INTO task_events (task_id, seq, event_type, worker_id, occurred_at, data)
      SELECT x.id, x.held_seq + 1, 'failed', x.first->>'worker_id', now(),
             jsonb_build_object('attempt', x.held_attempts::bigint + 1, 'reason', 'permanent',
                                'error', 'failed on end: ' || x.overflow, 'details', '{}'::jsonb)
        FROM isolated AS x
       WHERE x.held_seq < 2147483647
    )
    SELECT idx, NULL::text AS isolated FROM ended
    UNION ALL
    SELECT idx, 'failed on end: ' || overflow FROM isolated`,
    ),
  );
  const applied = new Set<number>();
  for (const row of result.rows) {
    if (row.isolated === null) applied.add(row.idx);
    else onFailedOnEnd({ id: records[row.idx]!.task_id, reason: row.isolated });
  }
  // A task failed on end has none of this attempt's outcome written: for its caller, the end did not apply.
  return records.map((record) => (applied.has(record.idx) ? 'applied' : 'fenced'));
};
