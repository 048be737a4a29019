-- Migration 0012: retention. Finished tasks past their retention leave scheduled_tasks together with
-- their whole history, through one narrow door the worker role may call (at_worker_history_retire),
-- and every removal is recorded in at_worker_retention_passes. docs/storage.md has the design.

-- One row per step of a retention pass that removed something: the policy in force (the cut-offs
-- it computed), what went, when, and by which worker. removed_from..removed_to is a span of task
-- ids of which every task that existed went; removed_ids lists tasks removed one by one from a
-- range that live tasks keep. at_worker_removed_by_retention(id) answers "was this task removed by
-- retention?" from them, which is how `verify` tells retention from a hand-made DELETE.
CREATE TABLE at_worker_retention_passes (
  id                 bigserial   PRIMARY KEY,
  worker_id          text        NOT NULL,
  ran_at             timestamptz NOT NULL DEFAULT now(),
  finished_before    timestamptz,            -- completed and cancelled tasks that ended before this went
  failed_before      timestamptz,            -- failed tasks that ended before this went
  tasks_removed      bigint      NOT NULL,
  events_removed     bigint      NOT NULL,
  partition_detached text,
  removed_from       bigint,
  removed_to         bigint,
  removed_ids        bigint[]
);
CREATE INDEX at_worker_retention_passes_span_idx ON at_worker_retention_passes (removed_from, removed_to);

CREATE OR REPLACE FUNCTION at_worker_removed_by_retention(p_task_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER AS $$
  SELECT EXISTS (SELECT 1 FROM at_worker_retention_passes
                  WHERE (removed_from <= p_task_id AND p_task_id <= removed_to) OR p_task_id = ANY (removed_ids))
$$;

-- Whether a row of scheduled_tasks is past its retention. NULL retention keeps for ever.
CREATE OR REPLACE FUNCTION at_worker_task_expired(p_status text, p_updated_at timestamptz,
                                                  p_finished_before timestamptz, p_failed_before timestamptz)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE p_status
           WHEN 'completed' THEN p_updated_at < p_finished_before
           WHEN 'cancelled' THEN p_updated_at < p_finished_before
           WHEN 'failed' THEN p_updated_at < p_failed_before
           ELSE false
         END IS TRUE
$$;

-- A range whose tasks were all found past retention: its rows are leaving in batches. Recorded so
-- the next step does not scan the whole range again to find that out.
ALTER TABLE task_events_partitions ADD COLUMN retiring_since timestamptz;
-- Its events, counted once no task of the range is left (in a step of its own, so the DETACH step
-- that follows is short): the record's events_removed.
ALTER TABLE task_events_partitions ADD COLUMN events_at_retirement bigint;

-- One step of a retention pass; the caller repeats it while it returns more = true. A step is one
-- short transaction that does one of:
--   1. deletes up to p_batch rows of scheduled_tasks from the oldest partition whose whole id range is
--      handed out and past retention (the rows leave in batches; nothing else touches them);
--   2. once that range has no row left, counts its events, then (the next step) detaches its
--      partition with a 20 ms lock timeout (DETACH locks the parent, and a claim must never wait
--      longer for it; a step that cannot get the lock gives up until the next pass);
--      at_worker_history_drop_detached then drops it;
--   3. in a range that only live tasks keep, or the range still being filled, deletes up to p_batch
--      expired tasks and their events row by row.
-- It stops at the first handed-out range holding a finished task not yet expired: later ranges hold
-- younger ones.
-- Live tasks (pending, processing) are never touched, nor any event of a task that stays.
-- SECURITY DEFINER: the worker role runs it without holding DELETE on either table.
CREATE OR REPLACE FUNCTION at_worker_history_retire(p_worker text, p_finished_retention interval,
                                                    p_failed_retention interval, p_batch integer)
RETURNS TABLE (tasks_removed bigint, events_removed bigint, partition_detached text, more boolean)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  finished_before constant timestamptz := now() - p_finished_retention;
  failed_before constant timestamptz := now() - p_failed_retention;
  last_id constant bigint := at_worker_last_task_id();
  saved_lock_timeout constant text := current_setting('lock_timeout');
  part record;
  has_young_finished boolean;
  has_live boolean;
  ids bigint[];
  span_from bigint;
  span_to bigint;
  n_tasks bigint;
  n_events bigint;
BEGIN
  IF p_worker IS NULL OR p_batch IS NULL OR p_batch < 1 OR p_batch > 100000
     OR p_finished_retention < interval '0' OR p_failed_retention < interval '0' THEN
    RAISE EXCEPTION 'at_worker_history_retire: needs a worker id, retentions >= 0 (NULL keeps for ever) and a batch of 1..100000';
  END IF;
  IF (p_finished_retention IS NULL AND p_failed_retention IS NULL)
     OR NOT pg_try_advisory_xact_lock(hashtext('at-worker:history-maintenance')) THEN
    RETURN QUERY SELECT 0::bigint, 0::bigint, NULL::text, false;
    RETURN;
  END IF;

  FOR part IN
    SELECT p.name, coalesce(p.first_task_id, '-9223372036854775808'::bigint) AS first_id, p.end_task_id AS end_id,
           p.retiring_since, p.events_at_retirement
      FROM task_events_partitions AS p
     WHERE p.detached_at IS NULL
     ORDER BY p.end_task_id
  LOOP
    IF part.retiring_since IS NULL THEN
      SELECT EXISTS (SELECT 1 FROM scheduled_tasks AS s
                      WHERE s.id >= part.first_id AND s.id < part.end_id AND s.status IN ('completed', 'cancelled', 'failed')
                        AND NOT at_worker_task_expired(s.status, s.updated_at, finished_before, failed_before)),
             EXISTS (SELECT 1 FROM scheduled_tasks AS s
                      WHERE s.id >= part.first_id AND s.id < part.end_id AND s.status IN ('pending', 'processing'))
        INTO has_young_finished, has_live;
      -- A handed-out range with a finished task still young waits for it, and so do later ranges.
      IF has_young_finished AND part.end_id <= last_id + 1 THEN
        EXIT;
      END IF;
      IF NOT has_live AND part.end_id <= last_id + 1 THEN
        UPDATE task_events_partitions SET retiring_since = now() WHERE name = part.name;
        part.retiring_since := now();
      END IF;
    END IF;

    IF part.retiring_since IS NOT NULL THEN
      -- 1. The whole range goes: its rows first, in batches, in id order. A row not expired any more
      -- (an operator retried it meanwhile) stays, and so does the partition.
      WITH doomed AS (
        SELECT s.id FROM scheduled_tasks AS s
         WHERE s.id >= part.first_id AND s.id < part.end_id
           AND at_worker_task_expired(s.status, s.updated_at, finished_before, failed_before)
         ORDER BY s.id LIMIT p_batch
      ), gone AS (
        DELETE FROM scheduled_tasks AS s USING doomed WHERE s.id = doomed.id
           AND at_worker_task_expired(s.status, s.updated_at, finished_before, failed_before)
        RETURNING s.id
      )
      SELECT count(*), min(id), max(id) INTO n_tasks, span_from, span_to FROM gone;
      IF n_tasks > 0 THEN
        INSERT INTO at_worker_retention_passes
               (worker_id, finished_before, failed_before, tasks_removed, events_removed, removed_from, removed_to)
        VALUES (p_worker, finished_before, failed_before, n_tasks, 0, span_from, span_to);
        RETURN QUERY SELECT n_tasks, 0::bigint, NULL::text, true;
        RETURN;
      END IF;
      IF EXISTS (SELECT 1 FROM scheduled_tasks AS s WHERE s.id >= part.first_id AND s.id < part.end_id) THEN
        UPDATE task_events_partitions SET retiring_since = NULL, events_at_retirement = NULL WHERE name = part.name;
        EXIT;
      END IF;
      -- 2. No task left in the range, so nothing appends to this partition any more. One step counts
      -- its events (a scan, holding no lock anyone waits for); the next detaches it, waiting at most
      -- 20 ms for the lock, else giving up until the next pass.
      IF part.events_at_retirement IS NULL THEN
        EXECUTE format('SELECT count(*) FROM %I', part.name) INTO n_events;
        UPDATE task_events_partitions SET events_at_retirement = n_events WHERE name = part.name;
        RETURN QUERY SELECT 0::bigint, 0::bigint, NULL::text, true;
        RETURN;
      END IF;
      n_events := part.events_at_retirement;
      BEGIN
        PERFORM set_config('lock_timeout', '20ms', true);
        EXECUTE format('ALTER TABLE task_events DETACH PARTITION %I', part.name);
        PERFORM set_config('lock_timeout', saved_lock_timeout, true);
        -- A task inserted with an id of this range after the check above (the id was drawn before)
        -- would have its history in here: keep the partition then.
        IF EXISTS (SELECT 1 FROM scheduled_tasks AS s WHERE s.id >= part.first_id AND s.id < part.end_id) THEN
          RAISE EXCEPTION 'range % in use again', part.name USING ERRCODE = 'object_in_use';
        END IF;
      EXCEPTION WHEN lock_not_available OR object_in_use THEN
        PERFORM set_config('lock_timeout', saved_lock_timeout, true);
        RETURN QUERY SELECT 0::bigint, 0::bigint, NULL::text, false;
        RETURN;
      END;
      UPDATE task_events_partitions SET detached_at = now() WHERE name = part.name;
      INSERT INTO at_worker_retention_passes (worker_id, finished_before, failed_before, tasks_removed, events_removed, partition_detached)
      VALUES (p_worker, finished_before, failed_before, 0, n_events, part.name);
      RETURN QUERY SELECT 0::bigint, n_events, part.name, true;
      RETURN;
    END IF;

    -- 3. Only live tasks keep this range, or it is still being filled (a deployment slow enough that
    -- a range outlives the retention): its expired tasks go one by one.
    SELECT array_agg(x.id ORDER BY x.id) INTO ids
      FROM (SELECT s.id FROM scheduled_tasks AS s
             WHERE s.id >= part.first_id AND s.id < part.end_id
               AND at_worker_task_expired(s.status, s.updated_at, finished_before, failed_before)
             ORDER BY s.id LIMIT p_batch FOR UPDATE) AS x;
    IF ids IS NOT NULL THEN
      DELETE FROM scheduled_tasks WHERE id = ANY (ids);
      PERFORM set_config('at_worker.removing_expired_history', 'on', true);
      EXECUTE format('DELETE FROM %I WHERE task_id = ANY ($1)', part.name) USING ids;
      GET DIAGNOSTICS n_events = ROW_COUNT;
      PERFORM set_config('at_worker.removing_expired_history', 'off', true);
      INSERT INTO at_worker_retention_passes (worker_id, finished_before, failed_before, tasks_removed, events_removed, removed_ids)
      VALUES (p_worker, finished_before, failed_before, cardinality(ids), n_events, ids);
      RETURN QUERY SELECT cardinality(ids)::bigint, n_events, NULL::text, true;
      RETURN;
    END IF;
  END LOOP;
  RETURN QUERY SELECT 0::bigint, 0::bigint, NULL::text, false;
END
$$;

-- Drops the partitions retention detached. A separate statement from the DETACH, so the lock on the
-- parent is not held while the files are unlinked; dropping a detached table locks only that table,
-- which nothing reads or writes any more. Returns the names dropped.
CREATE OR REPLACE FUNCTION at_worker_history_drop_detached() RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  partition_name text;
BEGIN
  IF NOT pg_try_advisory_xact_lock(hashtext('at-worker:history-maintenance')) THEN
    RETURN;
  END IF;
  FOR partition_name IN
    SELECT name FROM task_events_partitions
     WHERE detached_at IS NOT NULL AND dropped_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(name))
  LOOP
    EXECUTE format('DROP TABLE IF EXISTS %I', partition_name);
    UPDATE task_events_partitions SET dropped_at = now() WHERE name = partition_name;
    RETURN NEXT partition_name;
  END LOOP;
END
$$;

REVOKE ALL ON FUNCTION at_worker_history_retire(text, interval, interval, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION at_worker_history_drop_detached() FROM PUBLIC;
REVOKE ALL ON FUNCTION at_worker_removed_by_retention(bigint) FROM PUBLIC;

-- A fixed search_path for the SECURITY DEFINER functions (see migration 0011).
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION at_worker_history_retire(text, interval, interval, integer) SET search_path = %I, pg_temp',
                 current_schema());
  EXECUTE format('ALTER FUNCTION at_worker_history_drop_detached() SET search_path = %I, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION at_worker_removed_by_retention(bigint) SET search_path = %I, pg_temp', current_schema());
END
$$;
