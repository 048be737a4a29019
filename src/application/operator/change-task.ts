import * as E from 'fp-ts/lib/Either.js';
import { describeDomainError, type TaskCommand, type TaskEvent, type TaskId, type TaskState } from '../../domain/index.js';
import { decideAndRecord } from '../decide-and-record.js';
import type { OperatorStore, TaskRecord } from './ports.js';
import { stateOfRecord } from './task-state.js';

export type ChangeRefusal =
  | { readonly _tag: 'TaskNotFound'; readonly id: TaskId }
  | { readonly _tag: 'Refused'; readonly id: TaskId; readonly reason: string }
  | { readonly _tag: 'Contended'; readonly id: TaskId; readonly tries: number };

export interface ChangeApplied {
  readonly before: TaskRecord;
  readonly events: readonly TaskEvent[];
  readonly next: TaskState;
}

// A conflict means a worker changed the row between our read and our write (a claim, a retry
// firing); reading again and deciding on the new state settles it. Three tries is plenty: each
// lost race is one worker transition, and a task does not change state thousands of times a second.
const MAX_TRIES = 3;

/**
 * Asks the domain what `command` does to the task as it is now, and writes the answer (row and
 * events, one transaction) only if the row has not moved since it was read: optimistic, fenced on
 * the status and the last event's seq, so an operator never overwrites a worker's transition.
 */
export const changeTask =
  (store: Pick<OperatorStore, 'findTask' | 'applyChange'>) =>
  async (
    id: TaskId,
    command: (now: Date) => TaskCommand,
    options: { readonly clearError: boolean },
  ): Promise<E.Either<ChangeRefusal, ChangeApplied>> => {
    for (let tries = 1; tries <= MAX_TRIES; tries += 1) {
      const snapshot = await store.findTask(id);
      if (snapshot === null) return E.left({ _tag: 'TaskNotFound', id });
      const state = stateOfRecord(snapshot.task);
      const changed = await decideAndRecord(state, command(snapshot.now), ({ events, next }) =>
        store.applyChange({
          id,
          expected: { status: snapshot.task.status, eventSeq: snapshot.task.eventSeq },
          events,
          next,
          clearError: options.clearError,
        }),
      );
      if (E.isLeft(changed)) return E.left({ _tag: 'Refused', id, reason: describeDomainError(changed.left) });
      if (changed.right.recorded === 'applied') return E.right({ before: snapshot.task, ...changed.right.decision });
    }
    return E.left({ _tag: 'Contended', id, tries: MAX_TRIES });
  };

/** A failed task back to pending, due now, with a fresh set of attempts (optionally a new maximum). */
export const retryTask =
  (store: Pick<OperatorStore, 'findTask' | 'applyChange'>) =>
  (id: TaskId, maxAttempts?: number): Promise<E.Either<ChangeRefusal, ChangeApplied>> =>
    changeTask(store)(id, (now) => (maxAttempts === undefined ? { type: 'Retry', now } : { type: 'Retry', now, maxAttempts }), {
      clearError: true,
    });

/** A pending task will not run. Its error_message (from an earlier attempt, if any) stays. */
export const cancelTask =
  (store: Pick<OperatorStore, 'findTask' | 'applyChange'>) =>
  (id: TaskId): Promise<E.Either<ChangeRefusal, ChangeApplied>> =>
    changeTask(store)(id, (now) => ({ type: 'Cancel', now }), { clearError: false });
