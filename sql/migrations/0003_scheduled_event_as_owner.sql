-- Migration 0003: the 'scheduled' event is written with the table owner's rights, so a producer
-- needs no privilege on task_events. The trigger ran with the rights of whoever inserted the task: a
-- producer holding only INSERT on scheduled_tasks got "permission denied for table task_events", so
-- every producer also had to be granted INSERT on task_events, which let it forge any task's history
-- (and plant the rows migration 0002's claim now has to refuse). sql/roles.sql now has a producer
-- role with no right on task_events at all.
--
-- SECURITY DEFINER with a fixed search_path (this schema, then pg_temp last): a caller cannot put a
-- table or function of its own (in pg_temp, or in a schema earlier on its search_path) in the way of
-- the names the body uses. pg_catalog is searched first whatever the setting says.
--
-- The body is migration 0001's, unchanged: only how the function runs changes. CREATE OR REPLACE
-- resets a function's settings: a later migration that replaces this function must say SECURITY
-- DEFINER again and repeat the ALTER FUNCTION ... SET search_path below.
CREATE OR REPLACE FUNCTION scheduled_tasks_record_scheduled() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
AS $$
DECLARE
  earliest timestamptz;
BEGIN
  INSERT INTO task_events (task_id, seq, event_type, worker_id, occurred_at, data)
  SELECT n.id, 1, 'scheduled', NULL, now(),
         jsonb_build_object('task_type', n.task_type, 'execute_at', n.execute_at, 'max_attempts', n.max_attempts)
    FROM new_tasks n;
  SELECT min(n.execute_at) INTO earliest FROM new_tasks n WHERE n.status = 'pending';
  IF earliest IS NOT NULL THEN
    PERFORM pg_notify('at_worker_tasks', floor(extract(epoch FROM earliest) * 1000)::bigint::text);
  END IF;
  RETURN NULL;
END
$$;

-- The schema the migrations create their objects in (the first of the search_path), by name.
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION scheduled_tasks_record_scheduled() SET search_path = %I, pg_temp', current_schema());
END
$$;
