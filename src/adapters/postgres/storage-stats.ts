import * as t from 'io-ts';
import { sql, type DatabaseTransactionConnection } from 'slonik';
import { rowSchema } from './row-schema.js';
import type { StorageStats } from '../../application/operator/ports.js';
import { DateFromRow, Int8String, nullable } from './rows.js';

const StorageRow = t.type({
  oldest_task_id: nullable(Int8String),
  history_since: nullable(DateFromRow),
  partitions: t.number,
  tasks_removed: t.number,
  events_removed: t.number,
  last_pass_at: nullable(DateFromRow),
  last_pass_worker: nullable(t.string),
});

/**
 * What retention has kept and removed, read in the caller's snapshot. The oldest history kept is the
 * first event of the lowest task id still present (two primary-key look-ups, whatever the table
 * sizes), not min(occurred_at), which would read every partition.
 */
export const storageStats = async (tx: DatabaseTransactionConnection): Promise<StorageStats> => {
  const [row] = (
    await tx.query(sql.type(rowSchema('storage stats', StorageRow))`
    WITH oldest AS (SELECT min(id) AS id FROM scheduled_tasks),
         removed AS (SELECT coalesce(sum(tasks_removed), 0)::float8 AS tasks, coalesce(sum(events_removed), 0)::float8 AS events
                       FROM at_worker_retention_passes),
         last_pass AS (SELECT ran_at, worker_id FROM at_worker_retention_passes ORDER BY id DESC LIMIT 1)
    SELECT oldest.id AS oldest_task_id, e.occurred_at AS history_since,
           (SELECT count(*)::float8 FROM task_events_partitions WHERE detached_at IS NULL) AS partitions,
           removed.tasks AS tasks_removed, removed.events AS events_removed,
           last_pass.ran_at AS last_pass_at, last_pass.worker_id AS last_pass_worker
      FROM oldest CROSS JOIN removed
      LEFT JOIN last_pass ON true
      LEFT JOIN task_events AS e ON e.task_id = oldest.id AND e.seq = 1`)
  ).rows;
  return {
    oldestTask: row?.oldest_task_id == null ? null : { id: row.oldest_task_id, historySince: row.history_since },
    partitions: row?.partitions ?? 0,
    removed: { tasks: row?.tasks_removed ?? 0, events: row?.events_removed ?? 0 },
    lastPass: row?.last_pass_at == null ? null : { at: row.last_pass_at, workerId: row.last_pass_worker ?? '' },
  };
};
