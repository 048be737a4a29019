-- Migration 0008: indexes for the operator dashboard (`at-worker dashboard`, docs/dashboard.md).
--
-- The task list pages newest first by id (the primary key), so an unfiltered page or a filter most
-- rows match reads about one page of rows. A filter few rows match would read the whole key instead;
-- these keep those cases to the rows that match. Measured with 1,000,000 tasks and 2,960,000 events
-- (`npm run bench -- --only dashboard`; figures in docs/dashboard.md).
--
-- Cost to the queue: the two B-tree indexes are partial over rows that are rarely written (a task
-- enters them when it fails, is cancelled or retried with an error, and a completed task never), so
-- claims and completions do not touch them. BRIN indexes cost next to nothing per write: they keep
-- one summary per 128 pages, and the newest pages stay unsummarised until VACUUM.
--
-- CREATE INDEX (not CONCURRENTLY: a migration runs in a transaction) blocks writes to the table while
-- it builds: about 1 s per million tasks here. On a much larger table, create them by hand with
-- CREATE INDEX CONCURRENTLY under the same names first; IF NOT EXISTS then skips them.

-- "Failed" and "cancelled" in the task list, and failures grouped on the overview: (status, id) so a
-- status filter is an index range, newest first.
CREATE INDEX IF NOT EXISTS scheduled_tasks_ended_badly_idx
  ON scheduled_tasks (status, id) WHERE status IN ('failed', 'cancelled');

-- "Error contains ..." in the task list: only rows that have an error (failed tasks and tasks waiting
-- for a retry), newest first; the text itself is matched on those rows.
CREATE INDEX IF NOT EXISTS scheduled_tasks_error_idx
  ON scheduled_tasks (id) WHERE error_message IS NOT NULL;

-- A time range in the task list: rows are inserted in created_at order, so a block range summary
-- finds a day's tasks among millions without a B-tree on every row.
CREATE INDEX IF NOT EXISTS scheduled_tasks_created_brin
  ON scheduled_tasks USING brin (created_at);

-- The overview's last hour (throughput, lateness, workers seen): the history is append-only and
-- written in time order, which is exactly what BRIN summarises best.
CREATE INDEX IF NOT EXISTS task_events_occurred_brin
  ON task_events USING brin (occurred_at);
