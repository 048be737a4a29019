import * as t from 'io-ts';
import { sql, type CommonQueryMethods } from 'slonik';
import type { Queries } from './operator-schedule.js';
import type { RecordedEvent, TaskWithHistory } from '../../application/operator/ports.js';
import type { TaskId } from '../../domain/index.js';
import { taskColumns, TaskRow, toRecordedEvent, toTaskRecord } from './operator-rows.js';
import { decodeRows } from './rows.js';

// Only the seq is decoded here; the rest of an event row is the event codec's job (toRecordedEvent).
const EventRow = t.type({ seq: t.number, event_type: t.unknown, worker_id: t.unknown, occurred_at: t.unknown, data: t.unknown });

/** A task's history in seq order: one range scan of the (task_id, seq) primary key. */
export const taskHistory = async (db: Queries, id: TaskId): Promise<RecordedEvent[]> => {
  const result = await db.query(sql.unsafe`
    SELECT seq, event_type, worker_id, occurred_at, data
      FROM task_events
     WHERE task_id = ${id}::bigint
     ORDER BY seq`);
  return decodeRows(EventRow, 'taskHistory', result.rows).map(toRecordedEvent);
};

// A task row with one of its events (all event columns null for a task without any).
const JoinedRow = t.intersection([
  TaskRow,
  t.type({ seq: t.union([t.number, t.null]), event_type: t.unknown, worker_id: t.unknown, occurred_at: t.unknown, data: t.unknown }),
]);

/**
 * Tasks and their events from ONE statement, so each row and its history come from the same
 * snapshot: a worker committing a transition in between cannot make verify see a row that is ahead
 * of its events. The page of ids is taken first (keyset on the primary key), then each task's
 * events by a range scan of task_events' primary key.
 */
export const tasksWithHistory = async (
  db: CommonQueryMethods,
  afterId: TaskId | null,
  limit: number,
): Promise<TaskWithHistory[]> => {
  const result = await db.query(sql.unsafe`
    SELECT ${taskColumns}, e.seq, e.event_type, e.worker_id, e.occurred_at, e.data
      FROM (SELECT * FROM scheduled_tasks
             WHERE id > coalesce(${afterId}::bigint, 0)
             ORDER BY id
             LIMIT ${limit}) AS t
      LEFT JOIN task_events AS e ON e.task_id = t.id
     ORDER BY t.id, e.seq`);
  return groupByTask(decodeRows(JoinedRow, 'tasksWithHistory', result.rows));
};

export const taskWithHistory = async (db: Queries, id: TaskId): Promise<TaskWithHistory | null> => {
  const result = await db.query(sql.unsafe`
    SELECT ${taskColumns}, e.seq, e.event_type, e.worker_id, e.occurred_at, e.data
      FROM scheduled_tasks AS t
      LEFT JOIN task_events AS e ON e.task_id = t.id
     WHERE t.id = ${id}::bigint
     ORDER BY e.seq`);
  return groupByTask(decodeRows(JoinedRow, 'taskWithHistory', result.rows))[0] ?? null;
};

/** Rows arrive ordered by task, then seq: fold consecutive rows of one task into one entry. */
const groupByTask = (rows: readonly t.TypeOf<typeof JoinedRow>[]): TaskWithHistory[] => {
  const tasks: { task: TaskWithHistory['task']; history: RecordedEvent[] }[] = [];
  for (const row of rows) {
    let current = tasks[tasks.length - 1];
    if (current === undefined || current.task.id !== row.id) {
      current = { task: toTaskRecord(row), history: [] };
      tasks.push(current);
    }
    if (row.seq !== null) current.history.push(toRecordedEvent({ ...row, seq: row.seq }));
  }
  return tasks;
};

const CountRow = t.type({ count: t.number });

export const countTasks = async (db: CommonQueryMethods): Promise<number> => {
  const result = await db.query(sql.unsafe`SELECT count(*)::float8 AS count FROM scheduled_tasks`);
  return decodeRows(CountRow, 'countTasks', result.rows)[0]?.count ?? 0;
};
