import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { sql } from 'slonik';
import { rowSchema } from './row-schema.js';
import type { DueTime, KeyConflict, NewTask, ScheduledTask } from '../../application/operator/ports.js';
import type { TaskId } from '../../domain/index.js';
import type { Queries } from './queries.js';
import { Int8String } from './rows.js';

const ScheduledRow = t.type({ id: Int8String, created: t.boolean });

// A delay travels as delay_ms and is added to the database's clock, the one the claim compares
// execute_at with, so `--in 90s` means 90 s from now for the workers too, however far this machine's
// clock is off.
const dueFields = (due: DueTime): string => {
  switch (due._tag) {
    case 'Now':
      return '';
    case 'At':
      return `,"execute_at":${JSON.stringify(due.at.toISOString())}`;
    case 'After':
      return `,"delay_ms":${due.delayMs}`;
  }
};

/**
 * The tasks as at_worker_schedule_many's JSON array. Built as text so each payload goes in exactly
 * as given (numbers keep their precision in jsonb), and 10,000 tasks are one parameter.
 */
const tasksJson = (tasks: readonly NewTask[]): string =>
  `[${tasks
    .map(
      (task) =>
        `{"task_type":${JSON.stringify(task.taskType)},"payload":${task.payloadJson},"max_attempts":${task.maxAttempts}` +
        `${task.key === undefined ? '' : `,"key":${JSON.stringify(task.key)}`}${dueFields(task.due)}` +
        `${task.traceparent === undefined ? '' : `,"traceparent":${JSON.stringify(task.traceparent)}`}}`,
    )
    .join(',')}]`;

/**
 * Schedules through sql's at_worker_schedule_many, the one home of the key rules (the same function
 * other languages call through at_worker_schedule): one INSERT for the whole batch, after which the
 * table's statement trigger appends every 'scheduled' event and NOTIFYs listening workers once.
 */
export const insertTasks = async (db: Queries, tasks: readonly NewTask[]): Promise<E.Either<KeyConflict, readonly ScheduledTask[]>> => {
  try {
    const result = await db.query(sql.type(rowSchema('insertTasks', ScheduledRow))`
      SELECT s.id, s.created FROM at_worker_schedule_many(${tasksJson(tasks)}::jsonb) AS s ORDER BY s.ord`);
    return E.right(result.rows);
  } catch (error) {
    const conflict = keyConflictOf(error, tasks);
    if (conflict === undefined) throw error;
    return E.left(conflict);
  }
};

// at_worker_schedule_many's conflict: 23505 naming the key's index, DETAIL 'existing task 42; differs in payload'.
const CONFLICT_DETAIL = /^existing task (\d+); differs in (.+)$/;
const KEY_IN_MESSAGE = /key ("(?:[^"\\]|\\.)*") is task \d+/;

const keyConflictOf = (error: unknown, tasks: readonly NewTask[]): KeyConflict | undefined => {
  for (let cause = error, depth = 0; typeof cause === 'object' && cause !== null && depth < 5; depth += 1) {
    const { code, constraint, detail, message } = cause as { code?: unknown; constraint?: unknown; detail?: unknown; message?: unknown };
    const match = typeof detail === 'string' ? CONFLICT_DETAIL.exec(detail) : null;
    if (code === '23505' && constraint === 'scheduled_tasks_idempotency_key_idx' && match !== null) {
      const quoted = typeof message === 'string' ? KEY_IN_MESSAGE.exec(message)?.[1] : undefined;
      const key = quoted === undefined ? (tasks.find((task) => task.key !== undefined)?.key ?? '') : (JSON.parse(quoted) as string);
      return { _tag: 'KeyConflict', key, existingId: match[1] as string, differs: (match[2] as string).split(', ') };
    }
    cause = (cause as { cause?: unknown }).cause;
  }
  return undefined;
};

const IdRow = t.type({ id: Int8String });

export const findTaskIdByKey = async (db: Queries, key: string): Promise<TaskId | null> => {
  const result = await db.query(
    sql.type(rowSchema('findTaskIdByKey', IdRow))`SELECT id::text AS id FROM scheduled_tasks WHERE idempotency_key = ${key}`,
  );
  return result.rows[0]?.id ?? null;
};
