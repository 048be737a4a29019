-- Migration 0016: each worker's activity by 10-second bucket, for the dashboard's last hour.
--
-- The overview charts claims, completions, failures and lateness (due time to claim) over the last
-- hour and lists the workers seen. It aggregated them from task_events: while workers ran a few
-- thousand tasks a second, each read aggregated tens of thousands of events, sorting them by task
-- to find each claim's due time, and an operator watching took 7-16 % of the CPU a concurrent
-- burst used (npm run bench -- --only dashboard --dashboard-burst=100000). A statement trigger on
-- task_events summing them as they are written cost the burst about 2 % whether anyone watched or
-- not. Here each worker counts what it does in memory, as it does for /metrics, and adds its counts
-- to this table every few seconds: a statement per worker every few seconds, and a read of a few
-- rows per bucket whatever the rate. The history remains the record of every task; these rows are
-- the workers' own tally of it, and a worker that crashes loses its last few seconds of them.
--
-- Rows older than two hours are deleted by the workers now and then.
CREATE TABLE at_worker_activity (
  bucket       timestamptz      NOT NULL,
  worker_id    text             NOT NULL,
  claimed      integer          NOT NULL,
  completed    integer          NOT NULL,
  failed       integer          NOT NULL,
  -- Claims whose lateness is known (a task due since '-infinity' has none), its sum and its maximum.
  late_count   integer          NOT NULL,
  late_sum_ms  double precision NOT NULL,
  late_max_ms  double precision,
  last_seen_at timestamptz      NOT NULL,
  PRIMARY KEY (bucket, worker_id)
);
