-- Migration 0013: a task may carry the W3C trace context of the request that scheduled it.
--
-- traceparent is the producer's `traceparent` header value (version-traceid-spanid-flags, e.g.
-- 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01). With tracing on (docs/tracing.md), the
-- attempt's span is its child and the delivery carries the context on, so the receiver's trace
-- continues the producer's. It is not checked here: a value the worker cannot read is ignored with a
-- warning and never fails the task (tracing must not be able to stop a delivery). The length check
-- only keeps a mistaken value from bloating the row; a traceparent of version 00 has 55 characters.
--
-- Nullable without a default: adding it rewrites nothing; NOT VALID because every row has none yet.
ALTER TABLE scheduled_tasks ADD COLUMN traceparent text;
ALTER TABLE scheduled_tasks ADD CONSTRAINT scheduled_tasks_traceparent_length_check
  CHECK (length(traceparent) <= 512) NOT VALID;

-- Scheduling through at_worker_schedule_many (the CLI's `schedule --traceparent`, the TypeScript
-- client) takes an element's "traceparent" too: a string of at most 512 characters, or null. It is
-- not compared on a repeated key: it says where a request came from, not what it asks for, so a
-- retried request (a new trace) still finds its task. The rest is migration 0006's function;
-- CREATE OR REPLACE resets its search_path, set again below (its grants are kept).
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
               WHEN CASE coalesce(jsonb_typeof(e.v->'traceparent'), 'null')
                      WHEN 'null' THEN false
                      WHEN 'string' THEN length(e.v->>'traceparent') > 512
                      ELSE true
                    END
                 THEN format('traceparent: expected a W3C traceparent (a string), got %s', left((e.v->'traceparent')::text, 60))
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
    INSERT INTO scheduled_tasks AS s (id, task_type, payload, execute_at, max_attempts, idempotency_key, traceparent)
    SELECT r.new_id, r.v->>'task_type', r.v->'payload',
           coalesce((r.v->>'execute_at')::timestamptz,
                    now() + coalesce((r.v->>'delay_ms')::double precision, 0) * interval '1 millisecond'),
           coalesce((r.v->>'max_attempts')::integer, 3), r.v->>'key', r.v->>'traceparent'
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

DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION at_worker_schedule_many(jsonb) SET search_path = %I, pg_temp', current_schema());
END
$$;
