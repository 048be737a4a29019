-- Migration 0009: a worker claims only the task types it can run. A worker without SMTP settings
-- claimed email tasks and failed them permanently ("not configured") while a worker that had the
-- settings was still starting. Now each worker passes the types it knows but cannot run to the claim
-- (p_cannot_run), and those tasks wait for a worker that can.
--
-- Workers advertise what they serve in at_worker_presence: one row per worker id, refreshed while it
-- polls (at most every third of WORKER_STUCK_TIMEOUT). A row silent for longer than the stuck timeout
-- is a worker that is gone, by the same rule as a task's heartbeat. A table rather than connection
-- metadata (application_name, pg_stat_activity): it reads the same through a connection pooler, it
-- needs no privilege on other sessions, and psql answers "who serves what" from it. `at-worker stats`
-- lists the pending tasks of types no live worker serves.
CREATE TABLE IF NOT EXISTS at_worker_presence (
  worker_id text        PRIMARY KEY,
  serves    text[]      NOT NULL,
  seen_at   timestamptz NOT NULL DEFAULT now()
);

-- Pending tasks whose type no worker seen within the stuck timeout serves (the session setting
-- at_worker.stuck_timeout, as for stuck_tasks; 5 minutes by default):
--   SELECT * FROM tasks_nobody_serves;
CREATE OR REPLACE VIEW tasks_nobody_serves AS
SELECT t.task_type, count(*) AS pending
  FROM scheduled_tasks AS t
 WHERE t.status = 'pending'
   AND NOT EXISTS (
         SELECT 1 FROM at_worker_presence AS p
          WHERE t.task_type = ANY (p.serves)
            AND p.seen_at >= now() - coalesce(nullif(current_setting('at_worker.stuck_timeout', true), '')::interval,
                                              interval '5 minutes'))
 GROUP BY t.task_type
 ORDER BY t.task_type;

-- Migration 0005's claim, skipping the types this worker cannot run.
-- The worker's claim, in one round trip. Claims up to p_limit due pending tasks, oldest first: picks
-- them with FOR UPDATE SKIP LOCKED (concurrent claimers skip each other's rows instead of waiting, so
-- no two workers get the same task), marks them processing with p_worker as owner, a fresh claim token
-- and a heartbeat, and appends each one's 'claimed' event, whose seq is the event_seq bumped in the
-- same UPDATE. "Due" is by the database's clock, so workers with skewed clocks still agree. Task
-- types in p_cannot_run (types this worker knows but has no configuration for) are left to the
-- workers that can run them; an unknown type is still claimed, and fails at once. A due row
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
CREATE FUNCTION at_worker_claim_due_tasks(p_worker text, p_limit integer, p_cannot_run text[] DEFAULT '{}')
RETURNS TABLE (id bigint, task_type text, payload jsonb, attempts integer, max_attempts integer,
               execute_at timestamptz, locked_by text, claim_token uuid, locked_at timestamptz, refusal text,
               task_uuid uuid)
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
       WHERE s.status = 'pending' AND s.execute_at <= now() AND NOT (s.task_type = ANY (p_cannot_run))
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
                t.locked_by, t.claim_token, t.locked_at, t.event_seq, t.task_uuid
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
           c.locked_at, c.id IN (SELECT e.task_id FROM events AS e) AS recorded, c.task_uuid
      FROM claimed AS c
    UNION ALL
    SELECT d.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, NULL
      FROM due AS d
     WHERE NOT d.sound
     ORDER BY 6, 1
  LOOP
    IF claim.recorded THEN
      id := claim.id; task_type := claim.task_type; payload := claim.payload; attempts := claim.attempts;
      max_attempts := claim.max_attempts; execute_at := claim.execute_at; locked_by := claim.locked_by;
      claim_token := claim.claim_token; locked_at := claim.locked_at; refusal := NULL; task_uuid := claim.task_uuid;
      RETURN NEXT;
    ELSE
      refused := refused || claim.id;
    END IF;
  END LOOP;
  IF cardinality(refused) > 0 THEN
    RETURN QUERY
    SELECT r.id, r.task_type, NULL::jsonb, NULL::integer, NULL::integer, NULL::timestamptz, NULL::text, NULL::uuid,
           NULL::timestamptz, r.refusal, NULL::uuid
      FROM at_worker_refuse_claims(p_worker, refused) AS r;
  END IF;
END
$$;
