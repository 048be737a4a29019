-- Migration 0005: an identifier per task that is unique across databases and resets, and a digest
-- of the payload in the history.
-- - Task ids repeat after TRUNCATE ... RESTART IDENTITY and across deployments, so `webhook-id:
--   task_<id>` collided and a de-duplicating receiver dropped real callbacks. task_uuid is random
--   per task (gen_random_uuid) and is what webhook-id, the AMQP message_id and the Message-ID carry.
--   Rows that exist before this migration keep task_uuid NULL and their old ids, so a task already
--   being retried is not delivered under a new id.
-- - The 'scheduled' event records payload_sha256 (SHA-256 of the payload's jsonb text) and the
--   task_uuid, so `verify` sees a payload or an identifier changed after scheduling.
--
-- Adding a column with no default is a catalog change (no table rewrite); the default then applies
-- to new rows only.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute
                 WHERE attrelid = 'scheduled_tasks'::regclass AND attname = 'task_uuid' AND NOT attisdropped) THEN
    ALTER TABLE scheduled_tasks ADD COLUMN task_uuid uuid;
    ALTER TABLE scheduled_tasks ALTER COLUMN task_uuid SET DEFAULT gen_random_uuid();
  END IF;
END
$$;

-- Migration 0004's function (SECURITY DEFINER, fixed search_path, clamped wake-up), with the digest
-- and the task_uuid in the event. CREATE OR REPLACE resets a function's settings: a later migration
-- that replaces this function must say SECURITY DEFINER again and repeat the ALTER FUNCTION ... SET
-- search_path below.
CREATE OR REPLACE FUNCTION scheduled_tasks_record_scheduled() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
AS $$
DECLARE
  earliest timestamptz;
BEGIN
  INSERT INTO task_events (task_id, seq, event_type, worker_id, occurred_at, data)
  SELECT n.id, 1, 'scheduled', NULL, now(),
         jsonb_build_object('task_type', n.task_type, 'execute_at', n.execute_at, 'max_attempts', n.max_attempts,
                            'payload_sha256', encode(sha256(convert_to(n.payload::text, 'UTF8')), 'hex'),
                            'task_uuid', n.task_uuid)
    FROM new_tasks n;
  SELECT min(n.execute_at) INTO earliest FROM new_tasks n WHERE n.status = 'pending' AND n.execute_at <> 'infinity';
  IF earliest IS NOT NULL THEN
    PERFORM pg_notify('at_worker_tasks', CASE
      WHEN earliest = '-infinity' THEN '-8640000000000000'
      ELSE least(floor(extract(epoch FROM earliest) * 1000), 8640000000000000)::bigint::text
    END);
  END IF;
  RETURN NULL;
END
$$;

DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION scheduled_tasks_record_scheduled() SET search_path = %I, pg_temp', current_schema());
END
$$;

-- Migration 0002's claim, returning task_uuid too.
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
