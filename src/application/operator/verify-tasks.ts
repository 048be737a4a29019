import * as E from 'fp-ts/lib/Either.js';
import type { TaskId } from '../../domain/index.js';
import { compareRowless, compareWithHistory } from './compare-history.js';
import type { OperatorStore, TaskWithHistory } from './ports.js';

export interface Mismatch {
  readonly id: TaskId;
  readonly problems: readonly string[];
}

export interface VerifyOptions {
  /** Only this task; every task when absent. */
  readonly taskId?: TaskId;
  readonly pageSize: number;
  /** Called as each mismatch is found, so nothing accumulates however many there are. */
  readonly onMismatch: (mismatch: Mismatch) => void;
  /** After each page: tasks checked so far, and the table's size when the run started. */
  readonly onProgress?: (checked: number, total: number) => void;
}

export interface VerifySummary {
  readonly checked: number;
  readonly mismatched: number;
}

type Store = Pick<OperatorStore, 'tasksWithHistory' | 'taskWithHistory' | 'countTasks'>;

/**
 * Replays every task's history and compares it with its row. Pages through the table by id
 * (keyset: each page starts after the last id seen, so a page costs the same at the end of a
 * million rows as at the start, and memory holds one page), reporting mismatches as it goes.
 */
export const verifyTasks =
  (store: Store) =>
  async (options: VerifyOptions): Promise<E.Either<{ readonly _tag: 'TaskNotFound'; readonly id: TaskId }, VerifySummary>> => {
    if (options.taskId !== undefined) {
      const one = await store.taskWithHistory(options.taskId);
      if (one === null) return E.left({ _tag: 'TaskNotFound', id: options.taskId });
      return E.right({ checked: 1, mismatched: check(one, options) ? 0 : 1 });
    }
    const total = await store.countTasks();
    let checked = 0;
    let mismatched = 0;
    let afterId: TaskId | null = null;
    for (;;) {
      const page: readonly TaskWithHistory[] = await store.tasksWithHistory(afterId, options.pageSize);
      for (const entry of page) if (!check(entry, options)) mismatched += 1;
      checked += page.length;
      const last = page[page.length - 1];
      if (last === undefined) break;
      afterId = last.id;
      options.onProgress?.(checked, total);
      if (page.length < options.pageSize) break;
    }
    return E.right({ checked, mismatched });
  };

const check = (entry: TaskWithHistory, options: VerifyOptions): boolean => {
  const problems = entry.task === null ? compareRowless(entry) : compareWithHistory(entry.task, entry.history);
  if (problems.length > 0) options.onMismatch({ id: entry.id, problems });
  return problems.length === 0;
};
