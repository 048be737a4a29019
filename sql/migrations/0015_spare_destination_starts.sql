-- Migration 0015: spare starts of a rate taken alone, in one small step, without waiting for the WAL.
--
-- A worker whose rate limit is far from binding uses each spare start up to 10 ms after its time
-- (migration 0014), so at a few thousand starts a second it needs new ones about every 10 ms. Taking
-- them through at_worker_take_destination_leases, whose per-request bookkeeping they do not need,
-- and committing each such call with a WAL flush, cost the 10,000-task burst about a tenth of its
-- throughput with a limit that never binds (npm run bench -- --only protect). This function only
-- moves the rate's cursor: it hands out the starts due within the next 5 ms (at most p_max), spaced
-- as migration 0014 spaces them, and returns the first one, how many, their spacing and the
-- database's clock, from which the worker lists them.
--
-- Its commit does not wait for the WAL flush (synchronous_commit off for this transaction only). A
-- crash of the server may lose the last fraction of a second of such cursor moves, which lets that
-- fraction of a second's starts be handed out again once: a rate may be exceeded once, right after
-- a database crash. Tasks, events and leases are not written here, and commit as before.
--
-- No row for the key (no task has asked for it yet): no row returned.
CREATE FUNCTION at_worker_take_spare_destination_starts(p_limit_key text, p_rate double precision, p_max integer)
RETURNS TABLE (first_at timestamptz, granted integer, step_us double precision, now_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  slot timestamptz;
  -- As at_worker_take_destination_leases (migration 0014): starts 2 % further apart than 1/rate,
  -- and spare ones only while they are due within 5 ms (none when the rate binds).
  step constant interval := make_interval(secs => 1.02 / p_rate);
  ahead constant interval := interval '5 milliseconds';
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT s.next_start INTO slot FROM destination_limit_state AS s WHERE s.limit_key = p_limit_key FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  now_at := clock_timestamp();
  first_at := greatest(slot, now_at);
  step_us := extract(epoch FROM step) * 1000000;
  granted := CASE
    WHEN first_at > now_at + ahead OR step_us <= 0 THEN 0
    ELSE least(p_max, floor(extract(epoch FROM now_at + ahead - first_at) * 1000000 / step_us)::integer + 1)
  END;
  IF granted > 0 THEN
    UPDATE destination_limit_state AS s SET next_start = first_at + granted * step WHERE s.limit_key = p_limit_key;
  END IF;
  RETURN NEXT;
END
$$;
