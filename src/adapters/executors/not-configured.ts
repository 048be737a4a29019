import type { TaskExecutor } from '../../application/ports.js';
import { permanentFailure } from '../../domain/execution.js';

export interface NotConfiguredExecutor extends TaskExecutor {
  close(): Promise<void>;
}

/**
 * Stands in for an executor whose settings are missing: every task of its type fails at once with
 * a message that says what to set. Permanent, because no retry can succeed before an operator
 * changes the configuration and restarts; a silent success would lose the task.
 */
export const notConfiguredExecutor = (taskType: string, hint: string): NotConfiguredExecutor => {
  const error = `${taskType} executor is not configured: ${hint}`;
  return {
    execute: async () => permanentFailure(error, { reason: 'not_configured' }),
    close: async () => undefined,
  };
};
