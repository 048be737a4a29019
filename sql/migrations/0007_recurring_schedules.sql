-- Migration 0007: recurring schedules: a cron expression in a time zone that makes one task per occurrence.
-- docs/recurring.md describes the model; this file is its storage.

-- One row per schedule. `next_at` is the first occurrence no pass has decided yet (made a task of or
-- recorded as skipped), so a restart or deploy loses none; NULL when the expression has no further
-- occurrence. `origin` says who manages the row: 'file' rows belong to SCHEDULES_FILE, which removes
-- those it no longer lists; 'cli' rows are left alone by it.
CREATE TABLE schedules (
  id            bigserial   PRIMARY KEY,
  name          text        NOT NULL CONSTRAINT schedules_name_key UNIQUE
                CONSTRAINT schedules_name_check CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$'),
  cron          text        NOT NULL,
  time_zone     text        NOT NULL DEFAULT 'UTC',
  task_type     text        NOT NULL,
  payload       jsonb       NOT NULL,
  max_attempts  integer     NOT NULL DEFAULT 3 CONSTRAINT schedules_max_attempts_check CHECK (max_attempts > 0),
  misfire       text        NOT NULL DEFAULT 'latest-once'
                CONSTRAINT schedules_misfire_check CHECK (misfire IN ('skip', 'latest-once', 'all')),
  misfire_limit integer     CONSTRAINT schedules_misfire_limit_check
                CHECK ((misfire = 'all') = (misfire_limit IS NOT NULL) AND coalesce(misfire_limit BETWEEN 1 AND 1000, true)),
  overlap       text        NOT NULL DEFAULT 'allow' CONSTRAINT schedules_overlap_check CHECK (overlap IN ('allow', 'skip')),
  paused        boolean     NOT NULL DEFAULT false,
  next_at       timestamptz,
  origin        text        NOT NULL CONSTRAINT schedules_origin_check CHECK (origin IN ('cli', 'file')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The pass's question: active schedules whose next occurrence is near.
CREATE INDEX schedules_next_at_idx ON schedules (next_at) WHERE NOT paused;

-- Append-only history of schedules: created, changed, paused, resumed, removed, run_now, and
-- occurrences_skipped (with its reason). Keyed by name and id both, and without a foreign key, so it
-- outlives a removed schedule.
CREATE TABLE schedule_events (
  id            bigserial   PRIMARY KEY,
  schedule_id   bigint      NOT NULL,
  schedule_name text        NOT NULL,
  event_type    text        NOT NULL,
  -- Who: 'cli', 'file', or the id of the worker whose pass decided.
  actor         text,
  occurred_at   timestamptz NOT NULL DEFAULT now(),
  data          jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX schedule_events_name_idx ON schedule_events (schedule_name, id);

CREATE FUNCTION schedule_events_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'history rows are never changed or removed; insert a new event instead';
END
$$;

CREATE TRIGGER schedule_events_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON schedule_events
  FOR EACH STATEMENT EXECUTE FUNCTION schedule_events_reject_change();

-- Which schedule and occurrence made a task. Nullable and without a default: adding them rewrites
-- nothing. A 'run now' task has its schedule and no occurrence. The name is kept beside the id so
-- the row and its 'scheduled' event name the schedule without reading `schedules` (which a role that
-- only inserts tasks may not read, and which no longer has a removed schedule).
ALTER TABLE scheduled_tasks ADD COLUMN schedule_id bigint, ADD COLUMN schedule_name text, ADD COLUMN occurrence_at timestamptz;

-- Exactly one live task per occurrence, whichever worker's pass gets there and however often: the
-- pass inserts with ON CONFLICT DO NOTHING against this index. A task cancelled by a pause or a
-- change leaves it, so the occurrence can be made again after a resume.
CREATE UNIQUE INDEX scheduled_tasks_occurrence_idx ON scheduled_tasks (schedule_id, occurrence_at)
  WHERE schedule_id IS NOT NULL AND status <> 'cancelled';
-- A schedule's tasks, newest first (`schedules show`, the overlap check).
CREATE INDEX scheduled_tasks_schedule_idx ON scheduled_tasks (schedule_id, id) WHERE schedule_id IS NOT NULL;

-- The 'scheduled' event of a schedule's task also says which schedule and occurrence made it. The
-- body is migration 0006's plus those keys; as 0005 says, a replacement must repeat SECURITY DEFINER
-- and the search_path setting below.
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
         || CASE WHEN n.schedule_id IS NULL THEN '{}'::jsonb
                 ELSE jsonb_strip_nulls(jsonb_build_object(
                        'schedule', n.schedule_name, 'schedule_id', n.schedule_id, 'occurrence_at', n.occurrence_at))
            END
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
