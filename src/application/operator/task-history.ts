import * as E from 'fp-ts/lib/Either.js';
import type { TaskId } from '../../domain/index.js';
import type { OperatorStore, RecordedEvent, TaskRecord } from './ports.js';

export interface TaskTimeline {
  /** null when the row is gone (archived or deleted) but its history remains. */
  readonly task: TaskRecord | null;
  readonly events: readonly RecordedEvent[];
}

/**
 * "What happened to task 4711, when, on which worker, and why?" The history outlives the row (no
 * foreign key, by design), so a task is unknown only when neither exists.
 */
export const readTaskHistory =
  (store: Pick<OperatorStore, 'findTask' | 'taskHistory'>) =>
  async (id: TaskId): Promise<E.Either<{ readonly _tag: 'TaskNotFound'; readonly id: TaskId }, TaskTimeline>> => {
    const [snapshot, events] = await Promise.all([store.findTask(id), store.taskHistory(id)]);
    if (snapshot === null && events.length === 0) return E.left({ _tag: 'TaskNotFound', id });
    return E.right({ task: snapshot?.task ?? null, events });
  };
