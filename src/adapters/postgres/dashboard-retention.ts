import * as t from 'io-ts';
import { sql, type DatabasePool } from 'slonik';
import { rowSchema, statement } from './row-schema.js';
import type { RetentionStatus } from '../../application/dashboard/ports.js';
import { storageStats } from './storage-stats.js';
import { DateFromRow } from './rows.js';

const PassRow = t.type({ ran_at: DateFromRow, worker_id: t.string, tasks_removed: t.number, events_removed: t.number });

/** Retention's record as `stats` reads it, and its latest passes, in one read-only snapshot. */
export const readRetention = (pool: DatabasePool, passes: number): Promise<RetentionStatus> =>
  pool.transaction(async (tx) => {
    await tx.query(statement`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`);
    const storage = await storageStats(tx);
    const result = await tx.query(sql.type(rowSchema('retention passes', PassRow))`
      SELECT ran_at, worker_id, tasks_removed::float8 AS tasks_removed, events_removed::float8 AS events_removed
        FROM at_worker_retention_passes
       ORDER BY id DESC
       LIMIT ${passes}`);
    return {
      storage,
      passes: result.rows.map((row) => ({
        at: row.ran_at,
        workerId: row.worker_id,
        tasksRemoved: row.tasks_removed,
        eventsRemoved: row.events_removed,
      })),
    };
  });
