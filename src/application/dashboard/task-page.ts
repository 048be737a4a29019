import type { TaskId } from '../../domain/index.js';
import { compareRowless, compareWithHistory } from '../operator/compare-history.js';
import type { OperatorStore, RecordedEvent, TaskRecord } from '../operator/ports.js';
import { maskPayload } from './mask-payload.js';
import type { DashboardReader } from './ports.js';

export interface TaskPage {
  /** null when the row is gone (archived or deleted) but its history remains. */
  readonly task: TaskRecord | null;
  /** Masked (mask-payload.ts); null with the row. */
  readonly payload: unknown;
  readonly createdAt: Date | null;
  readonly history: readonly RecordedEvent[];
  /** What `at-worker verify <id>` says: the ways the row disagrees with its history, empty when none. */
  readonly verify: readonly string[];
}

/**
 * One task as the dashboard shows it: the row and its history from the same snapshot (the one
 * `verify` reads), the check verify makes, and the payload with its credentials masked. Null when
 * neither the row nor any event exists.
 */
export const readTaskPage =
  (store: Pick<OperatorStore, 'taskWithHistory'>, reader: Pick<DashboardReader, 'taskPayload'>) =>
  async (id: TaskId): Promise<TaskPage | null> => {
    const [withHistory, stored] = await Promise.all([store.taskWithHistory(id), reader.taskPayload(id)]);
    if (withHistory === null) return null;
    if (withHistory.task === null) {
      return { task: null, payload: null, createdAt: null, history: withHistory.history, verify: compareRowless(withHistory) };
    }
    return {
      task: withHistory.task,
      payload: stored === null ? null : maskPayload(stored.payload),
      createdAt: stored?.createdAt ?? null,
      history: withHistory.history,
      verify: compareWithHistory(withHistory.task, withHistory.history),
    };
  };
