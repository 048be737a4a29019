-- Migration 0015: spare starts of a rate taken alone, in one small step, without waiting for the
-- WAL; and the spacing of starts never below 1.02/rate.
--
-- A worker whose rate limit is far from binding uses each spare start only a few ms after its
-- time (docs/protecting-receivers.md), so while it starts tasks at a few thousand a second it needs
-- new ones every 10 to 20 ms. at_worker_take_spare_destination_starts only moves the rate's cursor: it hands out
-- the starts due within the next 5 ms (at most p_max), spaced as the starts of
-- at_worker_take_destination_leases are, and returns the first one, how many, their spacing, the
-- cursor after them and the database's clock, from which the worker lists them. It needs none of
-- the per-request bookkeeping of the larger function, and its commit does not wait for the WAL flush
-- (synchronous_commit off for its transaction only): a crash of the server may lose the last
-- fraction of a second of such cursor moves, which lets that fraction of a second's starts be handed
-- out again, once, right after a database crash. It writes nothing else.
--
-- The spacing: make_interval rounds to the nearest microsecond, so above about 20,000 starts a
-- second the rounding ate into the 2 % the spacing leaves for a start used late, and a one-second
-- window could hold more than rate + 1 starts. Both functions now round it up. at_worker_take_destination_leases is migration
-- 0014's, whole, with that line changed.
--
-- No row for the key (no task has asked for it yet): no row returned.
CREATE FUNCTION at_worker_take_spare_destination_starts(p_limit_key text, p_rate double precision, p_max integer)
RETURNS TABLE (first_at timestamptz, granted integer, step_us double precision, now_at timestamptz, next_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  slot timestamptz;
  -- As at_worker_take_destination_leases: starts 2 % further apart than 1/rate (in whole
  -- microseconds, rounded up), and spare ones only while they are due within 5 ms (none when the
  -- rate binds).
  step constant interval := make_interval(secs => ceil(1020000 / p_rate) / 1000000.0);
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
    WHEN first_at > now_at + ahead THEN 0
    ELSE least(p_max, floor(extract(epoch FROM now_at + ahead - first_at) * 1000000 / step_us)::integer + 1)
  END;
  -- When the next start is due: another call before it is within 5 ms gets none.
  next_at := first_at + granted * step;
  IF granted > 0 THEN
    UPDATE destination_limit_state AS s SET next_start = next_at WHERE s.limit_key = p_limit_key;
  END IF;
  RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION at_worker_take_destination_leases(p_holder uuid, p_ttl interval, requests jsonb)
RETURNS TABLE (idx integer, limit_key text, granted boolean, start_at timestamptz, limited_by text,
               spare_places integer, spare_starts timestamptz[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
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
  placed integer;
  extra_places integer;
  extra_starts timestamptz[];
  next_at timestamptz;
  near constant interval := interval '250 milliseconds';
  -- Spare starts are only those due within this much: none when the rate binds.
  ahead constant interval := interval '5 milliseconds';
BEGIN
  FOR k IN
    SELECT q.limit_key, min(q.rate) AS rate, min(q.max_in_flight) AS max_in_flight,
           array_agg(q.idx ORDER BY q.idx) AS idxs, array_agg(q.task_id ORDER BY q.idx) AS task_ids,
           array_agg(coalesce(q.place, false) ORDER BY q.idx) AS places,
           array_agg(coalesce(q.start, false) ORDER BY q.idx) AS starts,
           coalesce(max(q.spare_places), 0) AS spare_places, coalesce(max(q.spare_starts), 0) AS spare_starts
      FROM jsonb_to_recordset(requests)
        AS q(idx integer, limit_key text, task_id bigint, rate double precision, max_in_flight integer,
             place boolean, start boolean, spare_places integer, spare_starts integer)
     GROUP BY q.limit_key
     -- One key at a time, in key order, so two workers' batches cannot deadlock on each other's keys.
     ORDER BY q.limit_key
  LOOP
    SELECT s.next_start INTO slot FROM destination_limit_state AS s WHERE s.limit_key = k.limit_key FOR UPDATE;
    IF NOT FOUND THEN
      INSERT INTO destination_limit_state AS s (limit_key) VALUES (k.limit_key) ON CONFLICT (limit_key) DO NOTHING;
      SELECT s.next_start INTO slot FROM destination_limit_state AS s WHERE s.limit_key = k.limit_key FOR UPDATE;
    END IF;
    now_at := clock_timestamp();

    room := NULL;
    IF k.max_in_flight IS NOT NULL THEN
      SELECT coalesce(sum(l.places), 0) INTO held FROM destination_in_flight_leases AS l WHERE l.limit_key = k.limit_key;
      held := held + (SELECT count(*) FROM destination_in_flight AS f WHERE f.limit_key = k.limit_key);
      IF held + k.spare_places + cardinality(array_positions(k.places, true)) > k.max_in_flight THEN
        -- Leases whose holder stopped renewing them (its worker died) are taken back, and so are the
        -- places of earlier versions whose claim has ended.
        DELETE FROM destination_in_flight_leases AS l
         WHERE l.limit_key = k.limit_key AND l.expires_at < now_at AND l.holder <> p_holder;
        DELETE FROM destination_in_flight AS f
         WHERE f.limit_key = k.limit_key
           AND NOT EXISTS (SELECT 1 FROM scheduled_tasks AS t
                            WHERE t.id = f.task_id AND t.status = 'processing' AND t.claim_token = f.claim_token);
        SELECT coalesce(sum(l.places), 0) INTO held FROM destination_in_flight_leases AS l WHERE l.limit_key = k.limit_key;
        held := held + (SELECT count(*) FROM destination_in_flight AS f WHERE f.limit_key = k.limit_key);
      END IF;
      room := k.max_in_flight - held;
    END IF;

    reserved_ids := '{}'; reserved_at := '{}'; kept_ids := '{}'; new_ids := '{}'; new_at := '{}';
    placed := 0; moved := false; extra_starts := '{}';
    IF k.rate IS NOT NULL THEN
      SELECT coalesce(array_agg(v.task_id), '{}'), coalesce(array_agg(v.start_at), '{}') INTO reserved_ids, reserved_at
        FROM destination_start_reservations AS v WHERE v.task_id = ANY (k.task_ids);
      -- Starts 2 % further apart than 1/rate: any one-second window then holds at most `rate` of them,
      -- which leaves room for the jitter between a start here and its arrival at the receiver.
      -- In whole microseconds, rounded up (an interval holds no less): never closer than 1.02/rate.
      step := make_interval(secs => ceil(1020000 / k.rate) / 1000000.0);
      -- A reservation is honoured up to half a start interval late; a later one asks again, so no
      -- one-second window ever holds more than rate + 1 starts.
      late_by := make_interval(secs => 0.5 / k.rate);
    END IF;

    FOR i IN 1 .. cardinality(k.idxs) LOOP
      idx := k.idxs[i]; limit_key := k.limit_key; granted := false; start_at := NULL; limited_by := NULL;
      spare_places := NULL; spare_starts := NULL;
      found_at := array_position(reserved_ids, k.task_ids[i]);
      reserved := CASE WHEN found_at IS NULL THEN NULL ELSE reserved_at[found_at] END;
      IF k.places[i] AND room <= 0 THEN
        IF reserved IS NOT NULL THEN kept_ids := kept_ids || k.task_ids[i]; END IF;
        limited_by := 'in_flight';
        RETURN NEXT;
        CONTINUE;
      END IF;
      IF k.starts[i] AND k.rate IS NOT NULL THEN
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
      IF k.places[i] AND room IS NOT NULL THEN
        room := room - 1;
        placed := placed + 1;
      END IF;
      granted := true;
      RETURN NEXT;
    END LOOP;

    -- The spares: places while the limit has room, starts while they are due within `ahead`.
    extra_places := CASE WHEN room IS NULL THEN 0 ELSE greatest(0, least(room, k.spare_places)) END;
    IF k.rate IS NOT NULL THEN
      FOR i IN 1 .. k.spare_starts LOOP
        next_at := greatest(slot, now_at);
        EXIT WHEN next_at > now_at + ahead;
        extra_starts := extra_starts || next_at;
        slot := next_at + step;
        moved := true;
      END LOOP;
    END IF;

    IF moved THEN
      UPDATE destination_limit_state AS s SET next_start = slot WHERE s.limit_key = k.limit_key;
    END IF;
    IF cardinality(reserved_ids) > 0 THEN
      DELETE FROM destination_start_reservations AS v WHERE v.task_id = ANY (reserved_ids) AND NOT v.task_id = ANY (kept_ids);
    END IF;
    IF cardinality(new_ids) > 0 THEN
      INSERT INTO destination_start_reservations AS v (task_id, limit_key, start_at)
      SELECT n.task_id, k.limit_key, n.start_at FROM unnest(new_ids, new_at) AS n(task_id, start_at)
      ON CONFLICT (task_id) DO UPDATE SET limit_key = excluded.limit_key, start_at = excluded.start_at;
    END IF;
    IF placed + extra_places > 0 THEN
      INSERT INTO destination_in_flight_leases AS l (limit_key, holder, places, expires_at)
      VALUES (k.limit_key, p_holder, placed + extra_places, now_at + p_ttl)
      ON CONFLICT (limit_key, holder) DO UPDATE SET places = l.places + excluded.places, expires_at = excluded.expires_at;
    END IF;

    idx := NULL; limit_key := k.limit_key; granted := NULL; start_at := NULL; limited_by := NULL;
    spare_places := extra_places; spare_starts := extra_starts;
    RETURN NEXT;
  END LOOP;
  -- Reservations whose task never came back, and leases of holders long gone, now and then.
  IF random() < 0.01 THEN
    DELETE FROM destination_start_reservations AS v WHERE v.start_at < clock_timestamp() - interval '1 hour';
    DELETE FROM destination_in_flight_leases AS l WHERE l.expires_at < clock_timestamp() - interval '1 hour';
  END IF;
END
$$;
