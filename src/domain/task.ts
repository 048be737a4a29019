/**
 * The state of one scheduled task, as a discriminated union on `status`.
 *
 * `attempts` counts attempts that have *ended* (completed, failed, or found stuck). A claim does not
 * consume one; the running attempt is number `attempts + 1`. Releasing a claim at shutdown leaves it
 * unchanged, which is how "released without consuming an attempt" is expressed.
 */
export const TASK_STATUSES = ['pending', 'processing', 'completed', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export type TaskId = string;
export type WorkerId = string;
export type ClaimToken = string;

interface Counters {
  readonly taskType: string;
  readonly attempts: number;
  readonly maxAttempts: number;
  /** When it was (or is) due: kept after it ends, so `verify` can check a finished row's too. */
  readonly executeAt: Date;
}

export interface Absent {
  readonly status: 'absent';
}
export interface Pending extends Counters {
  readonly status: 'pending';
}
export interface Processing extends Counters {
  readonly status: 'processing';
  readonly owner: WorkerId;
  readonly claimToken: ClaimToken;
}
export interface Completed extends Counters {
  readonly status: 'completed';
  readonly completedAt: Date;
}
export interface Failed extends Counters {
  readonly status: 'failed';
  readonly error: string;
}
export interface Cancelled extends Counters {
  readonly status: 'cancelled';
}

export type TaskState = Absent | Pending | Processing | Completed | Failed | Cancelled;

export const initialState = (): TaskState => ({ status: 'absent' });

/** The attempt a claim of this task would run, 1-based. */
export const nextAttempt = (state: Counters): number => state.attempts + 1;

export const assertNever = (value: never): never => {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
};
