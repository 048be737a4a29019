-- Migration 0002: one bad row no longer stops every worker. The claim used to fail as a whole, every
-- poll, for every task, when one due row could not take its 'claimed' event:
--   - attempts = max_attempts = 2147483647 (attempts + 1 is out of integer range);
--   - event_seq at the integer limit (event_seq + 1 is out of range);
--   - a task_events row already holding the task's next seq (a unique violation);
-- a restored backup or a hand-edited row can leave any of them. Now the claim takes the sound rows as
-- before and fails each bad one alone, on claim, with the reason in error_message, in a 'failed' event
-- where its history can still take one, and in the function's result (the `refusal` column), which
-- the worker logs with the task's id. A pending row whose attempts are already used up
-- (attempts >= max_attempts, set by hand) fails the same way instead of running "attempt 11 of 3".
--
-- The result gains a column, so the function is dropped and created (CREATE OR REPLACE cannot change
-- a return type); both happen in this migration's transaction.

-- Fails the claimed-but-refused rows p_ids (locked by the caller's claim). A row still 'pending' was
-- refused before its claim: used-up attempts or a full history. A row already 'processing' was
-- claimed, but its 'claimed' event collided with an existing task_events row. The 'failed' event
-- goes after the highest seq the task's history has (not after event_seq, which may be the broken
-- part), when there is room for one; event_seq follows it.
CREATE OR REPLACE FUNCTION at_worker_refuse_claims(p_worker text, p_ids bigint[])
RETURNS TABLE (id bigint, task_type text, refusal text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH bad AS (
    SELECT t.id, t.attempts, t.max_attempts,
           CASE
             WHEN t.status = 'pending' AND t.attempts >= t.max_attempts THEN
               format('failed on claim: attempts exhausted (%s of %s used)', t.attempts, t.max_attempts)
             WHEN t.status = 'pending' THEN
               format('failed on claim: its history is full (event_seq %s is the integer limit)', t.event_seq)
             ELSE
               format('failed on claim: task_events already holds seq %s of this task, written outside at-worker', t.event_seq)
           END AS reason,
           t.status = 'pending' AND t.attempts >= t.max_attempts AS exhausted,
           coalesce((SELECT max(e.seq) FROM task_events AS e WHERE e.task_id = t.id), 0)::bigint + 1 AS next_seq
      FROM scheduled_tasks AS t
     WHERE t.id = ANY (p_ids)
  ), failed AS (
    UPDATE scheduled_tasks AS t
       SET status = 'failed', error_message = bad.reason, locked_by = NULL, claim_token = NULL,
           heartbeat_at = NULL, updated_at = now(),
           event_seq = CASE WHEN bad.next_seq <= 2147483647 THEN bad.next_seq::integer ELSE t.event_seq END
      FROM bad
     WHERE t.id = bad.id
    RETURNING t.id, t.task_type, bad.reason
  ), events AS (
    INSERT INTO task_events (task_id, seq, event_type, worker_id, occurred_at, data)
    SELECT bad.id, bad.next_seq::integer, 'failed', p_worker, now(),
           jsonb_build_object('attempt', bad.attempts::bigint + 1,
                              'reason', CASE WHEN bad.exhausted THEN 'attempts_exhausted' ELSE 'permanent' END,
                              'error', bad.reason, 'details', '{}'::jsonb)
      FROM bad
     WHERE bad.next_seq <= 2147483647
        ON CONFLICT DO NOTHING
  )
  SELECT f.id, f.task_type, f.reason FROM failed AS f ORDER BY f.id;
END
$$;

-- The worker's claim, in one round trip. Claims up to p_limit due pending tasks, oldest first: picks
-- them with FOR UPDATE SKIP LOCKED (concurrent claimers skip each other's rows instead of waiting, so
-- no two workers get the same task), marks them processing with p_worker as owner, a fresh claim token
-- and a heartbeat, and appends each one's 'claimed' event, whose seq is the event_seq bumped in the
-- same UPDATE. "Due" is by the database's clock, so workers with skewed clocks still agree. A due row
-- that cannot be claimed soundly is failed alone by at_worker_refuse_claims and returned with its
-- `refusal` (every other column of such a row but id and task_type is NULL).
--
-- A function for its SET clause: bitmap scans are off while it runs, and only then. When statistics
-- underestimate how many tasks are due (a table never analysed, or a burst arriving after an ANALYZE
-- that saw none due), the planner picks a bitmap scan of every due entry plus a sort, for every claim,
-- so a claim costs the backlog instead of the batch; without bitmap scans the only sensible plan left
-- is the ordered index scan that stops after p_limit rows. Measured (PostgreSQL 15, 10,000 due tasks
-- in a fresh table, claims of 50, server CPU per claimed task): 83-95 us as a plain statement, 35 us
-- here, the same as the earlier BEGIN / SET LOCAL / prepared claim / COMMIT, in one round trip
-- instead of four (client CPU 27-29 -> 21-22 us per task, wall time -16 %). A function-level SET is
-- also safe behind a transaction-pooling proxy, where a session SET would leak to other clients.
--
-- Its result columns are part of its signature: changing them needs a DROP FUNCTION first (CREATE OR
-- REPLACE cannot change a return type).
DROP FUNCTION IF EXISTS at_worker_claim_due_tasks(text, integer);
CREATE FUNCTION at_worker_claim_due_tasks(p_worker text, p_limit integer)
RETURNS TABLE (id bigint, task_type text, payload jsonb, attempts integer, max_attempts integer,
               execute_at timestamptz, locked_by text, claim_token uuid, locked_at timestamptz, refusal text)
LANGUAGE plpgsql
SET enable_bitmapscan = off
AS $$
#variable_conflict use_column
DECLARE
  claim record;
  refused bigint[] := '{}';
BEGIN
  FOR claim IN
    WITH due AS (
      -- Sound: the claim can count the attempt and number its event without leaving integer range.
      SELECT s.id, s.attempts < s.max_attempts AND s.event_seq < 2147483647 AS sound
        FROM scheduled_tasks AS s
       WHERE s.status = 'pending' AND s.execute_at <= now()
       ORDER BY s.execute_at, s.id
       LIMIT p_limit
         FOR UPDATE SKIP LOCKED
    ), claimed AS (
      UPDATE scheduled_tasks AS t
         SET status = 'processing', locked_by = p_worker, claim_token = gen_random_uuid(),
             locked_at = now(), heartbeat_at = now(), updated_at = now(), event_seq = t.event_seq + 1
        FROM due
       WHERE t.id = due.id AND due.sound
      RETURNING t.id, t.task_type, t.payload, t.attempts, t.max_attempts, t.execute_at,
                t.locked_by, t.claim_token, t.locked_at, t.event_seq
    ), events AS (
      -- A seq already taken is not an error for the whole claim: that task is refused below.
      INSERT INTO task_events (task_id, seq, event_type, worker_id, occurred_at, data)
      SELECT c.id, c.event_seq, 'claimed', c.locked_by, c.locked_at,
             jsonb_build_object('attempt', c.attempts + 1, 'claim_token', c.claim_token)
        FROM claimed AS c
          ON CONFLICT DO NOTHING
      RETURNING task_id
    )
    SELECT c.id, c.task_type, c.payload, c.attempts, c.max_attempts, c.execute_at, c.locked_by, c.claim_token,
           c.locked_at, c.id IN (SELECT e.task_id FROM events AS e) AS recorded
      FROM claimed AS c
    UNION ALL
    SELECT d.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false
      FROM due AS d
     WHERE NOT d.sound
     ORDER BY 6, 1
  LOOP
    IF claim.recorded THEN
      id := claim.id; task_type := claim.task_type; payload := claim.payload; attempts := claim.attempts;
      max_attempts := claim.max_attempts; execute_at := claim.execute_at; locked_by := claim.locked_by;
      claim_token := claim.claim_token; locked_at := claim.locked_at; refusal := NULL;
      RETURN NEXT;
    ELSE
      refused := refused || claim.id;
    END IF;
  END LOOP;
  IF cardinality(refused) > 0 THEN
    RETURN QUERY
    SELECT r.id, r.task_type, NULL::jsonb, NULL::integer, NULL::integer, NULL::timestamptz, NULL::text, NULL::uuid,
           NULL::timestamptz, r.refusal
      FROM at_worker_refuse_claims(p_worker, refused) AS r;
  END IF;
END
$$;
