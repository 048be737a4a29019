import type * as E from 'fp-ts/lib/Either.js';
import type { TaskEvent, TaskId, TaskState, TaskStatus, WorkerId } from '../../domain/index.js';

/**
 * What the operator commands need from the task store. Shaped by those commands (schedule one task,
 * change one task under a fence, read one history, page through all of them, count), not as CRUD.
 */

/** When a new task is due: a point in time, or a delay measured on the database's clock. */
export type DueTime =
  { readonly _tag: 'Now' } | { readonly _tag: 'At'; readonly at: Date } | { readonly _tag: 'After'; readonly delayMs: number };

export interface NewTask {
  readonly taskType: string;
  /** The payload exactly as given (JSON text), so numbers keep their precision in jsonb. */
  readonly payloadJson: string;
  readonly due: DueTime;
  readonly maxAttempts: number;
  /** Idempotency key: at most one existing task has it. */
  readonly key?: string;
  /** The producer's W3C traceparent, checked by the caller: the attempt's span continues it. */
  readonly traceparent?: string;
}

/** `created` is false when the key already named a task: that task's id, and nothing written. */
export interface ScheduledTask {
  readonly id: TaskId;
  readonly created: boolean;
}

/** The key already names a task that differs from the request in `differs` (task_type, payload, ...). */
export interface KeyConflict {
  readonly _tag: 'KeyConflict';
  readonly key: string;
  readonly existingId: TaskId;
  readonly differs: readonly string[];
}

/** A scheduled_tasks row, as much of it as the operator commands look at. */
export interface TaskRecord {
  readonly id: TaskId;
  readonly taskType: string;
  readonly status: TaskStatus;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly executeAt: Date;
  readonly completedAt: Date | null;
  readonly updatedAt: Date;
  readonly errorMessage: string | null;
  readonly owner: WorkerId | null;
  readonly claimToken: string | null;
  /** seq of the task's last event, as the row remembers it. */
  readonly eventSeq: number;
  /** SHA-256 (hex) of the payload's jsonb text, as it is now. */
  readonly payloadSha256: string;
  readonly taskUuid: string | null;
}

/** A row read for a change, with the database's time of the read (the time of the command). */
export interface TaskSnapshot {
  readonly task: TaskRecord;
  readonly now: Date;
}

/**
 * An operator's change to one task: its events and the state they lead to, written only while the
 * row is still as it was read (same status, same last event). `clearError` empties error_message,
 * which a retried task no longer deserves (its history keeps every error).
 */
export interface OperatorChange {
  readonly id: TaskId;
  readonly expected: { readonly status: TaskStatus; readonly eventSeq: number };
  readonly events: readonly TaskEvent[];
  readonly next: TaskState;
  readonly clearError: boolean;
}

/** `conflict`: the row changed between the read and the write (a worker claimed it...); nothing written. */
export type ChangeResult = 'applied' | 'conflict';

/** One task_events row: the domain event, or the raw row and why it does not decode. */
export type RecordedEvent =
  | { readonly _tag: 'Decoded'; readonly seq: number; readonly event: TaskEvent }
  | {
      readonly _tag: 'Undecodable';
      readonly seq: number;
      readonly eventType: string;
      readonly workerId: string | null;
      readonly occurredAt: Date | null;
      readonly data: unknown;
      readonly error: string;
    };

/**
 * A task id with its row and its whole history, for verify. `task` is null for a history whose row
 * is gone; `removedByRetention` says whether retention recorded removing it (always false while the
 * schema has no retention record, or the row is there).
 */
export interface TaskWithHistory {
  readonly id: TaskId;
  readonly task: TaskRecord | null;
  readonly history: readonly RecordedEvent[];
  readonly removedByRetention: boolean;
}

export interface StuckTaskSummary {
  readonly id: TaskId;
  readonly taskType: string;
  readonly owner: WorkerId | null;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly heartbeatAt: Date | null;
  readonly silentForSeconds: number;
}

export interface LastAttemptTask {
  readonly id: TaskId;
  readonly taskType: string;
  readonly status: TaskStatus;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly errorMessage: string | null;
  readonly updatedAt: Date;
}

/** The seed's monitoring set, read in one consistent snapshot. */
/** Finished histories for `export`: each task as one JSON object with its events, by id. */
export interface FinishedHistories {
  /** Up to `limit` tasks finished (completed, cancelled, failed) before `before`, with id above `afterId`. */
  page(before: Date, afterId: TaskId | null, limit: number): Promise<readonly { readonly id: TaskId; readonly json: string }[]>;
}

/** What retention kept and removed (docs/storage.md). */
export interface StorageStats {
  /** The lowest task id still kept, and when its history begins; null when no task is kept. */
  readonly oldestTask: { readonly id: TaskId; readonly historySince: Date | null } | null;
  /** Partitions of task_events in use. */
  readonly partitions: number;
  /** Everything retention has removed so far, from its record. */
  readonly removed: { readonly tasks: number; readonly events: number };
  readonly lastPass: { readonly at: Date; readonly workerId: string } | null;
}

export interface TaskStats {
  readonly countsByStatus: Readonly<Record<TaskStatus, number>>;
  readonly total: number;
  readonly stuck: { readonly count: number; readonly timeoutMs: number; readonly oldest: readonly StuckTaskSummary[] };
  readonly success: { readonly completed: number; readonly failed: number; readonly ratePercent: number | null };
  readonly completionTimes: readonly { readonly taskType: string; readonly completed: number; readonly avgSeconds: number }[];
  /** Pending tasks, by type, that no worker seen within the stuck timeout serves (they wait for one). */
  readonly nobodyServes: readonly { readonly taskType: string; readonly pending: number }[];
  readonly lastAttempt: { readonly count: number; readonly latest: readonly LastAttemptTask[] };
  readonly storage: StorageStats;
  /** Destinations whose circuit is open or half-open (probing), all workers together. */
  readonly openCircuits: readonly CircuitSummary[];
}

/** One destination's circuit, as `stats` and `circuits` show it. */
export interface CircuitSummary {
  readonly destination: string;
  readonly status: 'closed' | 'open' | 'half_open';
  /** Consecutive retryable failures counted while closed. */
  readonly failures: number;
  readonly openUntil: Date | null;
  readonly updatedAt: Date;
  /** Why it last opened, if it ever did. */
  readonly lastCause: string | null;
}

/** One recorded transition of a circuit. */
export interface CircuitTransitionRecord {
  readonly destination: string;
  readonly transition: 'opened' | 'probing' | 'closed';
  readonly cause: string;
  readonly openUntil: Date | null;
  readonly workerId: string | null;
  readonly occurredAt: Date;
}

/** `not_open`: there was nothing to close (no such circuit, or it is closed already). */
export type CloseCircuitResult = 'closed' | 'not_open';

export interface OperatorStore {
  /**
   * Inserts the tasks in one statement (the table's trigger records each one's 'scheduled' event and
   * wakes the workers), one result per task in order; a task whose key exists is not inserted again.
   * A key conflict writes nothing at all.
   */
  insertTasks(tasks: readonly NewTask[]): Promise<E.Either<KeyConflict, readonly ScheduledTask[]>>;
  /** The id of the task that has this idempotency key, if one exists. */
  findTaskIdByKey(key: string): Promise<TaskId | null>;
  findTask(id: TaskId): Promise<TaskSnapshot | null>;
  /** Writes the change and its events in one transaction, fenced as OperatorChange says. */
  applyChange(change: OperatorChange): Promise<ChangeResult>;
  /** The task's events in seq order (empty for an unknown id). */
  taskHistory(id: TaskId): Promise<readonly RecordedEvent[]>;
  /**
   * Up to `limit` tasks with id greater than `afterId` (from the first when null), in id order, each
   * with its history, read in one statement so a row and its events come from the same snapshot.
   */
  tasksWithHistory(afterId: TaskId | null, limit: number): Promise<readonly TaskWithHistory[]>;
  /** One task and its history, in one statement; null for an unknown id. */
  taskWithHistory(id: TaskId): Promise<TaskWithHistory | null>;
  countTasks(): Promise<number>;
  /** `stuckTimeoutMs`: WORKER_STUCK_TIMEOUT; `listLimit`: how many stuck / last-attempt tasks to list. */
  stats(stuckTimeoutMs: number, listLimit: number): Promise<TaskStats>;
  /** Every circuit that is not plainly closed, and the latest `limit` transitions (of one destination, if given). */
  circuits(
    destination: string | null,
    limit: number,
  ): Promise<{
    readonly circuits: readonly CircuitSummary[];
    readonly transitions: readonly CircuitTransitionRecord[];
  }>;
  /** Closes a circuit by hand, recording the transition with `by` (who did it) as its cause. */
  closeCircuit(destination: string, by: string): Promise<CloseCircuitResult>;
}

/** A migration, described for people ("0002_partitioned_history"), and when it was applied. */
export interface AppliedSchemaMigration {
  readonly migration: string;
  readonly appliedAt: Date;
}

/** What `migrate` did: the migrations it applied now, and those it found applied already. */
export interface SchemaReport {
  readonly applied: readonly string[];
  readonly alreadyApplied: readonly AppliedSchemaMigration[];
}

/** Where the database stands: applied, pending, and why this code must not run against it (or null). */
export interface SchemaStatus {
  readonly applied: readonly AppliedSchemaMigration[];
  readonly pending: readonly string[];
  readonly problem: string | null;
}

export interface SchemaMigrator {
  /** Applies what is pending; rejects with a one-line message when the database must not be migrated. */
  migrate(): Promise<SchemaReport>;
  status(): Promise<SchemaStatus>;
  /** The pending migrations as a psql script (what `migrate` would run). */
  script(): Promise<string>;
}
