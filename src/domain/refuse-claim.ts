import * as E from 'fp-ts/lib/Either.js';
import type { TaskCommand } from './commands.js';
import type { DomainError } from './errors.js';
import type { FailedEvent, FailureReason, TaskEvent } from './events.js';
import { nextAttempt, type Pending } from './task.js';

const REFUSAL = 'failed on claim: ';

/** The highest seq a task's history can hold (task_events.seq and event_seq are PostgreSQL integers). */
export const MAX_EVENT_SEQ = 2147483647;

/**
 * Why a due pending task cannot be claimed soundly, first match wins, and the 'failed' event it gets
 * instead of running (at_worker_refuse_claims writes it in SQL):
 *   - its attempts are used up (a row edited by hand: no history leaves a pending task so);
 *   - its history is full (event_seq at MAX_EVENT_SEQ, so the 'claimed' event has no seq);
 *   - the seq its 'claimed' event needs is already taken by an event written outside at-worker.
 * The attempt is not run, so it is not counted: the event names the attempt that would have run.
 */
export const refuseClaim = (
  state: Pending,
  command: Extract<TaskCommand, { type: 'RefuseClaim' }>,
): E.Either<DomainError, readonly FailedEvent[]> => {
  const failed = (reason: FailureReason, why: string): E.Either<DomainError, readonly FailedEvent[]> =>
    E.right([
      {
        type: 'failed',
        at: command.now,
        workerId: command.workerId,
        attempt: nextAttempt(state),
        reason,
        error: `${REFUSAL}${why}`,
        details: {},
      },
    ]);
  if (state.attempts >= state.maxAttempts)
    return failed('attempts_exhausted', `attempts exhausted (${state.attempts} of ${state.maxAttempts} used)`);
  if (command.eventSeq >= MAX_EVENT_SEQ)
    return failed('permanent', `its history is full (event_seq ${command.eventSeq} is the integer limit)`);
  if (command.takenSeq !== undefined) return failed('permanent', seqTaken(command.takenSeq));
  return E.left({ _tag: 'InvalidCommand', reason: 'the task can be claimed: nothing to refuse' });
};

const seqTaken = (seq: number): string => `task_events already holds seq ${seq} of this task, written outside at-worker`;
const SEQ_TAKEN = /^failed on claim: task_events already holds seq (\d+) of this task, written outside at-worker$/;

/**
 * The seq a refused claim found taken, read back from its 'failed' event: that event was written
 * outside at-worker, so the history itself is broken there, whatever its replay says.
 */
export const seqFoundTaken = (event: TaskEvent): number | undefined => {
  const match = event.type === 'failed' ? SEQ_TAKEN.exec(event.error) : null;
  return match?.[1] === undefined ? undefined : Number(match[1]);
};

/** Whether a 'failed' event is one `refuseClaim` produces: the only 'failed' a pending task can take. */
export const isClaimRefusal = (event: FailedEvent): boolean => event.reason !== 'stuck' && event.error.startsWith(REFUSAL);
