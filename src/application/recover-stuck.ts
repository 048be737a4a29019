import * as E from 'fp-ts/lib/Either.js';
import { describeDomainError, type TaskEvent } from '../domain/index.js';
import { errorMessage } from '../shared/error-message.js';
import { processingState } from './claimed-state.js';
import { decideAndRecord } from './decide-and-record.js';
import type { Clock, Logger, TaskQueue, WorkerMetrics } from './ports.js';

export interface RecoverStuckDeps {
  readonly workerId: string;
  readonly queue: TaskQueue;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: WorkerMetrics;
  readonly stuckTimeoutMs: number;
}

export interface RecoveryReport {
  readonly requeued: number;
  readonly failed: number;
  readonly skipped: number;
}

// Pages keep one sweep's memory and statement size bounded however many tasks a crash left behind.
const PAGE_SIZE = 100;
// A failed write skips its task; this many in a row end the sweep with the error.
const MAX_FAILED_WRITES_IN_A_ROW = 3;

/**
 * Tasks whose owner stopped heart-beating for longer than the stuck timeout go back to pending with
 * an attempt consumed, or to failed when that was their last attempt. Each write is fenced to the
 * claim *and* to the heartbeat still being stale, so an owner that proves it is alive in the
 * meantime keeps its task.
 */
export const recoverStuck = (deps: RecoverStuckDeps) => async (): Promise<RecoveryReport> => {
  const report = { requeued: 0, failed: 0, skipped: 0 };
  let failedWritesInARow = 0;
  const stuckFor = describeDuration(deps.stuckTimeoutMs);
  for (;;) {
    const now = deps.clock.now();
    const stuck = await deps.queue.findStuckTasks(deps.stuckTimeoutMs, PAGE_SIZE);
    let changed = 0;
    for (const task of stuck) {
      const command = { type: 'RecoverStuck', now, workerId: deps.workerId, claimToken: task.claimToken, stuckFor } as const;
      let ended;
      try {
        ended = await decideAndRecord(processingState(task), command, ({ events, next }) =>
          deps.queue.endAttempt({ claim: task, events, next, errorMessage: errorOf(events), onlyIfSilentForMs: deps.stuckTimeoutMs }),
        );
      } catch (cause) {
        // One task the store will not take must not hold up the stuck tasks behind it (the next
        // sweep would start from the same row); several in a row mean the store itself is failing.
        failedWritesInARow += 1;
        if (failedWritesInARow >= MAX_FAILED_WRITES_IN_A_ROW) throw cause;
        deps.logger.error(`[Cleaner] Task ${task.id}: could not record its recovery: ${errorMessage(cause)}`, { taskId: task.id });
        report.skipped += 1;
        continue;
      }
      if (E.isLeft(ended)) {
        deps.logger.error(`[Cleaner] Task ${task.id}: ${describeDomainError(ended.left)}`, { taskId: task.id });
        report.skipped += 1;
        continue;
      }
      failedWritesInARow = 0;
      const {
        decision: { events, next },
        recorded: result,
      } = ended.right;
      const error = errorOf(events);
      if (result === 'fenced') {
        report.skipped += 1;
        continue;
      }
      changed += 1;
      const fields = {
        taskId: task.id,
        taskType: task.taskType,
        previousOwner: task.owner,
        attempts: next.status === 'absent' ? 0 : next.attempts,
      };
      if (next.status === 'failed') {
        report.failed += 1;
        deps.metrics.recovered(task.taskType, 'failed');
        deps.logger.warn(`[Cleaner] Marked task ${task.id} as failed: attempts exhausted (${task.maxAttempts}), ${error}`, fields);
      } else {
        report.requeued += 1;
        deps.metrics.recovered(task.taskType, 'requeued');
        deps.logger.warn(
          `[Cleaner] Restored stuck task ${task.id} to pending (owner ${task.owner}, attempt ${task.attempts + 1} consumed)`,
          fields,
        );
      }
    }
    // A short page is the last one; a page where every write was fenced would otherwise loop forever.
    if (stuck.length < PAGE_SIZE || changed === 0) return report;
  }
};

/** The recovery's reason, as its event says it. */
const errorOf = (events: readonly TaskEvent[]): string | null => {
  const first = events[0];
  return first !== undefined && 'error' in first ? first.error : null;
};

const describeDuration = (ms: number): string =>
  ms % 60_000 === 0 ? `${ms / 60_000} min` : ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
