import type { ClaimToken, WorkerId } from './task.js';

/**
 * Every transition of a task, as recorded in `task_events`. `at` is the time of the transition;
 * `workerId` is who made it (null for the scheduler, an operator or the database trigger).
 * `details` carries what an operator wants when reading history: HTTP status, duration, ...
 */
export type Details = Readonly<Record<string, unknown>>;

interface EventBase {
  readonly at: Date;
  readonly workerId: WorkerId | null;
}

export interface ScheduledEvent extends EventBase {
  readonly type: 'scheduled';
  readonly taskType: string;
  readonly executeAt: Date;
  readonly maxAttempts: number;
  /** SHA-256 (hex) of the payload's jsonb text; absent from events written before it was recorded. */
  readonly payloadSha256?: string;
  /** The task's task_uuid; absent from events written before it existed. */
  readonly taskUuid?: string | null;
  /** The idempotency key it was scheduled with, if any. */
  readonly key?: string;
}
export interface ClaimedEvent extends EventBase {
  readonly type: 'claimed';
  readonly attempt: number;
  readonly claimToken: ClaimToken;
}
export interface CompletedEvent extends EventBase {
  readonly type: 'completed';
  readonly attempt: number;
  readonly details: Details;
}
export interface RetryScheduledEvent extends EventBase {
  readonly type: 'retry_scheduled';
  readonly attempt: number;
  readonly error: string;
  readonly retryAt: Date;
  readonly details: Details;
}
export type FailureReason = 'permanent' | 'attempts_exhausted' | 'stuck';
export interface FailedEvent extends EventBase {
  readonly type: 'failed';
  readonly attempt: number;
  readonly reason: FailureReason;
  readonly error: string;
  readonly details: Details;
}
/** A stuck task (its owner stopped heart-beating) goes back to pending; the attempt is consumed. */
export interface RecoveredEvent extends EventBase {
  readonly type: 'recovered';
  readonly attempt: number;
  readonly previousOwner: WorkerId;
  readonly error: string;
}
/** Given back at shutdown before it finished: the attempt is not consumed. */
export interface ReleasedEvent extends EventBase {
  readonly type: 'released';
  readonly attempt: number;
  readonly reason: string;
}
/**
 * Why a claimed task was given back unrun: its destination already holds this worker's share of slots
 * (fair_share), its circuit is open or being probed (circuit_open), or it is over its in-flight or
 * starts-per-second limit (destination_limit).
 */
export type PostponeReason = 'fair_share' | 'circuit_open' | 'destination_limit';
export const POSTPONE_REASONS: readonly PostponeReason[] = ['fair_share', 'circuit_open', 'destination_limit'];
/** Given back unrun, to protect its destination or the worker's other tasks: the attempt is not consumed. */
export interface PostponedEvent extends EventBase {
  readonly type: 'postponed';
  readonly attempt: number;
  readonly until: Date;
  readonly reason: PostponeReason;
  readonly destination: string;
  readonly detail: string;
}
/** An operator sent a failed task back to pending with a fresh set of attempts. */
export interface RescheduledEvent extends EventBase {
  readonly type: 'rescheduled';
  readonly executeAt: Date;
  readonly maxAttempts: number;
}
export interface CancelledEvent extends EventBase {
  readonly type: 'cancelled';
}

export type TaskEvent =
  | ScheduledEvent
  | ClaimedEvent
  | CompletedEvent
  | RetryScheduledEvent
  | FailedEvent
  | RecoveredEvent
  | ReleasedEvent
  | PostponedEvent
  | RescheduledEvent
  | CancelledEvent;

export type TaskEventType = TaskEvent['type'];

export const TASK_EVENT_TYPES: readonly TaskEventType[] = [
  'scheduled',
  'claimed',
  'completed',
  'retry_scheduled',
  'failed',
  'recovered',
  'released',
  'postponed',
  'rescheduled',
  'cancelled',
];
