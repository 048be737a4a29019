import * as E from 'fp-ts/lib/Either.js';
import { cancelTask } from '../application/operator/change-task.js';
import { describeKeyConflict, describeRejection } from '../application/operator/describe-refusal.js';
import type { RecordedEvent, TaskRecord } from '../application/operator/ports.js';
import { scheduleTasks, type ScheduleRequest as StoredRequest } from '../application/operator/schedule-task.js';
import { findTask, applyChange } from '../adapters/postgres/operator-change.js';
import { taskHistory, taskWithHistory } from '../adapters/postgres/operator-history.js';
import { findTaskIdByKey, insertTasks } from '../adapters/postgres/operator-schedule.js';
import type { Queries, TransactionalQueries } from '../adapters/postgres/queries.js';
import { createPostgresScheduleStore } from '../adapters/postgres/schedule-store.js';
import type { TaskId } from '../domain/index.js';
import { openConnection, type DatabaseTarget } from './connection.js';
import { databaseError, type CancelError, type DatabaseError, type GetError, type ScheduleError } from './errors.js';
import { toStoredRequest, type ScheduleRequest } from './requests.js';
import { schedulesOn, type Schedules } from './schedules.js';

/** A task by its id, or by its idempotency key. */
export type TaskRef = { readonly id: TaskId } | { readonly key: string };

/** `created` is false when the key already named a task: that task's id, and nothing was written. */
export interface Scheduled {
  readonly id: TaskId;
  readonly created: boolean;
}

/** A task and its history. `task` is null when the row is gone (deleted by retention) but its history remains. */
export interface TaskView {
  readonly id: TaskId;
  readonly task: TaskRecord | null;
  /** The key it was scheduled with, from its 'scheduled' event. */
  readonly key: string | null;
  readonly history: readonly RecordedEvent[];
}

export interface Scheduler {
  /** Schedules one task; on the caller's transaction client it commits or rolls back with the caller's work. */
  schedule(request: ScheduleRequest): Promise<E.Either<ScheduleError, Scheduled>>;
  /** Schedules every task in one statement, in order; one refused request refuses them all and writes nothing. */
  scheduleMany(requests: readonly ScheduleRequest[]): Promise<E.Either<ScheduleError, readonly Scheduled[]>>;
  /** The task's status and its history. */
  get(ref: TaskRef): Promise<E.Either<GetError, TaskView>>;
  /** Cancels a pending task, recorded in its history as the CLI's `cancel` records it. */
  cancel(ref: TaskRef): Promise<E.Either<CancelError, TaskView>>;
  /** Recurring schedules: what `at-worker schedules` does (src/client/schedules.ts). */
  readonly schedules: Schedules;
  /** Ends the pool the scheduler opened for a connection string; a no-op for a caller's own handle. */
  close(): Promise<void>;
}

const describeRef = (ref: TaskRef): string => ('id' in ref ? `task ${ref.id}` : `no task has key ${JSON.stringify(ref.key)}`);
const notFound = (ref: TaskRef) => ({
  _tag: 'TaskNotFound' as const,
  message: 'id' in ref ? `task ${ref.id} not found` : describeRef(ref),
});

// A task id as the table holds it: a positive int8.
const TASK_ID = /^[1-9]\d{0,18}$/;

/** Database failures become values; everything else (a bug) stays an exception. */
const guarded = async <L, R>(run: () => Promise<E.Either<L, R>>): Promise<E.Either<L | DatabaseError, R>> => {
  try {
    return await run();
  } catch (error) {
    const failure = databaseError(error);
    if (failure === undefined) throw error;
    return E.left(failure);
  }
};

const keyOf = (history: readonly RecordedEvent[]): string | null => {
  const first = history[0];
  return first?._tag === 'Decoded' && first.event.type === 'scheduled' ? (first.event.key ?? null) : null;
};

const schedulerOn = (db: Queries, transactional: TransactionalQueries, close: () => Promise<void>): Scheduler => {
  const store = {
    insertTasks: (tasks: Parameters<typeof insertTasks>[1]) => insertTasks(db, tasks),
    findTask: (id: TaskId) => findTask(db, id),
    applyChange: (change: Parameters<typeof applyChange>[1]) => applyChange(db, change),
  };

  const idOf = async (ref: TaskRef): Promise<TaskId | null> =>
    'id' in ref ? (TASK_ID.test(ref.id) ? ref.id : null) : findTaskIdByKey(db, ref.key);

  const view = async (id: TaskId): Promise<TaskView | null> => {
    // Row and events in one statement (one snapshot); the history alone when the row is gone.
    const both = await taskWithHistory(db, id);
    const history = both?.history ?? (await taskHistory(db, id));
    if (both === null && history.length === 0) return null;
    return { id, task: both?.task ?? null, key: keyOf(history), history };
  };

  const scheduleMany = async (requests: readonly ScheduleRequest[]): Promise<E.Either<ScheduleError, readonly Scheduled[]>> => {
    const stored: StoredRequest[] = [];
    // Each key's first request in this batch: a later one with the key must ask for the same task.
    const firstWithKey = new Map<string, number>();
    for (const [index, request] of requests.entries()) {
      const checked = toStoredRequest(request);
      if (E.isLeft(checked)) return E.left({ _tag: 'Refused', index, message: prefixed(requests, index, checked.left) });
      const first = checked.right.key === undefined ? undefined : firstWithKey.get(checked.right.key);
      if (first !== undefined && !sameRequest(stored[first] as StoredRequest, checked.right)) {
        const message = `key ${JSON.stringify(checked.right.key)} is also tasks[${first}]'s, with a different request`;
        return E.left({ _tag: 'Refused', index, message: prefixed(requests, index, message) });
      }
      if (checked.right.key !== undefined && first === undefined) firstWithKey.set(checked.right.key, index);
      stored.push(checked.right);
    }
    return guarded(async (): Promise<E.Either<ScheduleError, readonly Scheduled[]>> => {
      const scheduled = await scheduleTasks(store)(stored);
      if (E.isRight(scheduled)) return scheduled;
      const refusal = scheduled.left;
      return refusal._tag === 'KeyConflict'
        ? E.left({ ...refusal, message: describeKeyConflict(refusal) })
        : E.left({ _tag: 'Refused', index: refusal.index, message: prefixed(requests, refusal.index, describeRejection(refusal, 'type')) });
    });
  };

  return {
    schedule: async (request) => E.map((tasks: readonly Scheduled[]) => tasks[0] as Scheduled)(await scheduleMany([request])),
    scheduleMany,
    get: (ref) =>
      guarded(async () => {
        const id = await idOf(ref);
        const found = id === null ? null : await view(id);
        return found === null ? E.left(notFound(ref)) : E.right(found);
      }),
    cancel: (ref) =>
      guarded(async () => {
        const id = await idOf(ref);
        if (id === null) return E.left(notFound(ref));
        const cancelled = await cancelTask(store)(id);
        if (E.isLeft(cancelled)) {
          const refusal = cancelled.left;
          if (refusal._tag === 'TaskNotFound') return E.left(notFound(ref));
          const message = refusal._tag === 'Refused' ? refusal.reason : `task ${id} kept changing under ${refusal.tries} tries; try again`;
          return E.left({ _tag: 'CancelRefused', id, message: `task ${id}: ${message}` });
        }
        const found = await view(id);
        return found === null ? E.left(notFound(ref)) : E.right(found);
      }),
    schedules: schedulesOn(createPostgresScheduleStore(transactional), guarded),
    close,
  };
};

// The same task twice in one batch; payloads compare as their JSON text, so the same object built
// twice in code matches.
const sameRequest = (a: StoredRequest, b: StoredRequest): boolean =>
  a.taskType === b.taskType &&
  a.payloadJson === b.payloadJson &&
  a.maxAttempts === b.maxAttempts &&
  JSON.stringify(a.due) === JSON.stringify(b.due);

// In a batch the message says which request it is about, as `tasks[3]: ...`.
const prefixed = (requests: readonly unknown[], index: number, message: string): string =>
  requests.length > 1 ? `tasks[${index}]: ${message}` : message;

/**
 * A scheduler on the caller's database handle (see DatabaseTarget). Creating one is cheap and opens
 * nothing unless given a connection string, so a service can create one per transaction:
 *   await pool.transaction(async (tx) => { ...; await createScheduler(tx).schedule({...}); });
 */
export const createScheduler = (target: DatabaseTarget): Scheduler => {
  const connection = openConnection(target);
  return schedulerOn(connection.queries, connection.transactional, connection.close);
};
