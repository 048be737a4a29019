import type { TaskId, TaskStatus, WorkerId } from '../../domain/index.js';
import type { StorageStats, StuckTaskSummary } from '../operator/ports.js';

/**
 * What the dashboard reads, shaped by its three pages: one overview, one page of the task list, one
 * task's payload. Everything else (the row, its history, verify) comes from the operator ports the
 * CLI uses, so both show the same answers.
 */

/** One minute of the last hour, as the workers counted it: what ended, what was claimed, and how late. */
export interface MinuteActivity {
  readonly minute: Date;
  readonly claimed: number;
  readonly completed: number;
  readonly failed: number;
  /** Claim time minus due time, over the claims of that minute; null when nothing was claimed. */
  readonly latenessAvgMs: number | null;
  readonly latenessMaxMs: number | null;
}

export interface FailureGroup {
  readonly taskType: string;
  /** The error, cut to a length that groups variants of one message together. */
  readonly error: string;
  readonly count: number;
  readonly lastAt: Date;
}

export interface WorkerSeen {
  readonly workerId: WorkerId;
  readonly lastSeenAt: Date;
  readonly claimed: number;
  readonly completed: number;
  readonly failed: number;
}

export interface Overview {
  readonly readAt: Date;
  readonly countsByStatus: Readonly<Record<TaskStatus, number>>;
  /**
   * Statuses whose count is an estimate (on a large table, 'completed': the table's live-row
   * statistic minus the exact counts of the others); empty when every count is exact.
   */
  readonly estimated: readonly TaskStatus[];
  readonly lastHour: readonly MinuteActivity[];
  readonly stuck: { readonly timeoutMs: number; readonly oldest: readonly StuckTaskSummary[] };
  /** Grouped over the latest `failureSample` failed tasks only: what is failing now, at a bounded cost. */
  readonly failures: readonly FailureGroup[];
  readonly failureSample: number;
  readonly workers: readonly WorkerSeen[];
}

export interface TaskListFilter {
  readonly status: TaskStatus | null;
  readonly taskType: string | null;
  /** created_at from (inclusive) and to (exclusive). */
  readonly from: Date | null;
  readonly to: Date | null;
  /** Text the error_message contains, case-insensitive. */
  readonly errorText: string | null;
}

export interface TaskListRow {
  readonly id: TaskId;
  readonly taskType: string;
  readonly status: TaskStatus;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly executeAt: Date;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly errorMessage: string | null;
}

/** Newest first; `nextBefore` is the id the next page starts below (keyset), null on the last page. */
export interface TaskListPage {
  readonly rows: readonly TaskListRow[];
  readonly nextBefore: TaskId | null;
}

export interface DashboardReader {
  overview(stuckTimeoutMs: number): Promise<Overview>;
  /** What retention keeps and its latest `passes` passes, read in one snapshot. */
  retention(passes: number): Promise<RetentionStatus>;
  listTasks(filter: TaskListFilter, before: TaskId | null, limit: number): Promise<TaskListPage>;
  /** The stored payload and created_at of one task; null when the row is gone. */
  taskPayload(id: TaskId): Promise<{ readonly payload: unknown; readonly createdAt: Date } | null>;
}

/** One retention pass, from its record (docs/storage.md). */
export interface RetentionPass {
  readonly at: Date;
  readonly workerId: string;
  readonly tasksRemoved: number;
  readonly eventsRemoved: number;
}

/** What the retention page shows: what is kept, and the latest passes. */
export interface RetentionStatus {
  readonly storage: StorageStats;
  readonly passes: readonly RetentionPass[];
}
