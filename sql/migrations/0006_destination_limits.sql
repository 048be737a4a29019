-- Per-destination limits shared by all workers: at most N tasks in flight and at most R starts per
-- second (DESTINATION_LIMITS). A worker asks for the starts of a whole batch of tasks in one call of
-- at_worker_take_destination_starts, and gives the in-flight places back in one call of
-- at_worker_release_destination_starts per group of attempt ends; a destination with no limit costs
-- nothing here.

-- The rate: the earliest time the next start may happen (GCRA, no burst), per limit key. A key is
-- the destination, or the host-suffix rule whose hosts share the limit.
CREATE TABLE destination_limit_state (
  limit_key  text        PRIMARY KEY,
  next_start timestamptz NOT NULL DEFAULT '-infinity'
);

-- A start promised to a task that had to wait for it: the task is postponed until start_at and, when
-- it comes back, starts without asking again (otherwise every waiting task would ask again each time
-- a slot frees, and each ask is a write).
CREATE TABLE destination_start_reservations (
  task_id   bigint      PRIMARY KEY,
  limit_key text        NOT NULL,
  start_at  timestamptz NOT NULL
);

-- Who holds an in-flight place: one row per running task with an in-flight limit. A place whose
-- claim has ended (its worker died) is taken back when the limit is reached, by checking the claim.
CREATE TABLE destination_in_flight (
  limit_key   text        NOT NULL,
  task_id     bigint      NOT NULL,
  claim_token uuid        NOT NULL,
  since       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (limit_key, task_id)
);

-- requests: [{"idx", "limit_key", "task_id", "claim_token", "rate" (starts/s or null), "max_in_flight" (or null)}]
-- Returns one row per request: granted (start at start_at, which may be a moment ahead: the worker
-- waits that long), or not, with when to come back and why ('rate', with a start reserved at
-- start_at, or 'in_flight').
CREATE FUNCTION at_worker_take_destination_starts(requests jsonb)
RETURNS TABLE (idx integer, granted boolean, start_at timestamptz, limited_by text)
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  slot timestamptz;
  reserved timestamptz;
  held integer;
  -- A start this close ahead is granted and waited for in the worker (no write, no second claim);
  -- a reserved one is given to its task when it comes back up to this early too.
  near constant interval := interval '250 milliseconds';
  -- A reservation is honoured up to half a start interval late; a later one asks again, so no
  -- one-second window ever holds more than rate + 1 starts.
  late_by interval;
BEGIN
  FOR r IN
    SELECT *
      FROM jsonb_to_recordset(requests)
        AS q(idx integer, limit_key text, task_id bigint, claim_token uuid, rate double precision, max_in_flight integer)
     ORDER BY q.limit_key, q.idx
  LOOP
    -- One key at a time, in key order, so two workers' batches cannot deadlock on each other's keys.
    INSERT INTO destination_limit_state AS s (limit_key) VALUES (r.limit_key) ON CONFLICT (limit_key) DO NOTHING;
    SELECT s.next_start INTO slot FROM destination_limit_state AS s WHERE s.limit_key = r.limit_key FOR UPDATE;
    idx := r.idx; granted := false; start_at := NULL; limited_by := NULL;

    IF r.max_in_flight IS NOT NULL THEN
      SELECT count(*) INTO held FROM destination_in_flight AS f WHERE f.limit_key = r.limit_key;
      IF held >= r.max_in_flight THEN
        DELETE FROM destination_in_flight AS f
         WHERE f.limit_key = r.limit_key
           AND NOT EXISTS (SELECT 1 FROM scheduled_tasks AS t
                            WHERE t.id = f.task_id AND t.status = 'processing' AND t.claim_token = f.claim_token);
        SELECT count(*) INTO held FROM destination_in_flight AS f WHERE f.limit_key = r.limit_key;
      END IF;
      IF held >= r.max_in_flight THEN
        limited_by := 'in_flight';
        RETURN NEXT;
        CONTINUE;
      END IF;
    END IF;

    IF r.rate IS NOT NULL THEN
      late_by := make_interval(secs => 0.5 / r.rate);
      SELECT v.start_at INTO reserved FROM destination_start_reservations AS v WHERE v.task_id = r.task_id;
      IF reserved IS NOT NULL AND reserved > clock_timestamp() + near THEN
        -- Back before its reserved start: it keeps it, and comes back then.
        start_at := reserved; limited_by := 'rate';
        RETURN NEXT;
        CONTINUE;
      END IF;
      DELETE FROM destination_start_reservations AS v WHERE v.task_id = r.task_id;
      IF reserved IS NOT NULL AND reserved >= clock_timestamp() - late_by THEN
        start_at := greatest(reserved, clock_timestamp());
      ELSE
        start_at := greatest(slot, clock_timestamp());
        UPDATE destination_limit_state AS s
           SET next_start = start_at + make_interval(secs => 1.0 / r.rate)
         WHERE s.limit_key = r.limit_key;
        IF start_at > clock_timestamp() + near THEN
          INSERT INTO destination_start_reservations (task_id, limit_key, start_at) VALUES (r.task_id, r.limit_key, start_at)
          ON CONFLICT (task_id) DO UPDATE SET limit_key = excluded.limit_key, start_at = excluded.start_at;
          limited_by := 'rate';
          RETURN NEXT;
          CONTINUE;
        END IF;
      END IF;
    END IF;

    IF r.max_in_flight IS NOT NULL THEN
      INSERT INTO destination_in_flight (limit_key, task_id, claim_token) VALUES (r.limit_key, r.task_id, r.claim_token)
      ON CONFLICT (limit_key, task_id) DO UPDATE SET claim_token = excluded.claim_token, since = now();
    END IF;
    granted := true;
    RETURN NEXT;
  END LOOP;
  -- Reservations whose task never came back (cancelled, or run after its reservation went stale),
  -- now and then rather than on every call.
  IF random() < 0.01 THEN
    DELETE FROM destination_start_reservations AS v WHERE v.start_at < clock_timestamp() - interval '1 hour';
  END IF;
END
$$;

-- A reservation whose task never came back (cancelled, or run elsewhere after its reservation went
-- stale) is only a row; the worker drops those older than an hour now and then.
CREATE INDEX destination_start_reservations_start_at_idx ON destination_start_reservations (start_at);
