-- Protecting receivers: circuit breaking per destination, then per-destination limits
-- (docs/protecting-receivers.md).

-- Circuit breaking per destination (an HTTP origin, an AMQP exchange, the SMTP relay), shared by all
-- workers. One row per destination that has ever failed; the state machine lives in
-- src/domain/circuit.ts and every change goes through one transaction that locks the row
-- (src/adapters/postgres/destination-circuits.ts), so a transition is decided once across workers.
CREATE TABLE destination_circuits (
  destination text        PRIMARY KEY,
  status      text        NOT NULL DEFAULT 'closed'
                          CONSTRAINT destination_circuits_status_check CHECK (status IN ('closed', 'open', 'half_open')),
  -- Consecutive retryable failures while closed.
  failures    integer     NOT NULL DEFAULT 0,
  -- While open: when a probe may go.
  open_until  timestamptz,
  -- The cool-off the circuit last opened with; a failed probe doubles it.
  cool_off_ms integer     NOT NULL DEFAULT 0,
  -- While half-open: when the probe went (a probe silent too long is taken over).
  probe_since timestamptz,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT destination_circuits_state_check CHECK (
    (status = 'open') = (open_until IS NOT NULL) AND (status = 'half_open') = (probe_since IS NOT NULL)
  )
);

-- Every transition of every circuit: opened (with its cause and until when), probing, closed (by a
-- probe, or by hand). Append-only by convention; `at-worker circuits` reads it.
CREATE TABLE destination_circuit_events (
  id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  destination text        NOT NULL,
  transition  text        NOT NULL
                          CONSTRAINT destination_circuit_events_transition_check CHECK (transition IN ('opened', 'probing', 'closed')),
  cause       text        NOT NULL,
  open_until  timestamptz,
  worker_id   text,
  occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX destination_circuit_events_destination_idx ON destination_circuit_events (destination, id);

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
--
-- The requests of one key are decided together, in idx order, with a handful of statements per key
-- whatever their number (lock the key, count its places, read its reservations, then write the new
-- places, reservations and next start in one statement each): a claimed batch of 100 tasks to one
-- destination costs what one task would, plus one row per in-flight place.
CREATE FUNCTION at_worker_take_destination_starts(requests jsonb)
RETURNS TABLE (idx integer, granted boolean, start_at timestamptz, limited_by text)
LANGUAGE plpgsql AS $$
DECLARE
  k record;
  i integer;
  slot timestamptz;
  moved boolean;
  held integer;
  room integer;
  reserved timestamptz;
  found_at integer;
  now_at timestamptz;
  step interval;
  late_by interval;
  reserved_ids bigint[];
  reserved_at timestamptz[];
  kept_ids bigint[];
  new_ids bigint[];
  new_at timestamptz[];
  placed_ids bigint[];
  placed_tokens uuid[];
  -- A start this close ahead is granted and waited for in the worker (no write, no second claim);
  -- a reserved one is given to its task when it comes back up to this early too.
  near constant interval := interval '250 milliseconds';
BEGIN
  FOR k IN
    SELECT q.limit_key, min(q.rate) AS rate, min(q.max_in_flight) AS max_in_flight,
           array_agg(q.idx ORDER BY q.idx) AS idxs, array_agg(q.task_id ORDER BY q.idx) AS task_ids,
           array_agg(q.claim_token ORDER BY q.idx) AS tokens
      FROM jsonb_to_recordset(requests)
        AS q(idx integer, limit_key text, task_id bigint, claim_token uuid, rate double precision, max_in_flight integer)
     GROUP BY q.limit_key
     -- One key at a time, in key order, so two workers' batches cannot deadlock on each other's keys.
     ORDER BY q.limit_key
  LOOP
    SELECT s.next_start INTO slot FROM destination_limit_state AS s WHERE s.limit_key = k.limit_key FOR UPDATE;
    IF NOT FOUND THEN
      INSERT INTO destination_limit_state AS s (limit_key) VALUES (k.limit_key) ON CONFLICT (limit_key) DO NOTHING;
      SELECT s.next_start INTO slot FROM destination_limit_state AS s WHERE s.limit_key = k.limit_key FOR UPDATE;
    END IF;

    room := NULL;
    IF k.max_in_flight IS NOT NULL THEN
      SELECT count(*) INTO held FROM destination_in_flight AS f WHERE f.limit_key = k.limit_key;
      IF held + cardinality(k.idxs) > k.max_in_flight THEN
        -- Places whose claim has ended without giving them back (the worker died) are taken back.
        DELETE FROM destination_in_flight AS f
         WHERE f.limit_key = k.limit_key
           AND NOT EXISTS (SELECT 1 FROM scheduled_tasks AS t
                            WHERE t.id = f.task_id AND t.status = 'processing' AND t.claim_token = f.claim_token);
        SELECT count(*) INTO held FROM destination_in_flight AS f WHERE f.limit_key = k.limit_key;
      END IF;
      room := k.max_in_flight - held;
    END IF;

    reserved_ids := '{}'; reserved_at := '{}'; kept_ids := '{}'; new_ids := '{}'; new_at := '{}';
    placed_ids := '{}'; placed_tokens := '{}'; moved := false;
    IF k.rate IS NOT NULL THEN
      SELECT coalesce(array_agg(v.task_id), '{}'), coalesce(array_agg(v.start_at), '{}') INTO reserved_ids, reserved_at
        FROM destination_start_reservations AS v WHERE v.task_id = ANY (k.task_ids);
      -- Starts 2 % further apart than 1/rate: any one-second window then holds at most `rate` of them,
      -- which leaves room for the jitter between a start here and its arrival at the receiver.
      step := make_interval(secs => 1.02 / k.rate);
      -- A reservation is honoured up to half a start interval late; a later one asks again, so no
      -- one-second window ever holds more than rate + 1 starts.
      late_by := make_interval(secs => 0.5 / k.rate);
    END IF;
    now_at := clock_timestamp();

    FOR i IN 1 .. cardinality(k.idxs) LOOP
      idx := k.idxs[i]; granted := false; start_at := NULL; limited_by := NULL;
      found_at := array_position(reserved_ids, k.task_ids[i]);
      reserved := CASE WHEN found_at IS NULL THEN NULL ELSE reserved_at[found_at] END;
      IF room IS NOT NULL AND room <= 0 THEN
        IF reserved IS NOT NULL THEN kept_ids := kept_ids || k.task_ids[i]; END IF;
        limited_by := 'in_flight';
        RETURN NEXT;
        CONTINUE;
      END IF;
      IF k.rate IS NOT NULL THEN
        IF reserved IS NOT NULL AND reserved > now_at + near THEN
          -- Back before its reserved start: it keeps it, and comes back then.
          kept_ids := kept_ids || k.task_ids[i];
          start_at := reserved; limited_by := 'rate';
          RETURN NEXT;
          CONTINUE;
        ELSIF reserved IS NOT NULL AND reserved >= now_at - late_by THEN
          start_at := greatest(reserved, now_at);
        ELSE
          start_at := greatest(slot, now_at);
          slot := start_at + step;
          moved := true;
          IF start_at > now_at + near THEN
            new_ids := new_ids || k.task_ids[i]; new_at := new_at || start_at;
            limited_by := 'rate';
            RETURN NEXT;
            CONTINUE;
          END IF;
        END IF;
      END IF;
      IF room IS NOT NULL THEN
        room := room - 1;
        placed_ids := placed_ids || k.task_ids[i]; placed_tokens := placed_tokens || k.tokens[i];
      END IF;
      granted := true;
      RETURN NEXT;
    END LOOP;

    IF moved THEN
      UPDATE destination_limit_state AS s SET next_start = slot WHERE s.limit_key = k.limit_key;
    END IF;
    IF cardinality(reserved_ids) > 0 THEN
      DELETE FROM destination_start_reservations AS v WHERE v.task_id = ANY (reserved_ids) AND NOT v.task_id = ANY (kept_ids);
    END IF;
    IF cardinality(new_ids) > 0 THEN
      INSERT INTO destination_start_reservations (task_id, limit_key, start_at)
      SELECT n.task_id, k.limit_key, n.start_at FROM unnest(new_ids, new_at) AS n(task_id, start_at)
      ON CONFLICT (task_id) DO UPDATE SET limit_key = excluded.limit_key, start_at = excluded.start_at;
    END IF;
    IF cardinality(placed_ids) > 0 THEN
      INSERT INTO destination_in_flight (limit_key, task_id, claim_token)
      SELECT k.limit_key, p.task_id, p.claim_token FROM unnest(placed_ids, placed_tokens) AS p(task_id, claim_token)
      ON CONFLICT (limit_key, task_id) DO UPDATE SET claim_token = excluded.claim_token, since = now();
    END IF;
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
