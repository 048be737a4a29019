import { randomUUID } from 'node:crypto';
import type { ClaimedTask, TaskExecutor } from '../../src/application/ports.js';
import { succeeded, type ExecutionOutcome } from '../../src/domain/execution.js';

/** A task as the worker hands it to an executor right after claiming it. */
export const claimedTask = (taskType: string, id: string, payload: unknown, attempts = 0): ClaimedTask => ({
  id,
  taskType,
  payload,
  // The form of a task scheduled before task_uuid existed: its id is what receivers see.
  taskUuid: null,
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

/**
 * An executor whose calls each take `ms` and then succeed, counting how many run at once: `peak` is
 * the most at any moment, `executed` how many have returned. `onStart` sees each call begin.
 */
export const concurrencyProbe = (ms: number, onStart: () => void = () => undefined) => {
  const probe = { running: 0, peak: 0, executed: 0 };
  const executor: TaskExecutor = {
    execute: async () => {
      probe.running += 1;
      probe.peak = Math.max(probe.peak, probe.running);
      onStart();
      await new Promise((resolve) => setTimeout(resolve, ms));
      probe.running -= 1;
      probe.executed += 1;
      return succeeded();
    },
  };
  return Object.assign(probe, { executor });
};
