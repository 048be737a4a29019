-- Least privilege for at-worker: a group role that can claim, run and finish tasks and append to their
-- history, and nothing more. Run by hand, as the owner of the tables (whoever applied the migrations
-- of sql/migrations), after them. Idempotent: every run first takes the role's privileges on these objects away and
-- grants the list below again, so re-running after an upgrade of this file also removes what it no
-- longer grants.
--
--   npx at-worker migrate                                # the schema, as its owner (DATABASE_URL=...)
--   psql -d at_scheduler -f sql/roles.sql                # creates/updates the group role "at_worker"
--   psql -d at_scheduler -c "CREATE ROLE at_worker_app LOGIN PASSWORD '...' IN ROLE at_worker"
--        (or, for an existing login role:  GRANT at_worker TO some_login;)
--
-- Then run the workers as the login role with DB_MIGRATE=false (DB_USER=at_worker_app, DB_PASSWORD=...):
-- the role cannot run DDL, so it cannot apply migrations at start-up; it only checks that they are all
-- applied. Schema upgrades are the owner's job (`at-worker migrate`, its `--dry-run` script run with
-- psql, or one worker started as the owner). The login role needs INHERIT, the
-- default, to use the group's privileges.
--
-- The group role's name is a parameter, because roles are cluster-wide while grants are per database
-- (two deployments in one cluster, or the test suite, want their own name):
--   PGOPTIONS='-c at_worker.role=at_worker_blue' psql -d at_scheduler -f sql/roles.sql
--   or, in one session:  SET at_worker.role = 'at_worker_blue';  \i sql/roles.sql
-- It is read with current_setting() rather than a psql variable so the file is plain SQL that any
-- client can run (the test suite runs it through node-postgres).
--
-- What the worker does, and the privilege each needs:
--   claim, heartbeat, end attempts, recover, operator retry/cancel   SELECT, UPDATE on scheduled_tasks
--   schedule tasks (CLI, other services)                             INSERT on scheduled_tasks + USAGE on its id sequence
--   schedule through at_worker_schedule (CLI, client, any language)   the same, + SELECT on both tables, EXECUTE
--   append history, read it (CLI history/verify)                     INSERT, SELECT on task_events
--   circuit breaking (shared state, its transitions)                 SELECT, INSERT, UPDATE on destination_circuits;
--                                                                    SELECT, INSERT on destination_circuit_events
--   destination limits (rate, in-flight places, reserved starts)      SELECT, INSERT, UPDATE on destination_limit_state;
--                                                                    SELECT, INSERT, UPDATE, DELETE on destination_start_reservations,
--                                                                    destination_in_flight, destination_in_flight_leases
--   recurring schedules: the pass, the CLI, SCHEDULES_FILE             SELECT, INSERT, UPDATE, DELETE on schedules,
--                                                                    SELECT, INSERT on schedule_events (+ their sequences)
--   operator views (at-worker stats, psql)                           SELECT on the operator views
--   check at start-up that every migration is applied                SELECT on at_worker_migrations
--   maintenance pass: partitions ahead, retention, dropping detached  EXECUTE on at_worker_history_prepare,
--     partitions (SECURITY DEFINER functions: the narrow door)         at_worker_history_retire and
--                                                                      at_worker_history_drop_detached
--   stats, verify: retention record, partitions, removed tasks       SELECT on at_worker_retention_passes and
--                                                                      task_events_partitions, EXECUTE on
--                                                                      at_worker_removed_by_retention
--   advertise the task types it serves (migration 0009)              SELECT, INSERT, UPDATE on at_worker_presence
--   its tally for the dashboard's last hour (migration 0016)         SELECT, INSERT, UPDATE, DELETE on at_worker_activity
--   LISTEN / NOTIFY at_worker_tasks                                  nothing: open to every role
-- The retention functions run as their owner and remove only finished tasks past the retention the
-- caller names, each with its whole history, and record every removal; they never change an event
-- of a task that stays, and never touch a pending or running task. Granting them grants no DELETE.
-- Not granted, so refused by the server before any trigger runs: DELETE or TRUNCATE of
-- scheduled_tasks; UPDATE, DELETE or TRUNCATE of task_events (the append-only trigger is a second
-- wall, for the owner); TRIGGER, REFERENCES; CREATE on the schema; ownership of anything (so no ALTER,
-- DROP, or DISABLE TRIGGER).
--
-- The triggers need nothing extra. scheduled_tasks_record_scheduled, which writes each new task's
-- 'scheduled' event, is SECURITY DEFINER (it runs as the tables' owner, with a fixed search_path), so
-- whoever inserts a task needs no right on task_events; task_events_reject_change only raises.
--
-- A second group role, for the services that only schedule tasks (`at_worker_producer`, or the name in
-- the setting at_worker.producer_role): INSERT of a new task's columns (task_type, payload, execute_at,
-- max_attempts) into scheduled_tasks and its id sequence, SELECT on every
-- column but payload (so a producer can read back its id and follow its tasks' status, but not read
-- other producers' payloads, which may carry credentials), and nothing on task_events: it can
-- schedule, never write (or read) history, claim, change or delete a task.
-- With the functions of migration 0006 it may also schedule through at_worker_schedule (keys included)
-- and read a task's idempotency_key.
--   PGOPTIONS='-c at_worker.producer_role=orders_producer' psql -d at_scheduler -f sql/roles.sql
--   psql -d at_scheduler -c "CREATE ROLE orders_app LOGIN PASSWORD '...' IN ROLE at_worker_producer"
DO $roles$
DECLARE
  worker_role constant text := coalesce(nullif(current_setting('at_worker.role', true), ''), 'at_worker');
  producer_role constant text := coalesce(nullif(current_setting('at_worker.producer_role', true), ''), 'at_worker_producer');
  group_role text;
  -- The migrations create their objects in the first schema of the search_path; this file looks in the same.
  schema_name constant text := current_schema();
  id_sequence constant text := pg_get_serial_sequence(format('%I.scheduled_tasks', current_schema()), 'id');
  view_name text;
BEGIN
  IF to_regclass(format('%I.scheduled_tasks', schema_name)) IS NULL OR to_regclass(format('%I.task_events', schema_name)) IS NULL
     OR to_regclass(format('%I.at_worker_migrations', schema_name)) IS NULL THEN
    RAISE EXCEPTION 'scheduled_tasks, task_events and at_worker_migrations not found in schema %: apply the migrations first (at-worker migrate)', schema_name;
  END IF;
  IF worker_role = producer_role THEN
    RAISE EXCEPTION 'at_worker.role and at_worker.producer_role name the same role %', worker_role;
  END IF;
  FOREACH group_role IN ARRAY ARRAY[worker_role, producer_role] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = group_role) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', group_role);
    END IF;
    -- The REVOKE below would strip the owner of its own rights, and a superuser ignores grants anyway:
    -- either means the parameter names the wrong role.
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = group_role AND rolsuper)
       OR pg_has_role(group_role, (SELECT relowner FROM pg_class WHERE oid = format('%I.scheduled_tasks', schema_name)::regclass), 'USAGE') THEN
      RAISE EXCEPTION 'role % is a superuser or owns the tables; at_worker.role and at_worker.producer_role must name separate roles', group_role;
    END IF;
    EXECUTE format('REVOKE ALL ON %I.scheduled_tasks, %I.task_events, %I.at_worker_migrations FROM %I',
                   schema_name, schema_name, schema_name, group_role);
    EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM %I', id_sequence, group_role);
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), group_role);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', schema_name, group_role);
    EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM %I', schema_name, group_role);
  END LOOP;

  -- The producer: schedule, and follow its tasks. INSERT names the columns a new task is made of, so
  -- a producer cannot insert a task already running, finished, or with its counters set (attempts,
  -- event_seq); the rest take their defaults.
  EXECUTE format('GRANT INSERT (task_type, payload, execute_at, max_attempts) ON %I.scheduled_tasks TO %I', schema_name, producer_role);
  EXECUTE format('GRANT SELECT (id, task_type, status, attempts, max_attempts, execute_at, created_at, updated_at, '
                 'completed_at, error_message) ON %I.scheduled_tasks TO %I', schema_name, producer_role);
  EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', id_sequence, producer_role);

  -- The worker.
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I.scheduled_tasks TO %I', schema_name, worker_role);
  EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', id_sequence, worker_role);
  EXECUTE format('GRANT SELECT, INSERT ON %I.task_events TO %I', schema_name, worker_role);
  IF to_regclass(format('%I.task_events_partitions', schema_name)) IS NOT NULL THEN
    EXECUTE format('REVOKE ALL ON %I.task_events_partitions, %I.at_worker_retention_passes FROM %I', schema_name, schema_name, worker_role);
    EXECUTE format('GRANT SELECT ON %I.task_events_partitions, %I.at_worker_retention_passes TO %I', schema_name, schema_name, worker_role);
    EXECUTE format('REVOKE ALL ON FUNCTION %1$I.at_worker_history_add_partition(bigint, bigint) FROM %2$I', schema_name, worker_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %1$I.at_worker_history_prepare(bigint, integer), '
                   '%1$I.at_worker_history_retire(text, interval, interval, integer), %1$I.at_worker_history_drop_detached(), '
                   '%1$I.at_worker_removed_by_retention(bigint) TO %2$I', schema_name, worker_role);
  END IF;
  EXECUTE format('GRANT SELECT ON %I.at_worker_migrations TO %I', schema_name, worker_role);
  -- Which task types each live worker serves (migration 0007), when the schema has it.
  IF to_regclass(format('%I.at_worker_presence', schema_name)) IS NOT NULL THEN
    EXECUTE format('REVOKE ALL ON %I.at_worker_presence FROM %I, %I', schema_name, worker_role, producer_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I.at_worker_presence TO %I', schema_name, worker_role);
  END IF;
  -- What each worker counted, by 10-second bucket, for the dashboard (migration 0016); it deletes its old rows.
  IF to_regclass(format('%I.at_worker_activity', schema_name)) IS NOT NULL THEN
    EXECUTE format('REVOKE ALL ON %I.at_worker_activity FROM %I, %I', schema_name, worker_role, producer_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.at_worker_activity TO %I', schema_name, worker_role);
  END IF;

  -- Recurring schedules (migration 0007): the workers' pass reads and moves schedules on; the CLI
  -- adds, changes and removes them; both append to schedule_events, never change it.
  IF to_regclass(format('%I.schedules', schema_name)) IS NOT NULL THEN
    EXECUTE format('REVOKE ALL ON %I.schedules, %I.schedule_events FROM %I', schema_name, schema_name, worker_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.schedules TO %I', schema_name, worker_role);
    EXECUTE format('GRANT SELECT, INSERT ON %I.schedule_events TO %I', schema_name, worker_role);
    EXECUTE format('GRANT USAGE ON SEQUENCE %s, %s TO %I', pg_get_serial_sequence(format('%I.schedules', schema_name), 'id'),
                   pg_get_serial_sequence(format('%I.schedule_events', schema_name), 'id'), worker_role);
  END IF;

  -- Circuit breaking (migration 0010): the shared state is updated by every worker; its history is appended to.
  EXECUTE format('REVOKE ALL ON %I.destination_circuits, %I.destination_circuit_events FROM %I', schema_name, schema_name, worker_role);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I.destination_circuits TO %I', schema_name, worker_role);
  EXECUTE format('GRANT SELECT, INSERT ON %I.destination_circuit_events TO %I', schema_name, worker_role);
  -- Destination limits (migration 0010): the function runs with the caller's rights, so the tables it writes.
  EXECUTE format('REVOKE ALL ON %I.destination_limit_state, %I.destination_start_reservations, %I.destination_in_flight FROM %I',
                 schema_name, schema_name, schema_name, worker_role);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I.destination_limit_state TO %I', schema_name, worker_role);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.destination_start_reservations, %I.destination_in_flight TO %I',
                 schema_name, schema_name, worker_role);
  -- In-flight places leased per worker (migration 0014), when the schema has them.
  IF to_regclass(format('%I.destination_in_flight_leases', schema_name)) IS NOT NULL THEN
    EXECUTE format('REVOKE ALL ON %I.destination_in_flight_leases FROM %I', schema_name, worker_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.destination_in_flight_leases TO %I', schema_name, worker_role);
  END IF;

  -- The operator views (read-only by nature: they aggregate or join). Listed by name so a
  -- view someone else keeps in this schema is not exposed by accident.
  FOR view_name IN
    SELECT c.relname
      FROM pg_class AS c
     WHERE c.relkind = 'v' AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = schema_name)
       AND c.relname IN ('task_status_counts', 'running_tasks', 'stuck_tasks', 'task_success_rate',
                         'task_completion_times', 'tasks_at_last_attempt', 'task_history', 'tasks_nobody_serves')
  LOOP
    EXECUTE format('GRANT SELECT ON %I.%I TO %I', schema_name, view_name, worker_role);
  END LOOP;

  -- Scheduling through SQL (migration 0006): at_worker_schedule and its set version, which the CLI
  -- and the TypeScript client call, for both roles. They are SECURITY DEFINER and not executable by
  -- PUBLIC: they are the one way to give a task an idempotency key, and they check each task first.
  IF to_regprocedure(format('%I.at_worker_schedule_many(jsonb)', schema_name)) IS NOT NULL THEN
    FOREACH group_role IN ARRAY ARRAY[worker_role, producer_role] LOOP
      EXECUTE format('GRANT EXECUTE ON FUNCTION %I.at_worker_schedule_many(jsonb) TO %I', schema_name, group_role);
      EXECUTE format('GRANT EXECUTE ON FUNCTION %I.at_worker_schedule(text, jsonb, timestamptz, integer, text, interval) TO %I',
                     schema_name, group_role);
    END LOOP;
    -- A producer may look its task up by key (the client's get by key).
    EXECUTE format('GRANT SELECT (idempotency_key) ON %I.scheduled_tasks TO %I', schema_name, producer_role);
  END IF;

  -- A producer may give its task the trace context of its own request (migration 0013).
  IF EXISTS (SELECT 1 FROM pg_attribute
              WHERE attrelid = format('%I.scheduled_tasks', schema_name)::regclass AND attname = 'traceparent' AND NOT attisdropped) THEN
    EXECUTE format('GRANT INSERT (traceparent), SELECT (traceparent) ON %I.scheduled_tasks TO %I', schema_name, producer_role);
  END IF;

  -- PostgreSQL 14 and older let every role (PUBLIC) create objects in schema public; 15 no longer
  -- does. Without this the worker role could CREATE TABLE there. This changes the schema for every
  -- role in this database, as PostgreSQL's own "secure schema usage pattern" recommends; on 15+ it
  -- is a no-op.
  EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC', schema_name);
END
$roles$;
