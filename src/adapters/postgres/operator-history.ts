import * as t from 'io-ts';
import { sql, type CommonQueryMethods } from 'slonik';
import { rowSchema } from './row-schema.js';
import type { Queries } from './queries.js';
import type { RecordedEvent, TaskWithHistory } from '../../application/operator/ports.js';
import type { TaskId } from '../../domain/index.js';
import { taskColumns, TaskRow, toRecordedEvent, toTaskRecord } from './operator-rows.js';
import { Int8String } from './rows.js';

// Only the seq is decoded here; the rest of an event row is the event codec's job (toRecordedEvent).
const EventRow = t.type({ seq: t.number, event_type: t.unknown, worker_id: t.unknown, occurred_at: t.unknown, data: t.unknown });

/** A task's history in seq order: one range scan of the (task_id, seq) primary key. */
export const taskHistory = async (db: Queries, id: TaskId): Promise<RecordedEvent[]> => {
  const result = await db.query(sql.type(rowSchema('taskHistory', EventRow))`
    SELECT seq, event_type, worker_id, occurred_at, data
      FROM task_events
     WHERE task_id = ${id}::bigint
     ORDER BY seq`);
  return result.rows.map(toRecordedEvent);
};

const EventColumns = t.type({
  page_id: Int8String,
  removed_by_retention: t.boolean,
  seq: t.union([t.number, t.null]),
  event_type: t.unknown,
  worker_id: t.unknown,
  occurred_at: t.unknown,
  data: t.unknown,
});
// A task id with its row (every row column null when the row is gone) and one of its events (every
// event column null for a task without any).
const JoinedRow = t.union([t.intersection([TaskRow, EventColumns]), t.intersection([t.type({ id: t.null }), EventColumns])]);

/**
 * Whether a task without a row was removed by retention: asked of the storage migrations'
 * at_worker_removed_by_retention(bigint) when the schema has it, otherwise never (false).
 */
const removedByRetention = async (db: Queries) => {
  const found = await db.query(
    sql.type(rowSchema('removedByRetention', t.type({ present: t.boolean })))`
      SELECT to_regprocedure('at_worker_removed_by_retention(bigint)') IS NOT NULL AS present`,
  );
  return found.rows[0]?.present === true
    ? sql.fragment`CASE WHEN t.id IS NULL THEN at_worker_removed_by_retention(page.id) ELSE false END`
    : sql.fragment`false`;
};

/**
 * Tasks and their events from ONE statement, so each row and its history come from the same
 * snapshot: a worker committing a transition in between cannot make verify see a row that is ahead
 * of its events. The page of ids is taken first (keyset on the primary keys), from the rows AND the
 * histories, so a history whose row was deleted is checked too; then each task's row and events.
 */
export const tasksWithHistory = async (db: CommonQueryMethods, afterId: TaskId | null, limit: number): Promise<TaskWithHistory[]> => {
  const retention = await removedByRetention(db);
  const after = sql.fragment`coalesce(${afterId}::bigint, 0)`;
  const result = await db.query(sql.type(rowSchema('tasksWithHistory', JoinedRow))`
    WITH page AS (
      SELECT u.id FROM ((SELECT s.id FROM scheduled_tasks AS s WHERE s.id > ${after} ORDER BY s.id LIMIT ${limit})
                        UNION
                        (SELECT DISTINCT h.task_id FROM task_events AS h WHERE h.task_id > ${after} ORDER BY h.task_id LIMIT ${limit})) AS u
       ORDER BY u.id
       LIMIT ${limit}
    )
    SELECT page.id AS page_id, ${taskColumns}, ${retention} AS removed_by_retention,
           e.seq, e.event_type, e.worker_id, e.occurred_at, e.data
      FROM page
      LEFT JOIN scheduled_tasks AS t ON t.id = page.id
      LEFT JOIN task_events AS e ON e.task_id = page.id
     ORDER BY page.id, e.seq`);
  return groupByTask(result.rows);
};

/** One task's row and history; null when it has neither. */
export const taskWithHistory = async (db: Queries, id: TaskId): Promise<TaskWithHistory | null> => {
  const retention = await removedByRetention(db);
  const result = await db.query(sql.type(rowSchema('taskWithHistory', JoinedRow))`
    WITH page AS (SELECT ${id}::bigint AS id)
    SELECT page.id AS page_id, ${taskColumns}, ${retention} AS removed_by_retention,
           e.seq, e.event_type, e.worker_id, e.occurred_at, e.data
      FROM page
      LEFT JOIN scheduled_tasks AS t ON t.id = page.id
      LEFT JOIN task_events AS e ON e.task_id = page.id
     ORDER BY e.seq`);
  const found = groupByTask(result.rows)[0];
  return found === undefined || (found.task === null && found.history.length === 0) ? null : found;
};

/** Rows arrive ordered by task, then seq: fold consecutive rows of one task into one entry. */
const groupByTask = (rows: readonly t.TypeOf<typeof JoinedRow>[]): TaskWithHistory[] => {
  const tasks: { id: string; task: TaskWithHistory['task']; history: RecordedEvent[]; removedByRetention: boolean }[] = [];
  for (const row of rows) {
    let current = tasks[tasks.length - 1];
    if (current === undefined || current.id !== row.page_id) {
      current = {
        id: row.page_id,
        task: row.id === null ? null : toTaskRecord(row),
        history: [],
        removedByRetention: row.removed_by_retention,
      };
      tasks.push(current);
    }
    if (row.seq !== null) current.history.push(toRecordedEvent({ ...row, seq: row.seq }));
  }
  return tasks;
};

const CountRow = t.type({ count: t.number });

export const countTasks = async (db: CommonQueryMethods): Promise<number> => {
  const result = await db.query(sql.type(rowSchema('countTasks', CountRow))`SELECT count(*)::float8 AS count FROM scheduled_tasks`);
  return result.rows[0]?.count ?? 0;
};
