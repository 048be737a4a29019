import type { TaskEvent } from './events.js';
import { isClaimRefusal } from './refuse-claim.js';
import { assertNever, type TaskState } from './task.js';

/**
 * Folds one event into the state. Total: an event that does not fit the state (which `decide` never
 * produces, but a tampered history might contain) leaves the state as it is, and `verify` then
 * reports the disagreement with the table instead of crashing.
 */
export const evolve = (state: TaskState, event: TaskEvent): TaskState => {
  switch (event.type) {
    case 'scheduled':
      return state.status === 'absent'
        ? {
            status: 'pending',
            taskType: event.taskType,
            attempts: 0,
            maxAttempts: event.maxAttempts,
            executeAt: event.executeAt,
          }
        : state;
    case 'claimed':
      return state.status === 'pending'
        ? {
            status: 'processing',
            taskType: state.taskType,
            attempts: state.attempts,
            maxAttempts: state.maxAttempts,
            executeAt: state.executeAt,
            owner: event.workerId ?? 'unknown',
            claimToken: event.claimToken,
          }
        : state;
    case 'completed':
      return state.status === 'processing'
        ? { ...counters(state), attempts: state.attempts + 1, status: 'completed', completedAt: event.at }
        : state;
    case 'retry_scheduled':
      return state.status === 'processing'
        ? { ...counters(state), attempts: state.attempts + 1, status: 'pending', executeAt: event.retryAt }
        : state;
    case 'failed':
      // From processing an attempt ended and counts; from pending the claim refused the task
      // (decide's RefuseClaim) and no attempt ran; no other 'failed' fits a pending task.
      if (state.status === 'processing') return { ...counters(state), attempts: state.attempts + 1, status: 'failed', error: event.error };
      return state.status === 'pending' && isClaimRefusal(event) ? { ...counters(state), status: 'failed', error: event.error } : state;
    case 'recovered':
      return state.status === 'processing'
        ? { ...counters(state), attempts: state.attempts + 1, status: 'pending', executeAt: event.at }
        : state;
    case 'released':
      return state.status === 'processing' ? { ...counters(state), status: 'pending', executeAt: state.executeAt } : state;
    case 'postponed':
      return state.status === 'processing' ? { ...counters(state), status: 'pending', executeAt: event.until } : state;
    case 'rescheduled':
      return state.status === 'failed'
        ? {
            status: 'pending',
            taskType: state.taskType,
            attempts: 0,
            maxAttempts: event.maxAttempts,
            executeAt: event.executeAt,
          }
        : state;
    case 'cancelled':
      return state.status === 'pending' ? { ...counters(state), status: 'cancelled' } : state;
    default:
      return assertNever(event);
  }
};

const counters = (state: Exclude<TaskState, { status: 'absent' }>) => ({
  taskType: state.taskType,
  attempts: state.attempts,
  maxAttempts: state.maxAttempts,
  executeAt: state.executeAt,
});

/** Replays a history from the initial state. */
export const replay = (events: readonly TaskEvent[], from: TaskState = { status: 'absent' }): TaskState => events.reduce(evolve, from);
