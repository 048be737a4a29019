-- Migration 0011: task_events becomes a table partitioned by RANGE (task_id), so that removing old
-- history detaches and drops a partition instead of deleting rows. docs/storage.md explains the
-- design and the measurements behind it; in short:
--   * The key is task_id, not occurred_at: every event of a task lands in one partition, so a task's
--     history is never split across a removal boundary (a live task in an old partition keeps its
--     whole history without copying anything forward), and a history look-up prunes to one partition.
--   * A partition is dropped whole once every task of its id range is finished and past retention;
--     until then it stays. A range pinned only by live tasks (a task scheduled months ahead, or one
--     retried for weeks) loses its expired tasks row by row instead, so one live task cannot pin
--     millions of expired ones for ever.
--   * Partitions are created ahead of the id sequence by the maintenance pass (at_worker_history_prepare),
--     and a DEFAULT partition catches any event whose range does not exist yet, so no insert fails
--     for want of a partition. The pass starts the next range above whatever landed there.
--
-- The existing table is kept as the first partition (ATTACH, not a copy), so no row moves and none
-- is lost; attaching validates its ids once, a scan under this migration's lock.

ALTER TABLE task_events RENAME TO task_events_before_partitioning;
ALTER TABLE task_events_before_partitioning RENAME CONSTRAINT task_events_pkey TO task_events_before_partitioning_pkey;

CREATE TABLE task_events (
  task_id     bigint      NOT NULL,
  seq         integer     NOT NULL CONSTRAINT task_events_seq_check CHECK (seq > 0),
  event_type  text        NOT NULL,
  worker_id   text,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  data        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  PRIMARY KEY (task_id, seq)
) PARTITION BY RANGE (task_id);

-- Any other index the old table has (one a later release or a DBA added) is made on the parent too,
-- under its own name, so every partition gets it; the ATTACH below adopts the old table's copy.
DO $$
DECLARE
  old_index record;
BEGIN
  FOR old_index IN
    SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
      FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid
     WHERE i.indrelid = 'task_events_before_partitioning'::regclass AND NOT i.indisprimary
  LOOP
    EXECUTE format('ALTER INDEX %I RENAME TO %I', old_index.name, left(old_index.name, 50) || '_before_partitioning');
    EXECUTE regexp_replace(old_index.definition, ' ON (\S+\.)?task_events_before_partitioning ', ' ON task_events ');
  END LOOP;
END
$$;

-- The view reads the parent; recreated so it does not follow the renamed table
-- (a view refers to a table by identity, not by name).
CREATE OR REPLACE VIEW task_history AS
SELECT task_id, seq, occurred_at, event_type, worker_id,
       -- Guarded so one hand-written event with a non-numeric attempt cannot break the whole view.
       CASE WHEN jsonb_typeof(data->'attempt') = 'number' THEN (data->>'attempt')::numeric::integer END AS attempt,
       data->>'error' AS error,
       data->>'reason' AS reason,
       data->'details' AS details,
       data
  FROM task_events
 ORDER BY task_id, seq;

-- The parent refuses UPDATE, DELETE and TRUNCATE addressed to it; each partition carries the same
-- trigger for statements addressed to it directly (statement triggers are not inherited).
CREATE TRIGGER task_events_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON task_events
  FOR EACH STATEMENT EXECUTE FUNCTION task_events_reject_change();

-- Every partition ever created, with its range: the maintenance pass reads its bounds here instead of
-- parsing pg_class.relpartbound, and an operator sees what was removed and when.
CREATE TABLE task_events_partitions (
  name          text        PRIMARY KEY,
  first_task_id bigint,                       -- NULL: from the lowest id (the table before partitioning)
  end_task_id   bigint      NOT NULL,         -- exclusive
  created_at    timestamptz NOT NULL DEFAULT now(),
  detached_at   timestamptz,
  dropped_at    timestamptz
);

-- The append-only guard, with one door: a DELETE made while the transaction-local setting
-- at_worker.removing_expired_history is 'on'. Only at_worker_history_retire sets it, and a DELETE
-- needs the DELETE privilege first, which only the tables' owner has (the worker role never does),
-- so the setting opens nothing to anyone else; it spares the owner's retention from disabling the
-- trigger, which would lock the partition against the live tasks' appends.
CREATE OR REPLACE FUNCTION task_events_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('at_worker.removing_expired_history', true) = 'on' THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'task_events is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'history rows are never changed or removed; insert a new event instead';
END
$$;

-- Creates, attaches and registers the partition for task ids [p_first, p_end). Created apart and then
-- attached: CREATE TABLE ... PARTITION OF locks the parent against every insert, ATTACH only against
-- other DDL (and scans the DEFAULT partition, which is normally empty).
CREATE OR REPLACE FUNCTION at_worker_history_add_partition(p_first bigint, p_end bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  partition_name constant text := format('task_events_%s', lpad(p_first::text, 12, '0'));
BEGIN
  EXECUTE format('CREATE TABLE %I (LIKE task_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', partition_name);
  EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (task_id, seq), ADD CONSTRAINT %I CHECK (task_id >= %s AND task_id < %s)',
                 partition_name, partition_name || '_range', p_first, p_end);
  EXECUTE format('CREATE TRIGGER task_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON %I '
                 'FOR EACH STATEMENT EXECUTE FUNCTION task_events_reject_change()', partition_name);
  EXECUTE format('ALTER TABLE task_events ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', partition_name, p_first, p_end);
  INSERT INTO task_events_partitions (name, first_task_id, end_task_id) VALUES (partition_name, p_first, p_end);
  RETURN partition_name;
END
$$;

-- The highest task id handed out so far (0 before the first).
CREATE OR REPLACE FUNCTION at_worker_last_task_id() RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('scheduled_tasks', 'id')::regclass), 0)
$$;

-- The maintenance pass's first step: keeps at least p_ahead partitions of p_size task ids beyond the
-- highest id handed out. One caller at a time (the others return 0 at once): the advisory lock is
-- taken with try, so workers never queue behind each other's pass. SECURITY DEFINER, so the worker
-- role can run it without the right to create tables; it creates nothing but these partitions.
CREATE OR REPLACE FUNCTION at_worker_history_prepare(p_size bigint, p_ahead integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  next_first bigint;
  stray bigint;
  created integer := 0;
BEGIN
  IF p_size IS NULL OR p_size < 1 OR p_size > 1000000000 OR p_ahead IS NULL OR p_ahead < 1 OR p_ahead > 1000 THEN
    RAISE EXCEPTION 'at_worker_history_prepare: partition size must be 1..1000000000 task ids and ahead 1..1000, not % and %',
      p_size, p_ahead;
  END IF;
  IF NOT pg_try_advisory_xact_lock(hashtext('at-worker:history-maintenance')) THEN
    RETURN 0;
  END IF;
  SELECT max(end_task_id) INTO next_first FROM task_events_partitions;
  -- Events that found no partition sit in the DEFAULT one; a new range must start above them, or
  -- ATTACH would fail. They stay there, and retention removes them row by row.
  SELECT max(task_id) + 1 INTO stray FROM task_events_default;
  next_first := greatest(coalesce(next_first, 1), coalesce(stray, 1));
  WHILE next_first <= at_worker_last_task_id() + p_ahead * p_size LOOP
    PERFORM at_worker_history_add_partition(next_first, next_first + p_size);
    next_first := next_first + p_size;
    created := created + 1;
  END LOOP;
  RETURN created;
END
$$;

-- The old table becomes the first partition, for every id up to the highest handed out; an empty
-- one (a new database) is simply replaced by the partitions ahead.
DO $$
DECLARE
  first_new bigint := greatest(at_worker_last_task_id(), (SELECT coalesce(max(task_id), 0) FROM task_events_before_partitioning)) + 1;
BEGIN
  IF EXISTS (SELECT 1 FROM task_events_before_partitioning) THEN
    ALTER TABLE task_events_before_partitioning DROP CONSTRAINT IF EXISTS task_events_before_partitioning_range;
    EXECUTE format('ALTER TABLE task_events_before_partitioning '
                   'ADD CONSTRAINT task_events_before_partitioning_range CHECK (task_id < %s)', first_new);
    EXECUTE format('ALTER TABLE task_events ATTACH PARTITION task_events_before_partitioning '
                   'FOR VALUES FROM (MINVALUE) TO (%s)', first_new);
    INSERT INTO task_events_partitions (name, first_task_id, end_task_id) VALUES ('task_events_before_partitioning', NULL, first_new);
  ELSE
    DROP TABLE task_events_before_partitioning;
    INSERT INTO task_events_partitions (name, first_task_id, end_task_id, detached_at, dropped_at)
    VALUES ('task_events_before_partitioning', NULL, first_new, now(), now());
  END IF;
END
$$;

CREATE TABLE task_events_default PARTITION OF task_events DEFAULT;
CREATE TRIGGER task_events_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON task_events_default
  FOR EACH STATEMENT EXECUTE FUNCTION task_events_reject_change();

-- A first stretch of partitions (1,000,000 task ids each, the workers' default; see docs/storage.md).
SELECT at_worker_history_prepare(1000000, 2);

-- Functions are executable by PUBLIC by default; these are the workers' alone (sql/roles.sql grants them).
REVOKE ALL ON FUNCTION at_worker_history_prepare(bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION at_worker_history_add_partition(bigint, bigint) FROM PUBLIC;

-- A fixed search_path (this schema, then pg_temp last), as for every SECURITY DEFINER function here:
-- a caller cannot put a table of its own (a temporary one, or one in a schema earlier on its path) in
-- the way of the names the bodies use. Functions they call run with it too.
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION at_worker_history_prepare(bigint, integer) SET search_path = %I, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION at_worker_history_add_partition(bigint, bigint) SET search_path = %I, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION at_worker_last_task_id() SET search_path = %I, pg_temp', current_schema());
END
$$;
