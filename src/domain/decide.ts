import * as E from 'fp-ts/lib/Either.js';
import type { TaskCommand } from './commands.js';
import { illegalTransition, type DomainError } from './errors.js';
import type { TaskEvent } from './events.js';
import { refuseClaim } from './refuse-claim.js';
import { retryDelayMs } from './retry-policy.js';
import { assertNever, nextAttempt, type Processing, type TaskState } from './task.js';

type Decision = E.Either<DomainError, readonly TaskEvent[]>;

/**
 * The task state machine: which events a command produces from a state, or why it is refused.
 *
 *   absent ──Schedule──▶ pending ──Claim──▶ processing ──Complete──▶ completed
 *                          │ └──RefuseClaim (attempts used up, history full or its seq taken)──▶ failed
 *                          ▲  │                 │ ├──Fail (retryable, attempts left)──▶ pending (backoff)
 *                          │  Cancel            │ ├──Fail (permanent | exhausted)────▶ failed ──Retry──▶ pending
 *                          │  ▼                 │ ├──RecoverStuck──▶ pending, or failed when exhausted
 *                          │ cancelled          │ ├──Release (shutdown)──▶ pending, attempt not consumed
 *                          │                    │ └──Postpone (protect a destination)──▶ pending later, attempt not consumed
 *
 * Schedule, Claim and RefuseClaim are carried out in SQL (the insert trigger, at_worker_claim_due_tasks
 * and its at_worker_refuse_claims), so that plain INSERTs get their event and a claim is one round trip;
 * this function stays their rule, and
 * test/integration/postgres-sql-transitions.test.ts holds the SQL to it.
 */
export const decide = (state: TaskState, command: TaskCommand): Decision => {
  switch (command.type) {
    case 'Schedule':
      if (state.status !== 'absent') return E.left(illegalTransition('schedule', state));
      if (!Number.isInteger(command.maxAttempts) || command.maxAttempts < 1)
        return E.left({ _tag: 'InvalidCommand', reason: 'max_attempts must be a positive integer' });
      return E.right([
        {
          type: 'scheduled',
          at: command.now,
          workerId: null,
          taskType: command.taskType,
          executeAt: command.executeAt,
          maxAttempts: command.maxAttempts,
          ...command.origin,
        },
      ]);
    case 'Claim':
      if (state.status !== 'pending') return E.left(illegalTransition('claim', state));
      if (state.executeAt.getTime() > command.now.getTime()) return E.left({ _tag: 'InvalidCommand', reason: 'the task is not due yet' });
      return E.right([
        {
          type: 'claimed',
          at: command.now,
          workerId: command.workerId,
          attempt: nextAttempt(state),
          claimToken: command.claimToken,
        },
      ]);
    case 'RefuseClaim':
      if (state.status !== 'pending') return E.left(illegalTransition('refuse the claim of', state));
      if (state.executeAt.getTime() > command.now.getTime()) return E.left({ _tag: 'InvalidCommand', reason: 'the task is not due yet' });
      return refuseClaim(state, command);
    case 'Complete':
      return whileOwned(state, command, 'complete', (owned) => [
        { type: 'completed', at: command.now, workerId: command.workerId, attempt: nextAttempt(owned), details: command.details },
      ]);
    case 'Fail':
      return whileOwned(state, command, 'fail', (owned) => {
        const attempt = nextAttempt(owned);
        const base = { at: command.now, workerId: command.workerId, attempt, error: command.error, details: command.details };
        if (!command.retryable) return [{ type: 'failed', reason: 'permanent', ...base }];
        if (attempt >= owned.maxAttempts) return [{ type: 'failed', reason: 'attempts_exhausted', ...base }];
        const delay = retryDelayMs(command.policy, attempt, command.jitter, command.retryAfterMs);
        return [{ type: 'retry_scheduled', ...base, retryAt: new Date(command.now.getTime() + delay) }];
      });
    case 'RecoverStuck':
      return whileOwned(state, command, 'recover', (owned) => {
        const attempt = nextAttempt(owned);
        const error = `stuck: no heartbeat from ${owned.owner} for ${command.stuckFor}`;
        return attempt >= owned.maxAttempts
          ? [
              {
                type: 'failed',
                at: command.now,
                workerId: command.workerId,
                attempt,
                reason: 'stuck',
                error,
                details: { previousOwner: owned.owner },
              },
            ]
          : [{ type: 'recovered', at: command.now, workerId: command.workerId, attempt, previousOwner: owned.owner, error }];
      });
    case 'Release':
      return whileOwned(state, command, 'release', (owned) => [
        { type: 'released', at: command.now, workerId: command.workerId, attempt: nextAttempt(owned), reason: command.reason },
      ]);
    case 'Postpone':
      if (command.until.getTime() < command.now.getTime())
        return E.left({ _tag: 'InvalidCommand', reason: 'a task cannot be postponed into the past' });
      return whileOwned(state, command, 'postpone', (owned) => [
        {
          type: 'postponed',
          at: command.now,
          workerId: command.workerId,
          attempt: nextAttempt(owned),
          until: command.until,
          reason: command.reason,
          destination: command.destination,
          detail: command.detail,
        },
      ]);
    case 'Retry':
      if (state.status !== 'failed') return E.left(illegalTransition('retry', state));
      return E.right([
        {
          type: 'rescheduled',
          at: command.now,
          workerId: null,
          executeAt: command.now,
          maxAttempts: command.maxAttempts ?? state.maxAttempts,
        },
      ]);
    case 'Cancel':
      if (state.status !== 'pending') return E.left(illegalTransition('cancel', state));
      return E.right([{ type: 'cancelled', at: command.now, workerId: null }]);
    default:
      return assertNever(command);
  }
};

/**
 * Commands that end an attempt apply only to the claim that started it. RecoverStuck is issued by a
 * *different* worker (the cleaner), so it is fenced on the claim token alone.
 */
const whileOwned = (
  state: TaskState,
  command: Extract<TaskCommand, { claimToken: string }>,
  verb: string,
  produce: (owned: Processing) => TaskEvent[],
): Decision => {
  if (state.status !== 'processing') return E.left(illegalTransition(verb, state));
  if (state.claimToken !== command.claimToken) return E.left({ _tag: 'NotOwner', command: verb });
  if (command.type !== 'RecoverStuck' && state.owner !== command.workerId) return E.left({ _tag: 'NotOwner', command: verb });
  return E.right(produce(state));
};
