import * as E from 'fp-ts/lib/Either.js';
import {
  decide,
  replay,
  type DomainError,
  type RetryPolicy,
  type TaskCommand,
  type TaskEvent,
  type TaskState,
} from '../../src/domain/index.js';
import { given } from './domain-given.js';

const t0 = new Date('2026-11-28T12:00:00.000Z');
const at = (ms: number) => new Date(t0.getTime() + ms);
const policy: RetryPolicy = { baseDelayMs: 10_000, maxDelayMs: 3_600_000 };

const scheduled = (maxAttempts = 3, executeAt = t0): TaskEvent => ({
  type: 'scheduled',
  at: t0,
  workerId: null,
  taskType: 'http_callback',
  executeAt,
  maxAttempts,
});
const claimed = (attempt: number, token = `token-${attempt}`, workerId = 'w1'): TaskEvent => ({
  type: 'claimed',
  at: at(attempt),
  workerId,
  attempt,
  claimToken: token,
});
const retried = (attempt: number): TaskEvent => ({
  type: 'retry_scheduled',
  at: at(attempt),
  workerId: 'w1',
  attempt,
  error: 'HTTP 503',
  retryAt: at(attempt + 10),
  details: {},
});

const fail = (token: string, retryable: boolean, extra: Partial<Extract<TaskCommand, { type: 'Fail' }>> = {}): TaskCommand => ({
  type: 'Fail',
  now: at(1000),
  workerId: 'w1',
  claimToken: token,
  error: 'HTTP 503: busy',
  retryable,
  details: { http_status: 503 },
  policy,
  jitter: 0.5,
  ...extra,
});

const illegal = (command: string, status: TaskState['status']): DomainError => ({ _tag: 'IllegalTransition', command, status });

describe('task decider', () => {
  it('schedules a new task as pending with no attempts used', () => {
    const next = given([])
      .when({ type: 'Schedule', now: t0, taskType: 'email', executeAt: at(5000), maxAttempts: 3 })
      .then([{ type: 'scheduled', at: t0, workerId: null, taskType: 'email', executeAt: at(5000), maxAttempts: 3 }]);
    expect(next).toEqual({ status: 'pending', taskType: 'email', attempts: 0, maxAttempts: 3, executeAt: at(5000) });
  });

  it('refuses to schedule with max_attempts below one', () => {
    given([])
      .when({ type: 'Schedule', now: t0, taskType: 'email', executeAt: t0, maxAttempts: 0 })
      .thenRefused({ _tag: 'InvalidCommand', reason: 'max_attempts must be a positive integer' });
  });

  it('refuses to schedule a task that already exists', () => {
    given([scheduled()])
      .when({ type: 'Schedule', now: t0, taskType: 'email', executeAt: t0, maxAttempts: 3 })
      .thenRefused(illegal('schedule', 'pending'));
  });

  it('claims a due pending task for attempt 1', () => {
    const next = given([scheduled()])
      .when({ type: 'Claim', now: t0, workerId: 'w1', claimToken: 'tok' })
      .then([{ type: 'claimed', at: t0, workerId: 'w1', attempt: 1, claimToken: 'tok' }]);
    expect(next).toEqual({
      status: 'processing',
      taskType: 'http_callback',
      attempts: 0,
      maxAttempts: 3,
      executeAt: t0,
      owner: 'w1',
      claimToken: 'tok',
    });
  });

  it('does not claim a task that is not due yet', () => {
    given([scheduled(3, at(60_000))])
      .when({ type: 'Claim', now: t0, workerId: 'w1', claimToken: 'tok' })
      .thenRefused({ _tag: 'InvalidCommand', reason: 'the task is not due yet' });
  });

  it('completes the claimed attempt and counts it', () => {
    const next = given([scheduled(), claimed(1)])
      .when({ type: 'Complete', now: at(50), workerId: 'w1', claimToken: 'token-1', details: { http_status: 200 } })
      .then([{ type: 'completed', at: at(50), workerId: 'w1', attempt: 1, details: { http_status: 200 } }]);
    expect(next).toEqual({
      status: 'completed',
      taskType: 'http_callback',
      attempts: 1,
      maxAttempts: 3,
      executeAt: t0,
      completedAt: at(50),
    });
  });

  it('sends a retryable failure back to pending, later by backoff', () => {
    // attempt 1, base 10 s, jitter 0.5: between 5 and 10 s -> 7.5 s after the failure.
    const next = given([scheduled(), claimed(1)])
      .when(fail('token-1', true))
      .then([
        {
          type: 'retry_scheduled',
          at: at(1000),
          workerId: 'w1',
          attempt: 1,
          error: 'HTTP 503: busy',
          details: { http_status: 503 },
          retryAt: at(1000 + 7500),
        },
      ]);
    expect(next).toEqual({ status: 'pending', taskType: 'http_callback', attempts: 1, maxAttempts: 3, executeAt: at(1000 + 7500) });
  });

  it('honours a Retry-After longer than the backoff', () => {
    given([scheduled(), claimed(1)])
      .when(fail('token-1', true, { retryAfterMs: 120_000 }))
      .then([
        {
          type: 'retry_scheduled',
          at: at(1000),
          workerId: 'w1',
          attempt: 1,
          error: 'HTTP 503: busy',
          details: { http_status: 503 },
          retryAt: at(1000 + 120_000),
        },
      ]);
  });

  it('fails at once on a permanent failure, whatever attempts remain', () => {
    const next = given([scheduled(5), claimed(1)])
      .when(fail('token-1', false))
      .then([
        {
          type: 'failed',
          at: at(1000),
          workerId: 'w1',
          attempt: 1,
          reason: 'permanent',
          error: 'HTTP 503: busy',
          details: { http_status: 503 },
        },
      ]);
    expect(next).toEqual({
      status: 'failed',
      taskType: 'http_callback',
      attempts: 1,
      maxAttempts: 5,
      executeAt: t0,
      error: 'HTTP 503: busy',
    });
  });

  it('fails when the last attempt fails, even if retryable', () => {
    const next = given([scheduled(2), claimed(1), retried(1), claimed(2)])
      .when(fail('token-2', true))
      .then([
        {
          type: 'failed',
          at: at(1000),
          workerId: 'w1',
          attempt: 2,
          reason: 'attempts_exhausted',
          error: 'HTTP 503: busy',
          details: { http_status: 503 },
        },
      ]);
    expect(next).toEqual({
      status: 'failed',
      taskType: 'http_callback',
      attempts: 2,
      maxAttempts: 2,
      executeAt: at(11),
      error: 'HTTP 503: busy',
    });
  });

  it('fences an attempt end to the claim that started it', () => {
    const history = [scheduled(), claimed(1, 'old')];
    given(history).when(fail('stale', true)).thenRefused({ _tag: 'NotOwner', command: 'fail' });
    given(history)
      .when({ type: 'Complete', now: t0, workerId: 'w2', claimToken: 'old', details: {} })
      .thenRefused({ _tag: 'NotOwner', command: 'complete' });
  });

  it('refuses to complete a task that is not processing', () => {
    given([scheduled()])
      .when({ type: 'Complete', now: t0, workerId: 'w1', claimToken: 'x', details: {} })
      .thenRefused(illegal('complete', 'pending'));
  });

  it('recovers a stuck task to pending, consuming the attempt', () => {
    const next = given([scheduled(), claimed(1, 'tok', 'crashed')])
      .when({ type: 'RecoverStuck', now: at(400_000), workerId: 'cleaner', claimToken: 'tok', stuckFor: '5 min' })
      .then([
        {
          type: 'recovered',
          at: at(400_000),
          workerId: 'cleaner',
          attempt: 1,
          previousOwner: 'crashed',
          error: 'stuck: no heartbeat from crashed for 5 min',
        },
      ]);
    expect(next).toEqual({ status: 'pending', taskType: 'http_callback', attempts: 1, maxAttempts: 3, executeAt: at(400_000) });
  });

  it('marks a stuck task failed when that was its last attempt', () => {
    const next = given([scheduled(1), claimed(1, 'tok', 'crashed')])
      .when({ type: 'RecoverStuck', now: t0, workerId: 'cleaner', claimToken: 'tok', stuckFor: '5 min' })
      .then([
        {
          type: 'failed',
          at: t0,
          workerId: 'cleaner',
          attempt: 1,
          reason: 'stuck',
          error: 'stuck: no heartbeat from crashed for 5 min',
          details: { previousOwner: 'crashed' },
        },
      ]);
    expect(next).toMatchObject({ status: 'failed', attempts: 1 });
  });

  it('recovers only the claim it found stuck', () => {
    given([scheduled(), claimed(1, 'tok', 'crashed')])
      .when({ type: 'RecoverStuck', now: t0, workerId: 'cleaner', claimToken: 'newer', stuckFor: '5 min' })
      .thenRefused({ _tag: 'NotOwner', command: 'recover' });
  });

  it('releases at shutdown without consuming an attempt', () => {
    const next = given([scheduled(), claimed(1), retried(1), claimed(2)])
      .when({ type: 'Release', now: t0, workerId: 'w1', claimToken: 'token-2', reason: 'shutdown' })
      .then([{ type: 'released', at: t0, workerId: 'w1', attempt: 2, reason: 'shutdown' }]);
    expect(next).toEqual({ status: 'pending', taskType: 'http_callback', attempts: 1, maxAttempts: 3, executeAt: at(11) });
  });

  describe('postponing a claimed task to protect its destination', () => {
    const postpone = (token: string, until = at(5000), workerId = 'w1'): TaskCommand => ({
      type: 'Postpone',
      now: at(1000),
      workerId,
      claimToken: token,
      until,
      reason: 'circuit_open',
      destination: 'https://api.example.com',
      detail: 'circuit open until 12:00:05',
    });

    it('gives the task back, due when the wait ends, without consuming an attempt', () => {
      const history = [scheduled(), claimed(1), retried(1), claimed(2)];
      const next = given(history)
        .when(postpone('token-2'))
        .then([
          {
            type: 'postponed',
            at: at(1000),
            workerId: 'w1',
            attempt: 2,
            until: at(5000),
            reason: 'circuit_open',
            destination: 'https://api.example.com',
            detail: 'circuit open until 12:00:05',
          },
        ]);
      expect(next).toEqual({ status: 'pending', taskType: 'http_callback', attempts: 1, maxAttempts: 3, executeAt: at(5000) });
    });

    it('can postpone the same task any number of times; its attempts stay untouched', () => {
      let history: TaskEvent[] = [scheduled(1)];
      for (let round = 1; round <= 5; round += 1) {
        history = [...history, claimed(1, `token-${round}`)];
        const decision = decide(replay(history), postpone(`token-${round}`));
        history = [...history, ...(E.isRight(decision) ? decision.right : [])];
      }
      expect(replay(history)).toMatchObject({ status: 'pending', attempts: 0, maxAttempts: 1 });
      expect(history.filter((event) => event.type === 'postponed')).toHaveLength(5);
    });

    it('is fenced to the claim, and refuses a wait that ends in the past', () => {
      const history = [scheduled(), claimed(1)];
      given(history).when(postpone('token-old')).thenRefused({ _tag: 'NotOwner', command: 'postpone' });
      given(history)
        .when(postpone('token-1', at(1000), 'w2'))
        .thenRefused({ _tag: 'NotOwner', command: 'postpone' });
      given([scheduled()]).when(postpone('token-1')).thenRefused(illegal('postpone', 'pending'));
      given(history)
        .when(postpone('token-1', at(999)))
        .thenRefused({ _tag: 'InvalidCommand', reason: 'a task cannot be postponed into the past' });
    });
  });

  it('lets an operator retry a failed task with fresh attempts', () => {
    const failed: TaskEvent = { ...retried(1), type: 'failed', reason: 'permanent' } as TaskEvent;
    const next = given([scheduled(1), claimed(1), failed])
      .when({ type: 'Retry', now: at(9), maxAttempts: 4 })
      .then([{ type: 'rescheduled', at: at(9), workerId: null, executeAt: at(9), maxAttempts: 4 }]);
    expect(next).toEqual({ status: 'pending', taskType: 'http_callback', attempts: 0, maxAttempts: 4, executeAt: at(9) });
  });

  it('keeps max_attempts on an operator retry that names none', () => {
    const failed: TaskEvent = { ...retried(1), type: 'failed', reason: 'permanent' } as TaskEvent;
    given([scheduled(2), claimed(1), failed])
      .when({ type: 'Retry', now: at(9) })
      .then([{ type: 'rescheduled', at: at(9), workerId: null, executeAt: at(9), maxAttempts: 2 }]);
  });

  it('refuses an operator retry of a task that has not failed', () => {
    given([scheduled()]).when({ type: 'Retry', now: t0 }).thenRefused(illegal('retry', 'pending'));
  });

  it('cancels a pending task', () => {
    const next = given([scheduled()])
      .when({ type: 'Cancel', now: t0 })
      .then([{ type: 'cancelled', at: t0, workerId: null }]);
    expect(next).toEqual({ status: 'cancelled', taskType: 'http_callback', attempts: 0, maxAttempts: 3, executeAt: t0 });
  });

  it('refuses to cancel a task that is running', () => {
    given([scheduled(), claimed(1)])
      .when({ type: 'Cancel', now: t0 })
      .thenRefused(illegal('cancel', 'processing'));
  });

  it('ignores an event that does not fit the state when replaying (verify reports it instead)', () => {
    const tampered: TaskState = replay([scheduled(), { type: 'completed', at: t0, workerId: 'w1', attempt: 1, details: {} }]);
    expect(tampered).toEqual({ status: 'pending', taskType: 'http_callback', attempts: 0, maxAttempts: 3, executeAt: t0 });
  });
});
