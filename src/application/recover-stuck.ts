import * as E from 'fp-ts/lib/Either.js';
import { decide, describeDomainError, errorMessage, replay } from '../domain/index.js';
import { processingState } from './claimed-state.js';
import type { AttemptEndResult, Clock, Logger, TaskQueue, WorkerMetrics } from './ports.js';

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
      const state = processingState(task);
      const decision = decide(state, { type: 'RecoverStuck', now, workerId: deps.workerId, claimToken: task.claimToken, stuckFor });
      if (E.isLeft(decision)) {
        deps.logger.error(`[Cleaner] Task ${task.id}: ${describeDomainError(decision.left)}`, { taskId: task.id });
        report.skipped += 1;
        continue;
      }
      const next = replay(decision.right, state);
      const error = decision.right[0] !== undefined && 'error' in decision.right[0] ? decision.right[0].error : null;
      let result: AttemptEndResult;
      try {
        result = await deps.queue.endAttempt({
          claim: task,
          events: decision.right,
          next,
          errorMessage: error,
          onlyIfSilentForMs: deps.stuckTimeoutMs,
        });
        failedWritesInARow = 0;
      } catch (cause) {
        // One task the store will not take must not hold up the stuck tasks behind it (the next
        // sweep would start from the same row); several in a row mean the store itself is failing.
        failedWritesInARow += 1;
        if (failedWritesInARow >= MAX_FAILED_WRITES_IN_A_ROW) throw cause;
        deps.logger.error(`[Cleaner] Task ${task.id}: could not record its recovery: ${errorMessage(cause)}`, { taskId: task.id });
        report.skipped += 1;
        continue;
      }
      if (result === 'fenced') {
        report.skipped += 1;
        continue;
      }
      changed += 1;
      const fields = { taskId: task.id, taskType: task.taskType, previousOwner: task.owner, attempts: next.status === 'absent' ? 0 : next.attempts };
      if (next.status === 'failed') {
        report.failed += 1;
        deps.metrics.recovered(task.taskType, 'failed');
        deps.logger.warn(`[Cleaner] Marked task ${task.id} as failed: attempts exhausted (${task.maxAttempts}), ${error}`, fields);
      } else {
        report.requeued += 1;
        deps.metrics.recovered(task.taskType, 'requeued');
        deps.logger.warn(`[Cleaner] Restored stuck task ${task.id} to pending (owner ${task.owner}, attempt ${task.attempts + 1} consumed)`, fields);
      }
    }
    // A short page is the last one; a page where every write was fenced would otherwise loop forever.
    if (stuck.length < PAGE_SIZE || changed === 0) return report;
  }
};

const describeDuration = (ms: number): string =>
  ms % 60_000 === 0 ? `${ms / 60_000} min` : ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
