-- Migration 0004: every value PostgreSQL accepts in a timestamptz column can be scheduled and read.
-- - The insert trigger's wake-up (NOTIFY with the earliest execute_at in epoch milliseconds) failed
--   the whole INSERT for execute_at = 'infinity' or '-infinity' ("cannot convert infinity to
--   bigint"). A task due at 'infinity' is parked and wakes nobody; one due at '-infinity' is due now.
--   The milliseconds are clamped to what a JavaScript Date holds (+-8.64e15), which the listener reads.
-- - task_completion_times failed as a whole ("cannot subtract infinite timestamps") once one
--   completed task was due at '-infinity'; such a task has no meaningful wait and is left out of the
--   average (it still counts as completed in every other view).

-- Migration 0003's function (SECURITY DEFINER, fixed search_path), with the clamped wake-up.
-- CREATE OR REPLACE resets a function's settings: a later migration that replaces this function must
-- say SECURITY DEFINER again and repeat the ALTER FUNCTION ... SET search_path below.
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

-- Average time from execute_at (when it was due; a retry moves it to the retry's time) to completion.
-- Tasks due at '-infinity' (or completed at an infinite time, by hand) have no finite wait: left out.
CREATE OR REPLACE VIEW task_completion_times AS
SELECT task_type,
       count(*) AS completed,
       round(avg(extract(epoch FROM completed_at - execute_at)), 3) AS avg_seconds
  FROM scheduled_tasks
 WHERE status = 'completed' AND completed_at IS NOT NULL AND isfinite(execute_at) AND isfinite(completed_at)
 GROUP BY task_type
 ORDER BY task_type;
