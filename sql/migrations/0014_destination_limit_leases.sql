-- Migration 0014: per-destination limits taken by the lease instead of by the task.
--
-- Migration 0010 wrote one destination_in_flight row per running task and deleted it at the task's
-- end, and asked the database for every start: with a limit that never binds, the 10,000-task burst
-- ran at 0.55 x the one without (npm run bench -- --only protect). Here a worker (`holder`, one per worker process) holds a count of
-- in-flight places per limit key, takes a few more than it needs at once when the limit is far from
-- reached, hands them out to its tasks in memory, reuses a freed place for its next task to the same
-- destination, and gives back those it has not used for a moment. Likewise, when a rate is far from
-- binding, it takes the starts of the next 5 ms ahead and uses each up to 10 ms after its time.
-- docs/protecting-receivers.md says why this and not the claim statement.
--
-- A holder renews its leases while it holds places; one that stops (its worker died) has its places
-- taken back once `expires_at` has passed and the limit is reached.
CREATE TABLE destination_in_flight_leases (
  limit_key  text        NOT NULL,
  holder     uuid        NOT NULL,
  places     integer     NOT NULL CONSTRAINT destination_in_flight_leases_places_check CHECK (places >= 0),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (limit_key, holder)
);
CREATE INDEX destination_in_flight_leases_holder_idx ON destination_in_flight_leases (holder);

-- requests: [{"idx", "limit_key", "task_id", "rate" (starts/s or null), "max_in_flight" (or null),
--             "place" (whether this task needs a place from here), "start" (whether it needs a start
--             from here), "spare_places", "spare_starts" (how many more the holder would like)}]
-- A task whose worker already holds a spare place (or start) asks only for what it lacks.
--
-- Returns one row per request: granted (start at start_at, which may be a moment ahead: the worker
-- waits that long), or not, with when to come back and why ('rate', with a start reserved at
-- start_at, or 'in_flight'); then one row per limit key with idx null: the spare places granted to
-- the holder and the spare starts (times at most 5 ms ahead, none when the rate binds).
--
-- The rate, its reservations and their rules are migration 0010's at_worker_take_destination_starts,
-- which stays for workers of earlier versions; their destination_in_flight rows are counted here too,
-- so a fleet half upgraded still holds its in-flight limits (the earlier function does not count
-- leases: a fleet should not stay mixed).
CREATE FUNCTION at_worker_take_destination_leases(p_holder uuid, p_ttl interval, requests jsonb)
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
      step := make_interval(secs => 1.02 / k.rate);
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

-- gives: [{"limit_key", "places"}]: places the holder no longer needs. Rows are locked in key order,
-- as the function above takes them, so that a give-back and an ask of the same holder cannot deadlock.
CREATE FUNCTION at_worker_give_back_destination_places(p_holder uuid, gives jsonb)
RETURNS void
LANGUAGE sql AS $$
  UPDATE destination_in_flight_leases AS l
     SET places = greatest(0, l.places - g.places)
    FROM (SELECT x.limit_key, sum(x.places)::integer AS places
            FROM jsonb_to_recordset(gives) AS x(limit_key text, places integer) GROUP BY x.limit_key) AS g,
         (SELECT o.limit_key FROM destination_in_flight_leases AS o
           WHERE o.holder = p_holder ORDER BY o.limit_key FOR UPDATE) AS locked
   WHERE l.limit_key = g.limit_key AND l.limit_key = locked.limit_key AND l.holder = p_holder;
$$;

-- Keeps a holder's leases that still hold places from being taken back (rows locked in key order too).
CREATE FUNCTION at_worker_renew_destination_leases(p_holder uuid, p_ttl interval)
RETURNS void
LANGUAGE sql AS $$
  UPDATE destination_in_flight_leases AS l SET expires_at = clock_timestamp() + p_ttl
    FROM (SELECT o.limit_key FROM destination_in_flight_leases AS o
           WHERE o.holder = p_holder AND o.places > 0 ORDER BY o.limit_key FOR UPDATE) AS locked
   WHERE l.holder = p_holder AND l.limit_key = locked.limit_key;
$$;
