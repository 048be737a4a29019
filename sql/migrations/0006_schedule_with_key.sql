-- Migration 0006: scheduling through one SQL function, with optional idempotency keys.
--
-- A task may carry a key; among the tasks that still exist, a key names at most one. Scheduling a key
-- again returns the existing task's id and writes nothing; the same key with another task_type,
-- payload, max_attempts or explicit execute_at is refused, naming the existing task. A key protects
-- for as long as its task's row exists: once the row is deleted (retention, an archive job, a DBA),
-- the key is free again. Plain INSERTs without a key work exactly as before.

-- Nullable without a default: adding it rewrites nothing. The check is NOT VALID because every row
-- that exists now has no key, so there is nothing to scan; new rows are checked.
ALTER TABLE scheduled_tasks ADD COLUMN idempotency_key text;
ALTER TABLE scheduled_tasks ADD CONSTRAINT scheduled_tasks_idempotency_key_check
  CHECK (length(idempotency_key) BETWEEN 1 AND 255) NOT VALID;

-- Partial: tasks without a key (most of them) cost the index nothing. Built inside this migration's
-- transaction, so writers of scheduled_tasks wait while it runs (seconds on millions of rows; a
-- CREATE INDEX CONCURRENTLY by hand before the upgrade makes this one a no-op only if it has this name).
CREATE UNIQUE INDEX IF NOT EXISTS scheduled_tasks_idempotency_key_idx
  ON scheduled_tasks (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- The 'scheduled' event now names the task's key when it has one, so the history says which request
-- created the task. The rest is migration 0005's function (SECURITY DEFINER, fixed search_path, the
-- clamped wake-up, payload digest and task_uuid); CREATE OR REPLACE resets the setting, so it is set again below.
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
         || CASE WHEN n.idempotency_key IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('key', n.idempotency_key) END
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

-- Schedules every task of p_tasks, a JSON array of objects
--   {"task_type": text, "payload": object, "execute_at": timestamptz | null, "delay_ms": number | null,
--    "max_attempts": integer | null (3), "key": text | null}
-- in ONE INSERT (one trigger call, one NOTIFY), and returns one row per element, in order: its
-- 1-based position, the task's id, and whether this call created it (false: the key's existing task).
-- No execute_at and no delay_ms: due now. delay_ms is added to the database's clock.
--
-- Checks what SQL can: a known task_type (the list is src/domain/payloads/by-type.ts's; a unit test
-- holds the two equal), a payload that is a JSON object, a positive max_attempts, a key of 1-255
-- characters. The executor's own field checks happen in the TypeScript client and the CLI, which
-- refuse a bad payload before calling this; for other callers the worker refuses it at run time.
--
-- Keys, race-safe without locks of its own: the INSERT is ON CONFLICT DO NOTHING on the key's unique
-- index, which makes a concurrent caller with the same key wait until the first commits (then it
-- inserts nothing) or rolls back (then it inserts). The rows it did not insert are then read in a
-- second statement, whose fresh snapshot (READ COMMITTED) sees the task the other caller committed.
-- Under REPEATABLE READ the INSERT itself raises a serialization failure instead (40001: retry).
-- A time is compared only when given as execute_at: a delay is relative to each call, so a retried
-- request with the same delay is the same request.
--
-- SECURITY DEFINER (search_path fixed below), EXECUTE for the roles sql/roles.sql names only: a
-- producer role may insert only a new task's own columns into scheduled_tasks and has no right on
-- task_events, yet scheduling with a key sets idempotency_key, draws the id and reads the key's
-- 'scheduled' event. The function is the gate: it writes only a pending task of a known type.
CREATE OR REPLACE FUNCTION at_worker_schedule_many(p_tasks jsonb)
RETURNS TABLE (ord bigint, id bigint, created boolean)
LANGUAGE plpgsql
SECURITY DEFINER
AS $$
#variable_conflict use_column
DECLARE
  known_types constant text[] := ARRAY['http_callback', 'rabbitmq', 'email'];
  problem text;
  conflict record;
  drawn_ids bigint[];
  new_ids bigint[];
BEGIN
  IF jsonb_typeof(p_tasks) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'at_worker_schedule: expected a JSON array of tasks, got %', coalesce(jsonb_typeof(p_tasks), 'nothing')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  -- The first problem of the first element that has one. CASE, not AND / OR, decides the order, so a
  -- cast runs only on a value of the right JSON type.
  SELECT CASE WHEN jsonb_array_length(p_tasks) > 1 THEN format('task %s: ', c.n) ELSE '' END || c.problem
    INTO problem
    FROM (
      SELECT e.n,
             CASE
               WHEN jsonb_typeof(e.v) IS DISTINCT FROM 'object' THEN 'expected an object'
               WHEN e.v->>'task_type' IS NULL OR NOT (e.v->>'task_type' = ANY (known_types))
                 THEN format('task_type: expected one of %s, got %s',
                             array_to_string(known_types, ', '), coalesce(e.v->'task_type', 'null'))
               WHEN jsonb_typeof(e.v->'payload') IS DISTINCT FROM 'object'
                 THEN format('payload: expected an object, got %s', coalesce(jsonb_typeof(e.v->'payload'), 'nothing'))
               WHEN CASE coalesce(jsonb_typeof(e.v->'max_attempts'), 'null')
                      WHEN 'null' THEN false
                      WHEN 'number' THEN NOT ((e.v->>'max_attempts')::numeric BETWEEN 1 AND 2147483647
                                              AND (e.v->>'max_attempts')::numeric % 1 = 0)
                      ELSE true
                    END
                 THEN format('max_attempts: expected a positive integer, got %s', e.v->'max_attempts')
               WHEN CASE coalesce(jsonb_typeof(e.v->'key'), 'null')
                      WHEN 'null' THEN false
                      WHEN 'string' THEN length(e.v->>'key') NOT BETWEEN 1 AND 255
                      ELSE true
                    END
                 THEN format('key: expected a string of 1 to 255 characters, got %s', left((e.v->'key')::text, 60))
               WHEN coalesce(jsonb_typeof(e.v->'execute_at'), 'null') NOT IN ('null', 'string')
                 THEN format('execute_at: expected a timestamptz, got %s', e.v->'execute_at')
               WHEN CASE coalesce(jsonb_typeof(e.v->'delay_ms'), 'null')
                      WHEN 'null' THEN false
                      WHEN 'number' THEN (e.v->>'delay_ms')::numeric < 0
                      ELSE true
                    END
                 THEN format('delay_ms: expected a number of milliseconds, at least 0, got %s', e.v->'delay_ms')
               WHEN jsonb_typeof(e.v->'execute_at') = 'string' AND jsonb_typeof(e.v->'delay_ms') = 'number'
                 THEN 'give execute_at or delay_ms, not both'
             END AS problem
        FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS e(v, n)
    ) AS c
   WHERE c.problem IS NOT NULL
   ORDER BY c.n
   LIMIT 1;
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'at_worker_schedule: %', problem USING ERRCODE = 'invalid_parameter_value';
  END IF;

  -- Ids are drawn before the INSERT so every element knows its own: RETURNING cannot say which input
  -- row a new row came from. An element whose key already exists leaves its drawn id unused. Rows go
  -- in in key order, so two batches sharing keys wait for each other's keys in the same order
  -- instead of deadlocking.
  WITH requested AS MATERIALIZED (
    SELECT e.n, nextval(pg_get_serial_sequence('scheduled_tasks', 'id')) AS new_id, e.v
      FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS e(v, n)
  ), inserted AS (
    INSERT INTO scheduled_tasks AS s (id, task_type, payload, execute_at, max_attempts, idempotency_key)
    SELECT r.new_id, r.v->>'task_type', r.v->'payload',
           coalesce((r.v->>'execute_at')::timestamptz,
                    now() + coalesce((r.v->>'delay_ms')::double precision, 0) * interval '1 millisecond'),
           coalesce((r.v->>'max_attempts')::integer, 3), r.v->>'key'
      FROM requested AS r
     ORDER BY r.v->>'key', r.n
        ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING s.id
  )
  SELECT array_agg(r.new_id ORDER BY r.n), (SELECT array_agg(i.id) FROM inserted AS i)
    INTO drawn_ids, new_ids
    FROM requested AS r;

  -- Every element inserted (no key, or only new keys): nothing to compare, and each id is its own.
  IF coalesce(cardinality(new_ids), 0) = cardinality(drawn_ids) THEN
    RETURN QUERY SELECT d.n, d.id, true FROM unnest(drawn_ids) WITH ORDINALITY AS d(id, n) ORDER BY d.n;
    RETURN;
  END IF;

  -- A new statement, so a new snapshot: the tasks other callers committed while the INSERT waited on
  -- their keys are visible now. Each element not inserted is compared with its key's task as that was
  -- scheduled (its 'scheduled' event: the row's execute_at and max_attempts move on retries).
  FOR conflict IN
    SELECT e.n, e.v->>'key' AS key, t.id,
           array_remove(ARRAY[
             CASE WHEN t.task_type IS DISTINCT FROM e.v->>'task_type' THEN 'task_type' END,
             CASE WHEN t.payload IS DISTINCT FROM e.v->'payload' THEN 'payload' END,
             CASE WHEN coalesce((ev.data->>'max_attempts')::integer, t.max_attempts)
                       IS DISTINCT FROM coalesce((e.v->>'max_attempts')::integer, 3) THEN 'max_attempts' END,
             CASE WHEN e.v->>'execute_at' IS NOT NULL
                   AND coalesce((ev.data->>'execute_at')::timestamptz, t.execute_at) IS DISTINCT FROM (e.v->>'execute_at')::timestamptz
                  THEN 'execute_at' END], NULL) AS differs
      FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS e(v, n)
      JOIN unnest(drawn_ids) WITH ORDINALITY AS d(id, n) ON d.n = e.n
      LEFT JOIN unnest(new_ids) AS i(id) ON i.id = d.id
      LEFT JOIN scheduled_tasks AS t ON t.idempotency_key = e.v->>'key'
      LEFT JOIN task_events AS ev ON ev.task_id = t.id AND ev.seq = 1 AND ev.event_type = 'scheduled'
     WHERE i.id IS NULL
     ORDER BY e.n
  LOOP
    IF conflict.id IS NULL THEN
      RAISE EXCEPTION 'at_worker_schedule: the task with key % was removed while this call waited for it; try again', to_json(conflict.key)
        USING ERRCODE = 'serialization_failure';
    END IF;
    -- The key's task was made by this very call: the batch holds the key twice, differently.
    IF cardinality(conflict.differs) > 0 AND conflict.id = ANY (new_ids) THEN
      RAISE EXCEPTION 'at_worker_schedule: task %: key % is also an earlier task''s in this call, with a different %',
                      conflict.n, to_json(conflict.key), array_to_string(conflict.differs, ', ')
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(conflict.differs) > 0 THEN
      RAISE EXCEPTION 'at_worker_schedule: key % is task %, scheduled with a different %',
                      to_json(conflict.key), conflict.id, array_to_string(conflict.differs, ', ')
        USING ERRCODE = 'unique_violation', CONSTRAINT = 'scheduled_tasks_idempotency_key_idx',
              DETAIL = format('existing task %s; differs in %s', conflict.id, array_to_string(conflict.differs, ', '));
    END IF;
  END LOOP;

  RETURN QUERY
  SELECT d.n, coalesce(i.id, t.id), i.id IS NOT NULL
    FROM jsonb_array_elements(p_tasks) WITH ORDINALITY AS e(v, n)
    JOIN unnest(drawn_ids) WITH ORDINALITY AS d(id, n) ON d.n = e.n
    LEFT JOIN unnest(new_ids) AS i(id) ON i.id = d.id
    LEFT JOIN scheduled_tasks AS t ON i.id IS NULL AND t.idempotency_key = e.v->>'key'
   ORDER BY d.n;
END
$$;

-- One task, for callers in any language: returns its id. NULL p_execute_at (and p_delay): due now.
-- p_execute_at is compared on a repeated key, p_delay is not (see at_worker_schedule_many).
--   SELECT at_worker_schedule('http_callback', '{"url": "https://example.com/hook", "data": {}}',
--                             now() + interval '5 minutes', 3, 'order-42-confirmation');
CREATE OR REPLACE FUNCTION at_worker_schedule(
  p_task_type text, p_payload jsonb, p_execute_at timestamptz DEFAULT NULL, p_max_attempts integer DEFAULT 3,
  p_key text DEFAULT NULL, p_delay interval DEFAULT NULL)
RETURNS bigint
LANGUAGE sql
AS $$
  SELECT s.id
    FROM at_worker_schedule_many(jsonb_build_array(jsonb_build_object(
           'task_type', p_task_type, 'payload', coalesce(p_payload, 'null'::jsonb), 'execute_at', p_execute_at,
           'delay_ms', extract(epoch FROM p_delay) * 1000, 'max_attempts', p_max_attempts, 'key', p_key))) AS s
$$;

-- The schema the migrations create their objects in (the first of the search_path), by name, and
-- pg_temp last, so a caller cannot put an object of its own in the way of the names the bodies use.
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION scheduled_tasks_record_scheduled() SET search_path = %I, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION at_worker_schedule_many(jsonb) SET search_path = %I, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION at_worker_schedule(text, jsonb, timestamptz, integer, text, interval) SET search_path = %I, pg_temp',
                 current_schema());
END
$$;
REVOKE EXECUTE ON FUNCTION at_worker_schedule_many(jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION at_worker_schedule(text, jsonb, timestamptz, integer, text, interval) FROM PUBLIC;
