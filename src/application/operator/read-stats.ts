import type { OperatorStore, TaskStats } from './ports.js';

// The seed's "last 10" for its monitoring queries; a longer list belongs in psql and the views.
const LIST_LIMIT = 10;

/** The seed's monitoring set; stuck means no heartbeat for longer than WORKER_STUCK_TIMEOUT. */
export const readStats =
  (store: Pick<OperatorStore, 'stats'>) =>
  (stuckTimeoutMs: number): Promise<TaskStats> =>
    store.stats(stuckTimeoutMs, LIST_LIMIT);
