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
