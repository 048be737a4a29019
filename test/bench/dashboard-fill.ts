import { withClient } from './harness.js';

/**
 * The dashboard against a large history: 1,000,000 tasks over 30 days (2 % failed with a handful
 * of distinct errors, 2 % pending in the future, the rest completed; the newest 20,000 in the last
 * hour) and their 2,960,000 events as the worker writes them (scheduled; claimed and completed or
 * failed), in time order. The insert trigger is off while filling only so that each 'scheduled'
 * event carries its task's creation time rather than the filler's; then VACUUM ANALYZE, as
 * autovacuum would have done to a table in use for a while. The filler workers' tally of the last
 * hour goes to at_worker_activity alongside.
 */
export const fillDashboardTables = async (url: string): Promise<void> =>
  withClient(url, async (client) => {
    await client.query('SET synchronous_commit = off');
    await client.query('ALTER TABLE scheduled_tasks DISABLE TRIGGER scheduled_tasks_scheduled_event');
    await client.query(`
      INSERT INTO scheduled_tasks (task_type, payload, status, attempts, execute_at, created_at, updated_at, completed_at,
                                   error_message, locked_by, locked_at, event_seq)
      SELECT (ARRAY['http_callback', 'email', 'rabbitmq', 'report', 'sync'])[1 + g % 5],
             jsonb_build_object('url', 'http://127.0.0.1:9/hook', 'data', jsonb_build_object('n', g),
                                'headers', jsonb_build_object('Authorization', 'Bearer filler')),
             s.status, CASE WHEN s.status = 'pending' THEN 0 ELSE 1 END,
             CASE WHEN s.status = 'pending' THEN now() + interval '1 day' + g * interval '1 second' ELSE at.t END,
             at.t, at.t + interval '5 ms', CASE WHEN s.status = 'completed' THEN at.t + interval '5 ms' END,
             CASE WHEN s.status = 'failed' THEN 'HTTP 50' || (g % 3) || ': upstream error ' || (g % 7) END,
             CASE WHEN s.status <> 'pending' THEN 'filler-' || (g % 4) END,
             CASE WHEN s.status <> 'pending' THEN at.t + interval '1 ms' END,
             CASE WHEN s.status = 'pending' THEN 1 ELSE 3 END
        FROM generate_series(1, 1000000) AS g,
             LATERAL (SELECT CASE WHEN g > 980000 THEN now() - interval '1 hour' + (g - 980000) * interval '180 ms'
                                  ELSE now() - interval '30 days' + g * interval '2.5 seconds' END AS t) AS at,
             LATERAL (SELECT CASE WHEN g % 50 = 0 THEN 'pending' WHEN g % 50 = 1 THEN 'failed' ELSE 'completed' END AS status) AS s`);
    await client.query('ALTER TABLE scheduled_tasks ENABLE TRIGGER scheduled_tasks_scheduled_event');
    await client.query(`
      INSERT INTO task_events (task_id, seq, event_type, worker_id, occurred_at, data)
      SELECT t.id, e.seq, e.event_type, CASE WHEN e.seq > 1 THEN t.locked_by END, t.created_at + e.after, e.data
        FROM scheduled_tasks AS t
       CROSS JOIN LATERAL (VALUES
               (1, 'scheduled', interval '0', jsonb_build_object('task_type', t.task_type, 'execute_at', t.created_at, 'max_attempts', 3)),
               (2, 'claimed', interval '1 ms', jsonb_build_object('attempt', 1, 'claim_token', gen_random_uuid())),
               (3, CASE WHEN t.status = 'failed' THEN 'failed' ELSE 'completed' END, interval '5 ms',
                CASE WHEN t.status = 'failed'
                     THEN jsonb_build_object('attempt', 1, 'reason', 'permanent', 'error', t.error_message, 'details', '{}'::jsonb)
                     ELSE jsonb_build_object('attempt', 1, 'details', jsonb_build_object('http_status', 200, 'duration_ms', 4)) END))
             AS e(seq, event_type, after, data)
       WHERE e.seq = 1 OR t.status <> 'pending'
       ORDER BY t.created_at + e.after`);
    // The filler workers' tally of that hour, as they would have written it (migration 0016).
    await client.query(`
      INSERT INTO at_worker_activity (bucket, worker_id, claimed, completed, failed, late_count, late_sum_ms, late_max_ms, last_seen_at)
      SELECT b, 'filler-' || w, 14, 14, 0, 14, 14, 1, b + interval '9 seconds'
        FROM generate_series(date_bin('10 seconds', now() - interval '1 hour', 'epoch'), now(), interval '10 seconds') AS b,
             generate_series(0, 3) AS w`);
    await client.query('VACUUM ANALYZE scheduled_tasks');
    await client.query('VACUUM ANALYZE task_events');
  });
