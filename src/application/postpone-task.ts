import * as E from 'fp-ts/lib/Either.js';
import { describeDomainError, type PostponeReason } from '../domain/index.js';
import { processingState } from './claimed-state.js';
import { decideAndRecord } from './decide-and-record.js';
import type { AttemptEndResult, ClaimedTask, Clock, Logger, TaskQueue, WorkerMetrics } from './ports.js';

export interface PostponeTaskDeps {
  readonly workerId: string;
  readonly queue: TaskQueue;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: WorkerMetrics;
}

/** Why and for how long a claimed task is given back without running. */
export interface Postponement {
  readonly reason: PostponeReason;
  readonly destination: string;
  readonly detail: string;
  readonly forMs: number;
}

export type PostponeTask = (task: ClaimedTask, postponement: Postponement) => Promise<AttemptEndResult>;

/**
 * Gives a claimed task back to pending, due again after `forMs`, without consuming an attempt: its
 * destination is protected (circuit open, over its limit) or already holds this worker's share of
 * slots. Decided by the domain ('postponed' event) and written fenced to the claim, like every
 * attempt end.
 */
export const postponeTask =
  (deps: PostponeTaskDeps): PostponeTask =>
  async (task, postponement) => {
    const now = deps.clock.now();
    const ended = await decideAndRecord(
      processingState(task),
      {
        type: 'Postpone',
        now,
        workerId: deps.workerId,
        claimToken: task.claimToken,
        until: new Date(now.getTime() + postponement.forMs),
        reason: postponement.reason,
        destination: postponement.destination,
        detail: postponement.detail,
      },
      ({ events, next }) => deps.queue.endAttempt({ claim: task, events, next, errorMessage: null }),
    );
    if (E.isLeft(ended)) {
      deps.logger.error(`[Executor] Task ${task.id}: ${describeDomainError(ended.left)}`, { taskId: task.id });
      return 'fenced';
    }
    const result = ended.right.recorded;
    if (result === 'applied') {
      deps.metrics.postponed(task.taskType, postponement.reason, postponement.forMs);
      deps.logger.debug(
        `[Executor] Task ${task.id} postponed ${postponement.forMs} ms: ${postponement.reason} (${postponement.destination})`,
        {
          taskId: task.id,
          destination: postponement.destination,
          reason: postponement.reason,
        },
      );
    }
    return result;
  };
