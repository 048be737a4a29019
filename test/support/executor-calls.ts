import { randomUUID } from 'node:crypto';
import type { ClaimedTask } from '../../src/application/ports.js';
import type { ExecutionOutcome } from '../../src/domain/execution.js';

/** A task as the worker hands it to an executor right after claiming it. */
export const claimedTask = (taskType: string, id: string, payload: unknown, attempts = 0): ClaimedTask => ({
  id,
  taskType,
  payload,
  attempts,
  maxAttempts: 3,
  executeAt: new Date(),
  owner: 'test-worker',
  claimToken: randomUUID(),
  claimedAt: new Date(),
});

/** A signal that never aborts: the task runs to its own end. */
export const never = (): AbortSignal => new AbortController().signal;

/** The outcome as a failure, or a test failure that shows what came back instead. */
export const failure = (outcome: ExecutionOutcome) => {
  if (outcome._tag !== 'Failed') throw new Error(`expected a failure, got ${JSON.stringify(outcome)}`);
  return outcome;
};
