import type { Processing } from '../domain/index.js';
import type { ClaimedTask, StuckTask } from './ports.js';

/** The domain's view of a task this process (or the cleaner) is about to decide on. */
export const processingState = (task: ClaimedTask | StuckTask): Processing => ({
  status: 'processing',
  taskType: task.taskType,
  attempts: task.attempts,
  maxAttempts: task.maxAttempts,
  executeAt: task.executeAt,
  owner: task.owner,
  claimToken: task.claimToken,
});
