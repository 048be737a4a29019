import * as t from 'io-ts';
import { sql, type DatabasePool } from 'slonik';
import { rowSchema } from './row-schema.js';
import type { HistoryMaintenanceStore, MaintenanceReport, RetentionPolicy } from '../../application/history-maintenance.js';
import { nullable } from './rows.js';

export interface HistoryMaintenanceOptions {
  /** Task ids per partition of task_events (TASK_HISTORY_PARTITION_SIZE). */
  readonly partitionSize: number;
  /** Partitions kept ready beyond the highest task id handed out. */
  readonly partitionsAhead?: number;
  /** Tasks removed per retention step: each step is one short transaction. */
  readonly batchSize?: number;
  /** Steps per pass at most, so one pass cannot run for ever behind a large backlog; the next pass goes on. */
  readonly maxSteps?: number;
}

const Step = t.type({ tasks_removed: t.number, events_removed: t.number, partition_detached: nullable(t.string), more: t.boolean });
const Created = t.type({ created: t.number });
const Dropped = t.type({ name: t.string });

const interval = (ms: number | null): string | null => (ms === null ? null : `${ms} milliseconds`);

/**
 * The maintenance pass through the SECURITY DEFINER functions of sql/migrations/0011 and 0012 (so it
 * runs as the least-privilege role): partitions ahead, then retention step by step, then dropping
 * what was detached. Each call is its own statement and transaction, so no lock outlives a step.
 */
export const createHistoryMaintenanceStore = (pool: DatabasePool, options: HistoryMaintenanceOptions): HistoryMaintenanceStore => ({
  runPass: async (workerId: string, policy: RetentionPolicy, stopping = () => false): Promise<MaintenanceReport> => {
    const { created } = await pool.one(sql.type(rowSchema('at_worker_history_prepare', Created))`
      SELECT at_worker_history_prepare(${options.partitionSize}::bigint, ${options.partitionsAhead ?? 2}::integer) AS created`);
    let tasksRemoved = 0;
    let eventsRemoved = 0;
    for (let step = 0; step < (options.maxSteps ?? 1000); step += 1) {
      const result = await pool.one(sql.type(rowSchema('at_worker_history_retire', Step))`
          SELECT tasks_removed::float8 AS tasks_removed, events_removed::float8 AS events_removed, partition_detached, more
            FROM at_worker_history_retire(${workerId}, ${interval(policy.finishedMs)}::interval,
                                          ${interval(policy.failedMs)}::interval, ${options.batchSize ?? 5000}::integer)`);
      tasksRemoved += result.tasks_removed;
      eventsRemoved += result.events_removed;
      if (!result.more || stopping()) break;
    }
    const dropped = await pool.any(sql.type(rowSchema('at_worker_history_drop_detached', Dropped))`
      SELECT name FROM at_worker_history_drop_detached() AS name`);
    return { partitionsCreated: created, tasksRemoved, eventsRemoved, partitionsDropped: dropped.map((row) => row.name) };
  },
});
