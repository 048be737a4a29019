import type { TaskState } from '../../domain/index.js';
import type { TaskRecord } from './ports.js';

/**
 * The domain's view of a row, for deciding an operator command on it. The row is the current state
 * (the history explains it; `verify` checks that the two agree).
 */
export const stateOfRecord = (task: TaskRecord): TaskState => {
  const counters = { taskType: task.taskType, attempts: task.attempts, maxAttempts: task.maxAttempts, executeAt: task.executeAt };
  switch (task.status) {
    case 'pending':
      return { status: 'pending', ...counters };
    case 'processing':
      // The DDL's claim check guarantees both on a processing row; 'unknown' only keeps this total.
      return { status: 'processing', ...counters, owner: task.owner ?? 'unknown', claimToken: task.claimToken ?? '' };
    case 'completed':
      return { status: 'completed', ...counters, completedAt: task.completedAt ?? task.updatedAt };
    case 'failed':
      return { status: 'failed', ...counters, error: task.errorMessage ?? '' };
    case 'cancelled':
      return { status: 'cancelled', ...counters };
  }
};
